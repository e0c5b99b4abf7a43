"""One in-memory broker shared by worker processes, over a Unix socket, with rawsock.

``python -m examples.chat --workers N`` without ``--redis`` runs the broker in the
parent process (:func:`serve_broker`, a :class:`MemoryBroker` behind a WebSocket server
on a Unix socket) and each worker talks to it with :class:`SocketBroker`. Messages are
JSON text::

    worker -> broker  {"id": 7, "op": "publish", "room": "lobby", "event": {...}}
    broker -> worker  {"id": 7, "result": null}
    broker -> worker  {"room": "lobby", "event": {...}}        every event, to every worker

``op`` is a :class:`Broker` method (``publish``, ``history``, ``add_member``,
``remove_member``, ``members``, ``rooms``). Replies and events to one worker leave through
one ordered outbox. A worker that cannot keep up (64 MiB behind) is disconnected, and a
worker that loses the broker exits.
"""

from __future__ import annotations

import json
import os
from functools import partial
from itertools import count
from typing import Any

import trio

import rawsock

from .broker import Deliver, Event, MemoryBroker
from .protocol import encode

__all__ = ["SocketBroker", "serve_broker"]

_LIMITS: dict[str, Any] = {
    "compression": None,
    "max_message_size": 64 * 1024 * 1024,
    "receive_buffer": 4 * 1024 * 1024,
}
_OPERATIONS = {"publish", "history", "add_member", "remove_member", "members", "rooms"}


async def serve_broker(
    path: str | os.PathLike[str],
    history_size: int,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve a :class:`MemoryBroker` to the workers on the Unix socket ``path``."""
    broker = MemoryBroker(history_size)
    async with trio.open_nursery() as nursery:
        workers = rawsock.Broadcaster(nursery, max_queue=_LIMITS["max_message_size"])

        def deliver(room: str, event: Event) -> None:
            workers.send(encode({"room": room, "event": event}))

        async def worker(ws: rawsock.WebSocket) -> None:
            workers.add(ws)
            async for message in ws:
                request = json.loads(message)
                operation = request.pop("op")
                call_id = request.pop("id")
                if operation not in _OPERATIONS:
                    raise ValueError(f"unknown broker operation {operation!r}")
                result = await getattr(broker, operation)(**request)
                workers.send(encode({"id": call_id, "result": result}), to=[ws])

        await nursery.start(broker.run, deliver)
        await nursery.start(partial(rawsock.serve_unix, worker, path, **_LIMITS))
        task_status.started()


class SocketBroker:
    """A worker's view of the broker served by :func:`serve_broker` at ``path``."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._ids = count()
        self._replies: dict[int, tuple[trio.Event, list[Any]]] = {}
        self._ws: rawsock.WebSocket | None = None

    async def run(
        self, deliver: Deliver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, then deliver events until cancelled.

        Raises:
            ConnectionError: the broker went away (the worker cannot go on without it).
        """
        url = "ws://broker/"
        async with rawsock.connect(url, unix_socket_path=self._path, **_LIMITS) as ws:
            self._ws = ws
            task_status.started()
            async for message in ws:
                data = json.loads(message)
                if "event" in data:
                    deliver(data["room"], data["event"])
                else:
                    done, result = self._replies.pop(data["id"])
                    result.append(data["result"])
                    done.set()
        raise ConnectionError("the broker closed the connection")

    async def _call(self, operation: str, **arguments: Any) -> Any:
        if self._ws is None:
            raise RuntimeError("SocketBroker.run has not started")
        call_id = next(self._ids)
        done, result = self._replies[call_id] = (trio.Event(), [])
        try:
            await self._ws.send(encode({"id": call_id, "op": operation, **arguments}))
            await done.wait()
        finally:
            self._replies.pop(call_id, None)
        return result[0]

    async def publish(self, room: str, event: Event) -> None:
        await self._call("publish", room=room, event=event)

    async def history(self, room: str) -> list[Event]:
        events: list[Event] = await self._call("history", room=room)
        return events

    async def add_member(self, room: str, nick: str) -> None:
        await self._call("add_member", room=room, nick=nick)

    async def remove_member(self, room: str, nick: str) -> None:
        await self._call("remove_member", room=room, nick=nick)

    async def members(self, room: str) -> list[str]:
        members: list[str] = await self._call("members", room=room)
        return members

    async def rooms(self) -> dict[str, int]:
        rooms: dict[str, int] = await self._call("rooms")
        return rooms
