"""Timers and background tasks for many connections, owned by one nursery.

Theory of operation
-------------------
An idle connection should cost memory, not tasks: a parked Trio task with its frames is
about 3 KiB, more than half of what a raw Trio TCP connection costs. So a connection has
no background task while it is idle with a task in ``receive()`` (that task answers
pings and notices the close), and its two timers (the keepalive's next ping, and "no
task has called ``receive()`` for a while, someone must read") live in one heap shared by
every connection of a server: a :class:`LivenessClock`. One task per clock sleeps until
the earliest timer, hands each expired one to its connection's reader (a synchronous
call), and ends when the heap is empty; the next timer starts it again.

Connections that need a background task for a while (no receiver, a keepalive round)
get it from the clock's :meth:`~LivenessClock.spawn`: a task in the owner's nursery
(``serve``'s connection nursery, ``connect``'s own), or a system task when the
connection has no owner (``accept`` on a bare stream). Every background task is guarded:
an exception in it is a bug, which is logged and fails only that connection (1011),
never the nursery or the run.

A closed connection clears its :class:`TimerSlot`, so a timer left in the heap keeps
a few bytes alive until it expires, not the connection.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

import trio

__all__ = ["GRACE", "PING", "TICK", "LivenessClock", "TimerSlot", "TimerTarget"]

logger = logging.getLogger("rawsock")

#: Seconds a timer may fire late: the clock's task wakes at most once per tick, however
#: many connections' timers expire (thousands per second on a busy server), and a new
#: timer wakes it early only if it would otherwise be more than a tick late.
TICK = 0.01

#: The kinds of timer a connection sets.
GRACE = 0  # check whether someone must read for the application
PING = 1  # the next keepalive ping is due


class TimerTarget(Protocol):
    """What a timer is delivered to: a connection's reader."""

    def timer_expired(self, kind: int) -> None:
        """A timer of this ``kind`` expired (called from the clock's task; must not block)."""

    async def background_failed(self, error: Exception) -> None:
        """A background task of this connection raised ``error`` (a bug): log, fail 1011."""


class TimerSlot:
    """A connection's place in the clock; cleared when the connection closes."""

    __slots__ = ("target",)

    def __init__(self, target: TimerTarget) -> None:
        self.target: TimerTarget | None = target



class LivenessClock:
    """The timer heap and task spawner shared by the connections of one owner.

    Args:
        nursery: where the clock's task and the connections' background tasks run;
            ``None`` runs them as system tasks (for connections nobody owns).
    """

    __slots__ = ("_closed", "_heap", "_next", "_nursery", "_running", "_sequence", "_wakeup")

    def __init__(self, nursery: trio.Nursery | None = None) -> None:
        self._nursery = nursery
        self._heap: list[tuple[float, int, TimerSlot, int]] = []
        self._sequence = 0  # ties in the heap never compare slots
        self._running = False
        self._next = float("inf")  # when the clock's task wakes up next
        self._wakeup = trio.lowlevel.ParkingLot()
        self._closed = False

    def close(self) -> None:
        """Drop every timer and end the clock's task (its owner is done)."""
        self._closed = True
        self._heap.clear()
        self._wakeup.unpark_all()

    def call_at(self, when: float, slot: TimerSlot, kind: int) -> None:
        """Deliver ``kind`` to ``slot``'s target at ``when`` (trio's clock)."""
        if self._closed:
            return
        self._sequence += 1
        heapq.heappush(self._heap, (when, self._sequence, slot, kind))
        if not self._running:
            self._running = True
            self.spawn(self._run, slot, name="rawsock timers")
        elif when + TICK < self._next:
            self._wakeup.unpark_all()

    def spawn(
        self, function: Callable[[], Awaitable[None]], slot: TimerSlot, *, name: str
    ) -> None:
        """Run ``function`` in the background; an exception in it fails ``slot``'s connection."""
        guarded = _guard(function, slot)
        if self._nursery is None:
            trio.lowlevel.spawn_system_task(guarded, name=name)
        else:
            self._nursery.start_soon(guarded, name=name)

    async def _run(self) -> None:
        heap = self._heap
        try:
            while heap:
                when = heap[0][0]
                now = trio.current_time()
                if when > now:
                    self._next = max(when, now + TICK)
                    with trio.move_on_at(self._next):
                        await self._wakeup.park()
                    continue
                _, _, slot, kind = heapq.heappop(heap)
                target = slot.target
                if target is None:
                    continue  # the connection closed
                try:
                    target.timer_expired(kind)
                except Exception as error:
                    self.spawn(partial(target.background_failed, error), slot, name="rawsock")
        finally:
            self._running = False
            self._next = float("inf")


def _guard(
    function: Callable[[], Awaitable[None]], slot: TimerSlot
) -> Callable[[], Awaitable[None]]:
    async def guarded() -> None:
        try:
            await function()
        except Exception as error:
            target = slot.target
            if target is None:
                logger.exception("background task of a closed connection failed")
            else:
                await target.background_failed(error)

    return guarded
