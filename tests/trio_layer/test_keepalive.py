"""Keepalive: dead peers are closed with 1011; a peer stuck behind our unread data is not."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from conftest import raw_server_that_never_answers

import rawsock
import rawsock.testing
from rawsock._reader import MAX_READ_SIZE
from rawsock.sansio import FrameParser, Opcode


async def test_dead_peer_is_closed_with_1011_within_interval_plus_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(raw_server_that_never_answers, server_stream)
        options = {"ping_interval": 5.0, "ping_timeout": 3.0, "close_timeout": 1.0}
        async with rawsock.connect("ws://x/", stream=client_stream, **options) as ws:
            started = trio.current_time()
            with pytest.raises(rawsock.ConnectionClosed) as info:
                await ws.receive()
            elapsed = trio.current_time() - started
            assert info.value.code == 1011 and not info.value.ok
            assert 8 <= elapsed <= 8 + 1.5  # interval + timeout (+ the close frame's flush)
        nursery.cancel_scope.cancel()


async def test_live_peer_keeps_the_connection_and_latency_is_measured(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def echo(ws: rawsock.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    keepalive: rawsock.ConnectionOptions = {"ping_interval": 2.0, "ping_timeout": 2.0}
    async with rawsock.testing.connect(echo, ping_interval=None, client_options=keepalive) as ws:
        await trio.sleep(60)  # thirty keepalive rounds while the application idles
        assert ws.closed is False and ws.latency is not None
        await ws.send("still here")
        assert await ws.receive() == "still here"


async def test_pong_behind_unread_data_does_not_close_a_live_peer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Our budget is full, so we stop reading; the pong waits behind the data. Not dead."""
    message = b"x" * 16 * 1024
    count = 200

    async def flooding_server(ws: rawsock.WebSocket) -> None:
        for _ in range(count):
            await ws.send(message)
        async for _ in ws:  # answers pings meanwhile; ends when the client closes
            pass

    options: rawsock.ConnectionOptions = {
        "ping_interval": 1.0,
        "ping_timeout": 1.0,
        "receive_buffer": 64 * 1024,
        "compression": None,
    }
    unbounded = rawsock.testing.Transport(limit=None)  # the server's sends never wait
    async with rawsock.testing.connect(
        flooding_server,
        ping_interval=None,
        compression=None,
        client_options=options,
        transport=unbounded,
    ) as ws:
        await trio.sleep(30)  # the application does not receive for a while
        assert ws.closed is False
        # The budget, plus at most one read (and each item's bookkeeping overhead).
        assert ws.pending_bytes <= 64 * 1024 + MAX_READ_SIZE + 1024
        for _ in range(count):
            assert await ws.receive() == message
        await trio.sleep(5)
        assert ws.closed is False


async def test_keepalive_off() -> None:
    with trio.fail_after(5):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(raw_server_that_never_answers, server_stream)
            async with rawsock.connect(
                "ws://x/", stream=client_stream, ping_interval=None, close_timeout=0.1
            ) as ws:
                with trio.move_on_after(0.5):
                    await ws.receive()
                assert not ws.closed
            nursery.cancel_scope.cancel()


async def test_the_dead_peer_close_frame_is_sent_with_its_reason(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The peer reads but never answers: it must get our 1011 close frame (with a reason
    saying why), and the application an error that says why too."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    frames: list[tuple[int, bytes]] = []

    async def recording_server() -> None:
        handshake = rawsock.sansio.ServerHandshake()
        while (request := handshake.next_request()) is None:
            handshake.receive_data(await server_stream.receive_some())
        await server_stream.send_all(handshake.accept(handshake.validate(request)))
        parser = FrameParser(require_mask=True)
        parser.feed(handshake.trailing_data)
        try:
            while data := await server_stream.receive_some():
                parser.feed(data)
                while (piece := parser.next_piece()) is not None:
                    frames.append((piece.header.opcode, piece.data))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(recording_server)
        options = {"ping_interval": 5.0, "ping_timeout": 3.0, "close_timeout": 1.0}
        async with rawsock.connect("ws://x/", stream=client_stream, **options) as ws:
            with pytest.raises(rawsock.ConnectionClosed) as info:
                await ws.receive()
            with pytest.raises(rawsock.ConnectionClosed) as sending:
                await ws.send("too late")
        nursery.cancel_scope.cancel()
    assert [opcode for opcode, _ in frames] == [Opcode.PING, Opcode.CLOSE]
    code, reason = rawsock.sansio.decode_close_payload(frames[1][1])
    assert (code, reason) == (1011, "keepalive ping timeout")
    for error in (info.value, sending.value):
        assert (error.code, error.reason) == (1011, "keepalive ping timeout")
        assert "no pong within ping_timeout (3.0 s)" in str(error.__cause__)
