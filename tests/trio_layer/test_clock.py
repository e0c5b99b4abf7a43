"""The timers shared by a server's connections: order, lateness, isolation, ending."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from rawsock._clock import GRACE, PING, TICK, LivenessClock, TimerSlot


class Target:
    """Records when its timers expire; can be told to raise, like a buggy connection."""

    def __init__(self, name: str, fired: list[tuple[str, int, float]], *, fail: bool = False):
        self.name = name
        self.fired = fired
        self.fail = fail
        self.failures: list[Exception] = []

    def timer_expired(self, kind: int) -> None:
        self.fired.append((self.name, kind, trio.current_time()))
        if self.fail:
            raise RuntimeError("a bug in a timer")

    async def background_failed(self, error: Exception) -> None:
        self.failures.append(error)


def _task_count(name: str) -> int:
    root = trio.lowlevel.current_root_task()
    tasks, pending = 0, [root]
    while pending:
        task = pending.pop()
        tasks += task.name == name
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return tasks


async def test_timers_fire_in_order_at_most_a_tick_late(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fired: list[tuple[str, int, float]] = []
    async with trio.open_nursery() as nursery:
        clock = LivenessClock(nursery)
        start = trio.current_time()
        late, early = TimerSlot(Target("late", fired)), TimerSlot(Target("early", fired))
        clock.call_at(start + 20, late, PING)
        clock.call_at(start + 0.05, early, GRACE)  # earlier than what the task waits for
        await trio.sleep(30)
        assert [(name, kind) for name, kind, _ in fired] == [("early", GRACE), ("late", PING)]
        for (_, _, when), due in zip(fired, (start + 0.05, start + 20), strict=True):
            assert due <= when <= due + TICK
        assert _task_count("rawsock timers") == 0  # nothing left: the task ended
        clock.call_at(trio.current_time() + 1, early, GRACE)  # and starts again
        await trio.sleep(2)
        assert len(fired) == 3


async def test_a_cleared_slot_is_skipped_and_a_raising_target_fails_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fired: list[tuple[str, int, float]] = []
    buggy = Target("buggy", fired, fail=True)
    healthy = Target("healthy", fired)
    closed = TimerSlot(Target("closed", fired))
    async with trio.open_nursery() as nursery:
        clock = LivenessClock(nursery)
        now = trio.current_time()
        clock.call_at(now + 1, TimerSlot(buggy), PING)
        clock.call_at(now + 1, closed, PING)
        clock.call_at(now + 2, TimerSlot(healthy), PING)
        closed.target = None  # its connection closed
        await trio.sleep(3)
    assert [name for name, _, _ in fired] == ["buggy", "healthy"]
    assert [str(error) for error in buggy.failures] == ["a bug in a timer"]
    assert healthy.failures == []


@pytest.mark.parametrize("owned", [True, False])
async def test_close_drops_every_timer_and_ends_the_task(
    owned: bool, autojump_clock: trio.testing.MockClock
) -> None:
    fired: list[tuple[str, int, float]] = []
    async with trio.open_nursery() as nursery:
        clock = LivenessClock(nursery if owned else None)
        clock.call_at(trio.current_time() + 20, TimerSlot(Target("t", fired)), PING)
        await trio.sleep(1)
        assert _task_count("rawsock timers") == 1  # in the nursery, or a system task
        clock.close()
        clock.call_at(trio.current_time() + 1, TimerSlot(Target("t", fired)), PING)
        await trio.sleep(30)
        assert _task_count("rawsock timers") == 0
    assert fired == []
