"""What third-party peers see when rawsock closes while they are still sending.

Closing a TCP socket with the peer's data unread, or while more of it arrives, makes the
kernel answer with a reset, and a peer that is still writing then loses our close frame
(RFC 6455 §7.1.1). Each test runs a real ``rawsock`` endpoint on loopback against a
client or server nobody here wrote, aiohttp's or the websockets library's (each in a
thread with its own asyncio loop), keeps that peer writing while rawsock closes, and
checks the close code the peer reports. Before rawsock read on until the peer answered
on these paths, aiohttp's client sending 16 MiB to a 1 MiB limit saw "Connection lost"
instead of 1009, and an aiohttp peer still sending when a closing handshake timed out
saw "Cannot write to closing transport" instead of the close frame, every time.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import aiohttp
import aiohttp.web
import pytest
import trio
import websockets
from websockets.asyncio.client import connect as websockets_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websockets_serve

import rawsock

MiB = 1024 * 1024
BIG = os.urandom(16 * MiB)
#: How many times each scenario runs (a reset is a race: it does not happen every time).
TRIES = 3
#: The most any peer may take for one scenario, in seconds.
PEER_TIMEOUT = 20.0

Handler = Callable[[rawsock.WebSocket], Awaitable[None]]


async def in_thread(coroutine: Callable[[], Awaitable[Any]]) -> Any:
    """Run an asyncio coroutine function in a thread of its own, bounded in time."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine(), PEER_TIMEOUT)

    return await trio.to_thread.run_sync(asyncio.run, bounded())


@asynccontextmanager
async def rawsock_server(handler: Handler, **options: Any) -> AsyncIterator[rawsock.Server]:
    async with trio.open_nursery() as nursery:
        server: rawsock.Server = await nursery.start(
            partial(rawsock.serve, handler, "127.0.0.1", 0, **options)
        )
        yield server
        await server.aclose()


async def echo(ws: rawsock.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def close_after_first_message(ws: rawsock.WebSocket) -> None:
    await ws.receive()
    await ws.aclose(1000, "enough")


async def receive_until_closed(ws: rawsock.WebSocket) -> None:
    async for _ in ws:
        pass


# -- the peers -----------------------------------------------------------------------------


async def aiohttp_send(url: str, messages: list[bytes], pause: float) -> str:
    """aiohttp's client: send the messages (pausing between them), then read the close.

    Returns ``"close <code>"``, or what went wrong instead.
    """
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, max_msg_size=0, compress=0) as ws,
    ):
        try:
            for message in messages:
                await ws.send_bytes(message)
                await asyncio.sleep(pause)
        except Exception as error:  # what a reset looks like to aiohttp
            return f"send failed: {type(error).__name__}: {error}"
        received = await ws.receive()
        if received.type is aiohttp.WSMsgType.CLOSE:
            return f"close {received.data}"
        return f"{received.type.name} {received.extra}"


async def websockets_send(url: str, messages: list[bytes], pause: float) -> str:
    """The websockets library's client, as :func:`aiohttp_send`.

    (Not ``async with``: websockets 17's client, leaving the block after the connection
    was closed, calls ``abort()`` through its lost protocol state, which raises
    AttributeError about half the time, against its own server too.)
    """
    ws = await websockets_connect(url, max_size=None, compression=None)
    try:
        for message in messages:
            await ws.send(message)
            await asyncio.sleep(pause)
        await ws.recv()
        return "a message instead of the close"
    except websockets.ConnectionClosed as closed:
        return f"close {closed.rcvd.code}" if closed.rcvd else "no close frame"
    finally:
        if ws.state is not websockets.State.CLOSED:
            await ws.close()
        # A transport closed with unsent data waits for the buffer to drain, which it never
        # does once the server has gone: abort it, so the socket is closed before the loop.
        ws.transport.abort()
        await asyncio.sleep(0)


# -- rawsock as the server -----------------------------------------------------------------


@pytest.mark.parametrize("peer", [aiohttp_send, websockets_send], ids=["aiohttp", "websockets"])
async def test_a_message_over_the_limit_reaches_the_sender_as_1009(
    peer: Callable[..., Awaitable[str]],
) -> None:
    """The README's echo server (1 MiB limit) and a client sending 16 MiB."""
    async with rawsock_server(echo, max_message_size=MiB) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        seen = [await in_thread(partial(peer, url, [BIG], 0.0)) for _ in range(TRIES)]
    assert seen == ["close 1009"] * TRIES


@pytest.mark.parametrize("peer", [aiohttp_send, websockets_send], ids=["aiohttp", "websockets"])
async def test_a_closing_handshake_that_times_out_still_reaches_a_busy_sender(
    peer: Callable[..., Awaitable[str]],
) -> None:
    """The handler closes; the client keeps sending for 0.7 s before it reads, longer
    than ``close_timeout``. Its sends must not fail, and it must read our close frame."""
    messages = [bytes(1024)] * 35
    async with rawsock_server(close_after_first_message, close_timeout=0.5) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        seen = [await in_thread(partial(peer, url, messages, 0.02)) for _ in range(TRIES)]
    assert seen == ["close 1000"] * TRIES


@pytest.mark.parametrize("peer", [aiohttp_send, websockets_send], ids=["aiohttp", "websockets"])
async def test_a_shutdown_reaches_a_busy_sender_as_1001(
    peer: Callable[..., Awaitable[str]],
) -> None:
    messages = [bytes(1024)] * 35
    for _ in range(TRIES):
        async with rawsock_server(receive_until_closed, close_timeout=0.5) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            async with trio.open_nursery() as nursery:
                seen: list[str] = []

                async def run_peer() -> None:
                    seen.append(await in_thread(partial(peer, url, messages, 0.02)))  # noqa: B023

                nursery.start_soon(run_peer)
                await trio.sleep(0.3)  # the client is sending
                await server.aclose()
        assert seen == ["close 1001"]


# -- rawsock as the client -----------------------------------------------------------------


Ready = Callable[[int], Awaitable[None]]


@asynccontextmanager
async def asyncio_server_in_thread(serve: Callable[[Ready], Awaitable[None]]) -> AsyncIterator[int]:
    """Run ``serve(ready)`` with its own asyncio loop in a thread; it starts a server,
    then awaits ``ready(port)``, which returns when the block ends. Yields the port."""
    port_ready = threading.Event()
    port: list[int] = []
    stop: list[asyncio.Future[None]] = []

    async def ready(bound: int) -> None:
        port.append(bound)
        stop.append(asyncio.get_running_loop().create_future())
        port_ready.set()
        await stop[0]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(trio.to_thread.run_sync, asyncio.run, serve(ready)))
        await trio.to_thread.run_sync(port_ready.wait, 10)
        try:
            yield port[0]
        finally:
            future = stop[0]
            future.get_loop().call_soon_threadsafe(future.set_result, None)


@asynccontextmanager
async def websockets_server(
    handler: Callable[[ServerConnection], Awaitable[None]],
) -> AsyncIterator[tuple[int, list[object]]]:
    """The websockets library's server in a thread; yields its port and what its
    handler recorded (the close code each connection received)."""
    recorded: list[object] = []

    async def record(connection: ServerConnection) -> None:
        try:
            await handler(connection)
        finally:
            recorded.append(connection.close_code)

    async def serve(ready: Ready) -> None:
        options: dict[str, Any] = {"max_size": None, "compression": None}
        async with websockets_serve(record, "127.0.0.1", 0, **options) as ws_server:
            await ready(ws_server.sockets[0].getsockname()[1])

    async with asyncio_server_in_thread(serve) as port:
        yield port, recorded


async def wait_for_records(recorded: list[object], count: int) -> None:
    """Wait until the server's handlers (in their thread) recorded ``count`` closes."""
    with trio.fail_after(PEER_TIMEOUT):
        while len(recorded) < count:  # noqa: ASYNC110 (another thread appends)
            await trio.sleep(0.05)


async def send_big_then_wait(connection: ServerConnection) -> None:
    try:
        await connection.send(BIG)
        await connection.wait_closed()
    except websockets.ConnectionClosed:
        pass


async def send_for_a_second(connection: ServerConnection) -> None:
    try:
        for _ in range(35):
            await connection.send(bytes(1024))
            await asyncio.sleep(0.02)
        await connection.wait_closed()
    except websockets.ConnectionClosed:
        pass


async def test_the_client_refusing_a_message_over_its_limit_reaches_the_server_as_1009() -> None:
    async with websockets_server(send_big_then_wait) as (port, recorded):
        for _ in range(TRIES):
            async with rawsock.connect(f"ws://127.0.0.1:{port}/", max_message_size=MiB) as ws:
                with pytest.raises(rawsock.ConnectionClosed) as info:
                    await ws.receive()
                assert info.value.code == 1009
        await wait_for_records(recorded, TRIES)
    assert recorded == [1009] * TRIES


async def test_a_client_close_that_times_out_still_reaches_a_busy_server() -> None:
    async with websockets_server(send_for_a_second) as (port, recorded):
        for _ in range(TRIES):
            async with rawsock.connect(f"ws://127.0.0.1:{port}/", close_timeout=0.5) as ws:
                await ws.receive()
            # (the websockets server answers a close frame only once its handler's
            # sends are done, 0.7 s later)
        await wait_for_records(recorded, TRIES)
    assert recorded == [1000] * TRIES


@asynccontextmanager
async def aiohttp_server(
    send: Callable[[aiohttp.web.WebSocketResponse], Awaitable[None]],
) -> AsyncIterator[tuple[int, list[str]]]:
    """aiohttp's server in a thread: its handler runs ``send``, then reads the close;
    yields its port and what each handler saw (``"close <code>"`` or an error)."""
    recorded: list[str] = []

    async def handler(request: aiohttp.web.Request) -> aiohttp.web.WebSocketResponse:
        ws = aiohttp.web.WebSocketResponse(max_msg_size=0, compress=False)
        await ws.prepare(request)
        try:
            await send(ws)
        except Exception as error:
            recorded.append(f"send failed: {type(error).__name__}: {error}")
            return ws
        received = await ws.receive()
        closed = received.type is aiohttp.WSMsgType.CLOSE
        recorded.append(f"close {received.data}" if closed else received.type.name)
        return ws

    async def serve(ready: Ready) -> None:
        app = aiohttp.web.Application()
        app.router.add_get("/", handler)
        runner = aiohttp.web.AppRunner(app)
        await runner.setup()
        await aiohttp.web.TCPSite(runner, "127.0.0.1", 0).start()
        await ready(runner.addresses[0][1])
        await runner.cleanup()

    async with asyncio_server_in_thread(serve) as port:
        yield port, recorded


async def aiohttp_send_for_a_while(ws: aiohttp.web.WebSocketResponse) -> None:
    for _ in range(35):
        await ws.send_bytes(bytes(1024))
        await asyncio.sleep(0.02)


async def test_a_client_close_that_times_out_still_reaches_a_busy_aiohttp_server() -> None:
    async with aiohttp_server(aiohttp_send_for_a_while) as (port, recorded):
        for _ in range(TRIES):
            async with rawsock.connect(f"ws://127.0.0.1:{port}/", close_timeout=0.5) as ws:
                await ws.receive()
        await wait_for_records(recorded, TRIES)  # type: ignore[arg-type]
    assert recorded == ["close 1000"] * TRIES
