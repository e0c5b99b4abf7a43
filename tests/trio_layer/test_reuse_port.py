"""``serve(..., reuse_port=True)``: several servers (processes) on one port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio

import rawsock


async def test_two_servers_share_a_port_and_both_get_connections() -> None:
    served: dict[str, int] = {"a": 0, "b": 0}

    def handler(name: str) -> Callable[[rawsock.WebSocket], Awaitable[None]]:
        async def greet(ws: rawsock.WebSocket) -> None:
            served[name] += 1
            await ws.send(name)

        return greet

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            first = await nursery.start(
                partial(rawsock.serve, handler("a"), "127.0.0.1", 0, reuse_port=True)
            )
            second = await nursery.start(
                partial(rawsock.serve, handler("b"), "127.0.0.1", first.port, reuse_port=True)
            )
            assert second.port == first.port
            names = set()
            for _ in range(200):  # the kernel hashes each connection to one listener
                async with rawsock.connect(f"ws://127.0.0.1:{first.port}/") as ws:
                    names.add(await ws.receive())
                if names == {"a", "b"}:
                    break
            assert names == {"a", "b"}
            assert served["a"] > 0 and served["b"] > 0
            nursery.cancel_scope.cancel()


async def test_without_reuse_port_the_second_bind_fails() -> None:
    async def nothing(ws: rawsock.WebSocket) -> None:
        pass

    async with trio.open_nursery() as nursery:
        first = await nursery.start(
            partial(rawsock.serve, nothing, "127.0.0.1", 0, reuse_port=True)
        )
        with pytest.raises(OSError):
            await rawsock.serve(nothing, "127.0.0.1", first.port)
        nursery.cancel_scope.cancel()
