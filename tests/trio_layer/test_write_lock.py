"""The writers' lock: FIFO, no scheduling pass when free, safe under cancellation."""

from __future__ import annotations

import pytest
import trio
import trio.lowlevel
import trio.testing

from rawsock._write_lock import WriteLock


async def test_free_lock_is_taken_without_yielding() -> None:
    lock = WriteLock()
    order: list[str] = []

    async def other() -> None:
        order.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        await lock.acquire()  # must not let `other` run
        order.append("acquired")
        lock.release()
    assert order == ["acquired", "other"]


async def test_waiters_are_served_in_order() -> None:
    lock = WriteLock()
    order: list[int] = []
    await lock.acquire()

    async def writer(index: int) -> None:
        async with lock:
            order.append(index)
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for index in range(5):
            nursery.start_soon(writer, index)
            await trio.testing.wait_all_tasks_blocked()
        assert lock.locked and order == []
        lock.release()
    assert order == [0, 1, 2, 3, 4] and not lock.locked


async def test_acquire_is_a_cancellation_point_and_a_cancelled_waiter_leaves_no_trace() -> None:
    lock = WriteLock()
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await lock.acquire()
            pytest.fail("acquired despite the cancellation")  # pragma: no cover
    assert not lock.locked
    await lock.acquire()
    with trio.move_on_after(0.01):
        await lock.acquire()  # waits, then is cancelled
    lock.release()
    assert not lock.locked  # the cancelled waiter was not handed the lock
