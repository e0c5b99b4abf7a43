"""The last write of an operation, sent without waiting (``send_without_waiting``).

The 101 after the request and the close frame before the close go out in one pass
through the scheduler when the kernel takes them at once; when it does not, the rest
goes through ``send_all`` and nothing is lost. Over real loopback sockets.
"""

from __future__ import annotations

import socket
import struct

import pytest
import trio
import trio.testing
from test_runtime_direct_socket import clogged_tcp_pair, tcp_pair

import rawsock
from rawsock._direct_socket import DirectSocketStream, send_without_waiting


async def test_send_nowait_sends_what_the_kernel_takes() -> None:
    client, server = await tcp_pair()
    async with client, server:
        with trio.testing.assert_no_checkpoints():
            assert server.send_nowait(b"hello") == 5
            assert send_without_waiting(server, b" world") == 6
            assert server.send_nowait(b"") == 0
        received = b""
        while len(received) < 11:
            received += await client.receive_some()
        assert received == b"hello world"


async def test_send_nowait_on_a_full_buffer_sends_nothing() -> None:
    left, right = await clogged_tcp_pair()
    async with left, right:
        with trio.testing.assert_no_checkpoints():
            assert left.send_nowait(b"x" * 1000) == 0


async def test_send_nowait_errors_are_the_stream_errors() -> None:
    client, server = await tcp_pair()
    await server.send_eof()
    with pytest.raises(trio.ClosedResourceError, match="after sending EOF"):
        server.send_nowait(b"x")
    await server.aclose()
    await client.aclose()
    left, right = await clogged_tcp_pair()
    async with left, right, trio.open_nursery() as nursery:
        nursery.start_soon(left.send_all, b"x" * 100)  # waits: the buffer is full
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            left.send_nowait(b"y")
        nursery.cancel_scope.cancel()


async def test_other_streams_send_nothing_without_waiting() -> None:
    left, right = trio.testing.memory_stream_pair()
    assert send_without_waiting(left, b"data") == 0
    with trio.move_on_after(0.05):
        assert await right.receive_some() == b"", "nothing should have been written"


def _read_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked frame in ``data``; fails on a partial frame."""
    frames = []
    at = 0
    while at < len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, at)
            at += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, at)
            at += 8
        assert at + length <= len(data), "the stream ends inside a frame"
        frames.append((opcode, data[at : at + length]))
        at += length
    return frames


async def test_the_close_frame_waits_for_room_when_the_kernel_is_full() -> None:
    """The client's close frame is there while the server's small buffers are full of a
    large message that a slow client reads: the answer goes out whole, after the data."""
    size = 1 << 20
    sent = trio.Event()

    async def handler(ws: rawsock.WebSocket) -> None:
        assert isinstance(ws.stream, DirectSocketStream)
        ws.stream.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        await ws.send(bytes(size))
        sent.set()
        with pytest.raises(rawsock.ConnectionClosed):
            await ws.receive()  # the close frame: the answer fills what is left

    async with trio.open_nursery() as nursery:
        server = await nursery.start(rawsock.serve, handler, "127.0.0.1", 0)
        client = trio.socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await client.connect(("127.0.0.1", server.port))
        await client.send(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        received = b""
        while b"\r\n\r\n" not in received:
            received += await client.recv(4096)
        head, received = received.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101 ")
        await client.send(b"\x88\x82\0\0\0\0" + struct.pack("!H", 1000))  # masked, key 0
        with trio.fail_after(10):
            while True:  # slowly, so that the server's buffer stays nearly full
                data = await client.recv(4096)
                if not data:
                    break
                received += data
                if not sent.is_set():
                    await trio.sleep(0.0005)
        client.close()
        nursery.cancel_scope.cancel()
    frames = _read_frames(received)
    assert [opcode for opcode, _ in frames] == [2, 8]
    assert len(frames[0][1]) == size
    assert frames[1][1][:2] == struct.pack("!H", 1000)
