"""The server's socket streams and listeners (``rawsock/_direct_socket.py``).

Trio's own conformance checks for half-closeable streams (``trio.testing``) run on them
over real loopback sockets, TCP and Unix; then what they add: accept, closing a
listener, errors named as trio names them, and the socket options of trio's streams.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio
import trio.testing

import rawsock
from rawsock._direct_socket import DirectSocketListener, DirectSocketStream


def tcp_listener() -> DirectSocketListener:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return DirectSocketListener(sock)


async def connected_pair(listener: DirectSocketListener) -> tuple[DirectSocketStream, ...]:
    client = socket.socket(listener.socket.family)
    client.connect(listener.socket.getsockname())
    server = await listener.accept()
    return DirectSocketStream(client), server


async def tcp_pair() -> tuple[DirectSocketStream, ...]:
    listener = tcp_listener()
    try:
        return await connected_pair(listener)
    finally:
        await listener.aclose()


async def clogged_tcp_pair() -> tuple[DirectSocketStream, ...]:
    """A pair that cannot send either way: the kernel's buffers are full."""
    left, right = await tcp_pair()
    for stream in (left, right):  # small buffers, so that they fill quickly
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for stream in (left, right):
        try:
            while True:
                stream.socket.send(b"x" * 65536)
        except BlockingIOError:
            pass
    return left, right


async def test_tcp_streams_pass_trios_stream_checks() -> None:
    await trio.testing.check_half_closeable_stream(tcp_pair, clogged_tcp_pair)


async def test_unix_streams_pass_trios_stream_checks(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    sock.listen()
    listener = DirectSocketListener(sock)

    async def unix_pair() -> tuple[DirectSocketStream, ...]:
        return await connected_pair(listener)

    async with listener:
        await trio.testing.check_half_closeable_stream(unix_pair, None)


async def test_tcp_streams_have_trios_socket_options() -> None:
    client, server = await tcp_pair()
    async with client, server:
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        lowat = getattr(socket, "TCP_NOTSENT_LOWAT", None)
        if lowat is not None:
            assert server.getsockopt(socket.IPPROTO_TCP, lowat) == 16 * 1024
        assert server.socket.getpeername() == client.socket.getsockname()


async def test_a_waiting_accept_ends_when_the_listener_closes() -> None:
    listener = tcp_listener()
    async with trio.open_nursery() as nursery:

        async def accept() -> None:
            with pytest.raises(trio.ClosedResourceError):
                await listener.accept()

        nursery.start_soon(accept)
        await trio.testing.wait_all_tasks_blocked()
        await listener.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await listener.accept()
    await listener.aclose()  # twice is fine


async def test_accept_is_a_checkpoint_even_with_a_connection_waiting() -> None:
    listener = tcp_listener()
    client = socket.socket()
    client.connect(listener.socket.getsockname())
    async with listener:
        with trio.CancelScope() as scope:
            scope.cancel()
            await listener.accept()
        assert scope.cancelled_caught
        with trio.testing.assert_checkpoints():
            stream = await listener.accept()  # the connection is still there
        await stream.aclose()
    client.close()


async def test_a_reset_connection_is_a_broken_stream() -> None:
    client, server = await tcp_pair()
    client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    await client.aclose()  # with SO_LINGER 0: a reset
    await trio.sleep(0.05)
    with pytest.raises(trio.BrokenResourceError, match="socket connection broken"):
        await server.receive_some(10)
        await server.send_all(b"x" * 100_000)
    await server.aclose()


async def test_serve_and_serve_unix_run_on_these_streams(tmp_path: Path) -> None:
    seen: list[type] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        seen.append(type(ws.stream))
        await ws.send(await ws.receive())

    async with trio.open_nursery() as nursery:
        tcp = await nursery.start(rawsock.serve, handler, "127.0.0.1", 0)
        unix = await nursery.start(rawsock.serve_unix, handler, str(tmp_path / "ws.sock"))
        for server in (tcp, unix):
            assert all(isinstance(each, DirectSocketListener) for each in server.listeners)
        async with rawsock.connect(f"ws://127.0.0.1:{tcp.port}/") as ws:
            await ws.send("over TCP")
            assert await ws.receive() == "over TCP"
        stream = await trio.open_unix_socket(str(tmp_path / "ws.sock"))
        async with rawsock.connect("ws://localhost/", stream=stream) as ws:
            await ws.send("over a Unix socket")
            assert await ws.receive() == "over a Unix socket"
        nursery.cancel_scope.cancel()
    assert seen == [DirectSocketStream, DirectSocketStream]
