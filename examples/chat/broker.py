"""Brokers: where room events, history and membership live.

A broker numbers each room's events (``seq``), keeps the last ``history_size`` of them,
tracks who is in which room, and delivers every published event to every process that
runs :meth:`Broker.run`, the publisher included. :class:`MemoryBroker` does this inside
one process; ``RedisBroker`` (``redis_broker.py``) does it for any number of processes
and machines through Redis.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable
from typing import Any, Protocol

import trio

__all__ = ["Broker", "Deliver", "Event", "MemoryBroker"]

Event = dict[str, Any]
#: Called with (room, event) for every event published to any room.
Deliver = Callable[[str, Event], None]


class Broker(Protocol):
    """What the chat needs from a broker. Events get a ``seq`` field when published."""

    async def run(
        self, deliver: Deliver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver events until cancelled (use with ``nursery.start``)."""
        ...

    async def publish(self, room: str, event: Event) -> None:
        """Number ``event``, add it to the room's history, and deliver it everywhere."""
        ...

    async def history(self, room: str) -> list[Event]:
        """The room's last events, oldest first."""
        ...

    async def add_member(self, room: str, nick: str) -> None: ...

    async def remove_member(self, room: str, nick: str) -> None: ...

    async def members(self, room: str) -> list[str]:
        """The nicknames in ``room``, sorted."""
        ...

    async def rooms(self) -> dict[str, int]:
        """Every room with members, and how many."""
        ...


class MemoryBroker:
    """A broker inside one process: nothing to install, nothing shared.

    History is kept for the ``max_rooms`` rooms used most recently, so that clients
    inventing room names cannot grow it without bound.
    """

    def __init__(self, history_size: int, max_rooms: int = 1000) -> None:
        self._history_size = history_size
        self._max_rooms = max_rooms
        self._history: OrderedDict[str, deque[Event]] = OrderedDict()
        self._seq: Counter[str] = Counter()
        self._members: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._deliver: Deliver | None = None

    async def run(
        self, deliver: Deliver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._deliver = deliver
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            self._deliver = None

    async def publish(self, room: str, event: Event) -> None:
        await trio.lowlevel.checkpoint()
        self._seq[room] += 1
        event = {**event, "seq": self._seq[room]}
        history = self._history.pop(room, None)
        if history is None:
            history = deque(maxlen=self._history_size)
            if len(self._history) >= self._max_rooms:
                evicted, _ = self._history.popitem(last=False)
                del self._seq[evicted]
        history.append(event)
        self._history[room] = history  # now the most recently used
        if self._deliver is not None:
            self._deliver(room, event)

    async def history(self, room: str) -> list[Event]:
        await trio.lowlevel.checkpoint()
        return list(self._history.get(room, ()))

    async def add_member(self, room: str, nick: str) -> None:
        await trio.lowlevel.checkpoint()
        self._members[room][nick] += 1

    async def remove_member(self, room: str, nick: str) -> None:
        await trio.lowlevel.checkpoint()
        members = self._members[room]
        members[nick] -= 1
        if members[nick] <= 0:
            del members[nick]
        if not members:
            del self._members[room]

    async def members(self, room: str) -> list[str]:
        await trio.lowlevel.checkpoint()
        return sorted(self._members.get(room, ()))

    async def rooms(self) -> dict[str, int]:
        await trio.lowlevel.checkpoint()
        return {room: len(members) for room, members in sorted(self._members.items())}
