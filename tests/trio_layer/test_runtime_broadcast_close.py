"""A Broadcaster's member leaves when its connection closes, with nothing sent to it."""

from __future__ import annotations

from functools import partial

import trio
import trio.testing

import rawsock


async def test_a_closed_member_leaves_and_its_sender_task_ends() -> None:
    late_members: list[list[rawsock.WebSocket]] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as senders:  # must end by itself: no cancel
            broadcaster = rawsock.Broadcaster(senders)
            joined, left = trio.Event(), trio.Event()

            async def handler(ws: rawsock.WebSocket) -> None:
                broadcaster.add(ws)  # and never removed
                joined.set()
                async for _ in ws:
                    pass
                late = rawsock.Broadcaster(senders)
                late.add(ws)  # already closed: leaves at once
                await trio.testing.wait_all_tasks_blocked()
                late_members.append(late.connections)
                left.set()

            async with trio.open_nursery() as nursery:
                server = await nursery.start(partial(rawsock.serve, handler, "127.0.0.1", 0))
                async with rawsock.connect(f"ws://127.0.0.1:{server.port}/"):
                    await joined.wait()
                await left.wait()
                await trio.testing.wait_all_tasks_blocked()
                assert broadcaster.connections == []
                assert late_members == [[]]
                nursery.cancel_scope.cancel()
