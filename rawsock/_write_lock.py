"""The lock that serializes writers on one connection, so frames never interleave."""

from __future__ import annotations

from types import TracebackType

import trio

__all__ = ["WriteLock"]


class WriteLock:
    """A FIFO lock for the writers of one connection.

    Unlike ``trio.StrictFIFOLock``, taking it when it is free costs no pass through the
    scheduler: ``acquire`` is then only a cancellation point. Writers go on to write to
    the stream, whose ``send_all`` is a full checkpoint, so every public send stays a
    checkpoint (Trio's convention) while a round trip saves one scheduling pass.
    Ownership is handed straight to the first waiter on release, so waiters are served
    in order.
    """

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        # Made when a writer first has to wait: most connections never contend, and a
        # ParkingLot costs about 250 bytes and a few microseconds to make.
        self._waiters: trio.lowlevel.ParkingLot | None = None

    @property
    def locked(self) -> bool:
        """Whether a writer holds the lock."""
        return self._held

    def acquire_nowait(self) -> bool:
        """Take the lock if it is free (no waiting, no checkpoint); whether it was."""
        if self._held:
            return False
        self._held = True
        return True

    async def acquire(self) -> None:
        """Take the lock, waiting in line if another writer holds it."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._held:
            self._held = True
            return
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = trio.lowlevel.ParkingLot()
        await waiters.park()  # woken holding the lock (see release)

    def release(self) -> None:
        """Give the lock to the next waiter, or free it."""
        waiters = self._waiters
        if waiters:
            waiters.unpark()
        else:
            self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
