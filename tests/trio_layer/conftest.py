"""Shared helpers for the Trio-layer tests: a pair over loopback TCP, raw peers.

(In-memory pairs come from ``rawsock.testing.connection_pair``, which yields the same
``(client, server)`` order as :func:`tcp_pair`.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import rawsock


@asynccontextmanager
async def tcp_pair(
    server_options: dict[str, Any] | None = None,
    client_options: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[rawsock.WebSocket, rawsock.WebSocket]]:
    """A (client, server) pair of WebSockets over a real loopback TCP connection."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        accepted: list[rawsock.WebSocket] = []

        ready = trio.Event()

        async def accept() -> None:
            stream = await listeners[0].accept()
            accepted.append(await rawsock.accept(stream, **(server_options or {})))
            ready.set()

        nursery.start_soon(accept)
        async with rawsock.connect(
            f"ws://127.0.0.1:{port}/", **(client_options or {})
        ) as client:
            await ready.wait()
            try:
                yield client, accepted[0]
            finally:
                with trio.move_on_after(5):
                    await accepted[0].aclose()
        await listeners[0].aclose()


@asynccontextmanager
async def raw_client(
    extensions: str | None = None, **server_options: Any
) -> AsyncIterator[tuple[rawsock.WebSocket, trio.abc.Stream, rawsock.sansio.ClientHandshake]]:
    """A server-side WebSocket whose client is this test, speaking raw bytes.

    Yields the accepted WebSocket, the client's end of the stream (after the handshake)
    and the client's handshake (its ``trailing_data`` holds bytes that came with the 101).
    """
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        accepted: list[rawsock.WebSocket] = []

        async def accept() -> None:
            accepted.append(await rawsock.accept(server_stream, **server_options))

        nursery.start_soon(accept)
        handshake = rawsock.sansio.ClientHandshake("x", "/", extensions=extensions)
        await client_stream.send_all(handshake.request_bytes())
        while handshake.next_response() is None:
            handshake.receive_data(await client_stream.receive_some())
        await trio.testing.wait_all_tasks_blocked()
        yield accepted[0], client_stream, handshake
        nursery.cancel_scope.cancel()


async def raw_server_that_never_answers(stream: trio.abc.Stream) -> None:
    """Completes the server side of the handshake, then reads everything, answers nothing."""
    handshake = rawsock.sansio.ServerHandshake()
    while (request := handshake.next_request()) is None:
        handshake.receive_data(await stream.receive_some())
    await stream.send_all(handshake.accept(handshake.validate(request)))
    try:
        while await stream.receive_some():
            pass
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        pass


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)
