"""A hostile server against ``rawsock.connect``: the client-side mirror of test_attacks.py.

The server is a raw TCP listener on 127.0.0.1 that reads the upgrade request and then
writes whatever the test scripts, byte by byte if need be: handshake responses that
never end, trickle or flood, wrong accept keys, subprotocols and extensions nobody asked
for; after a real 101, masked frames, impossible lengths, decompression bombs, floods
of pings, invalid UTF-8 and close codes, a close handshake it never completes, resets.
Each test bounds the time the client takes to give up (and, for the floods and bombs,
the memory it holds while doing so), and checks the error or close code it reports.
Redirect loops and scheme changes are in test_redirects.py.
"""

from __future__ import annotations

import re
import socket
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial

import pytest
import trio

import rawsock
from rawsock.sansio import FrameParser, Opcode, accept_key

MiB = 1024 * 1024
#: How soon the client must give up on a bad response or frame, in seconds.
PROMPT = 1.0

Script = Callable[[trio.SocketStream, str], Awaitable[None]]


@dataclass
class Seen:
    """What the hostile server saw from the client after the handshake."""

    frames: list[tuple[Opcode, bytes]] = field(default_factory=list)  # but pongs
    pongs: list[bytes] = field(default_factory=list)  # distinct payloads, in order
    pong_count: int = 0
    closed: trio.Event = field(default_factory=trio.Event)

    def close_code(self) -> int | None:
        for opcode, payload in self.frames:
            if opcode is Opcode.CLOSE:
                return int.from_bytes(payload[:2], "big") if payload else 1005
        return None


def response(key: str, *extra: str, accept: str | None = None) -> bytes:
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key) if accept is None else accept}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
          length: int | None = None, masked: bool = False) -> bytes:
    """A server frame written by hand; ``length`` may lie about the payload."""
    size = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head = struct.pack("!BB", first, mask_bit | size)
    elif size < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, size)
    return head + (b"\0\0\0\0" if masked else b"") + payload


def reset(stream: trio.SocketStream) -> None:
    """Make closing ``stream`` send a TCP RST."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def _read_client_frames(stream: trio.SocketStream, seen: Seen) -> None:
    parser = FrameParser(require_mask=True, max_frame_size=None)
    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while data := await stream.receive_some(65536):
            parser.feed(data)
            while (piece := parser.next_piece()) is not None:
                if piece.header.opcode is Opcode.PONG:  # (counted: a flood is long)
                    seen.pong_count += 1
                    if piece.data not in seen.pongs:
                        seen.pongs.append(piece.data)
                elif piece.first:
                    seen.frames.append((piece.header.opcode, piece.data))
    seen.closed.set()


@asynccontextmanager
async def hostile_server(
    script: Script, *, read_after: bool = True
) -> AsyncIterator[tuple[str, Seen]]:
    """A server that reads the request, then runs ``script(stream, key)``; meanwhile it
    records the client's frames (with ``read_after``). Yields its URL and the record."""
    seen = Seen()

    async def handler(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            data = await stream.receive_some(4096)
            if not data:
                return
            request += data
        match = re.search(rb"(?i)\r\nsec-websocket-key: *(\S+)", request)
        assert match is not None
        async with trio.open_nursery() as nursery:
            if read_after:
                nursery.start_soon(_read_client_frames, stream, seen)
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await script(stream, match.group(1).decode())

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        yield f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/", seen
        nursery.cancel_scope.cancel()


async def handshake_error(url: str, **options: object) -> rawsock.HandshakeError:
    with pytest.raises(rawsock.HandshakeError) as info:
        async with rawsock.connect(url, **options):  # type: ignore[arg-type]
            pass
    return info.value


async def closed_by(url: str, **options: object) -> rawsock.ConnectionClosed:
    """Connect and receive until the connection closes; the error it ends with."""
    async with rawsock.connect(url, **options) as ws:  # type: ignore[arg-type]
        with pytest.raises(rawsock.ConnectionClosed) as info:
            while True:
                await ws.receive()
    return info.value


# -- the opening handshake ---------------------------------------------------------------------


async def test_a_response_that_never_ends_times_out() -> None:
    async def script(stream: trio.SocketStream, key: str) -> None:
        await stream.send_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
        await trio.sleep_forever()

    async with hostile_server(script) as (url, _):
        with trio.fail_after(0.5 + PROMPT):
            error = await handshake_error(url, open_timeout=0.5)
    assert error.status_code == 408 and "0.5 s (open_timeout)" in str(error)


async def test_a_trickling_response_times_out() -> None:
    async def script(stream: trio.SocketStream, key: str) -> None:
        for byte in response(key):
            await stream.send_all(bytes([byte]))
            await trio.sleep(0.05)

    async with hostile_server(script) as (url, _):
        with trio.fail_after(0.5 + PROMPT):
            error = await handshake_error(url, open_timeout=0.5)
    assert error.status_code == 408


async def test_a_header_flood_is_refused_at_once_in_bounded_memory() -> None:
    async def script(stream: trio.SocketStream, key: str) -> None:
        await stream.send_all(b"HTTP/1.1 101 Switching Protocols\r\n")
        while True:
            await stream.send_all(b"X-Flood: " + b"x" * 1000 + b"\r\n")

    async with hostile_server(script) as (url, _):
        tracemalloc.start()
        try:
            with trio.fail_after(PROMPT):
                error = await handshake_error(url)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert "max_header_size" in str(error)
    assert peak < 1 * MiB


async def test_a_flood_of_informational_responses_is_refused_at_once() -> None:
    async def script(stream: trio.SocketStream, key: str) -> None:
        while True:
            await stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\n" * 100)

    async with hostile_server(script) as (url, _):
        with trio.fail_after(PROMPT):
            error = await handshake_error(url)
    assert "informational (1xx)" in str(error)


async def test_a_few_informational_responses_are_fine() -> None:
    async def script(stream: trio.SocketStream, key: str) -> None:
        await stream.send_all(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" * 3)
        await stream.send_all(response(key) + frame(0x1, b"hello"))
        await trio.sleep_forever()

    async with hostile_server(script) as (url, _), rawsock.connect(url, close_timeout=0.2) as ws:
        assert await ws.receive() == "hello"


@pytest.mark.parametrize(
    ("extra", "accept", "options", "message"),
    [
        ((), "d3Jvbmcgd3Jvbmcgd3Jvbmc=", {}, "Sec-WebSocket-Accept"),
        (("Sec-WebSocket-Protocol: chat",), None, {}, "subprotocol not offered"),
        (("Sec-WebSocket-Protocol: other",), None, {"subprotocols": ["chat"]}, "not offered"),
        (("Sec-WebSocket-Extensions: permessage-deflate",), None, {"compression": None},
         "extensions although none were offered"),
        (("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7",), None,
         {}, "server_max_window_bits"),
        (("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16",), None,
         {}, "server_max_window_bits"),
        (("Sec-WebSocket-Extensions: x-unknown",), None, {}, "x-unknown"),
    ],
    ids=["accept-key", "subprotocol", "other-subprotocol", "extension", "window-7",
         "window-16", "unknown-extension"],
)
async def test_a_101_that_breaks_the_rules_is_refused(
    extra: tuple[str, ...], accept: str | None, options: dict[str, object], message: str
) -> None:
    async def script(stream: trio.SocketStream, key: str) -> None:
        await stream.send_all(response(key, *extra, accept=accept))
        await trio.sleep_forever()

    async with hostile_server(script) as (url, _):
        with trio.fail_after(PROMPT):
            error = await handshake_error(url, **options)
    assert message in str(error)


@pytest.mark.parametrize("when", ["before-response", "mid-response"])
async def test_a_reset_during_the_handshake_is_reported_at_once(when: str) -> None:
    async def script(stream: trio.SocketStream, key: str) -> None:
        if when == "mid-response":
            await stream.send_all(response(key)[:40])
            await trio.sleep(0.05)
        reset(stream)
        await stream.aclose()

    async with hostile_server(script, read_after=False) as (url, _):
        with trio.fail_after(PROMPT):
            error = await handshake_error(url)
    assert "broke" in str(error) or "closed" in str(error)


# -- after the 101 -----------------------------------------------------------------------------


def after_101(data: bytes, *, then_wait: bool = True, extra: tuple[str, ...] = ()) -> Script:
    async def script(stream: trio.SocketStream, key: str) -> None:
        await stream.send_all(response(key, *extra) + data)
        if then_wait:
            await trio.sleep_forever()

    return script


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(0x1, b"hello", masked=True), 1002),
        (frame(0x2, length=2**63 - 1), 1009),
        (frame(0x2, length=MiB + 1), 1009),
        (frame(0x1, b"\xff\xfe"), 1007),
        (frame(0x1, b"ok", fin=False) + frame(0x0, b"\xc3"), 1007),  # truncated character
        (frame(0x8, (999).to_bytes(2, "big")), 1002),
        (frame(0x8, (1000).to_bytes(2, "big") + b"\xff"), 1007),
        (frame(0x3), 1002),  # reserved opcode
        (frame(0x2, b"x", rsv=0x40), 1002),  # RSV1 without permessage-deflate
        (frame(0x9, bytes(126)), 1002),  # a ping over 125 bytes
        (frame(0x0, b"x"), 1002),  # a continuation of nothing
    ],
    ids=["masked", "2^63-1-bytes", "limit-plus-1", "utf-8", "utf-8-truncated",
         "close-code-999", "close-reason-utf-8", "reserved-opcode", "rsv1", "long-ping",
         "lone-continuation"],
)
async def test_a_bad_frame_fails_the_connection_with_its_code(data: bytes, code: int) -> None:
    async with hostile_server(after_101(data)) as (url, seen):
        with trio.fail_after(PROMPT + 2):  # (the client reads on for at most 2 s)
            error = await closed_by(url, close_timeout=0.5)
        with trio.fail_after(PROMPT):
            await seen.closed.wait()  # the client closed TCP
    assert error.code == code
    if data[0] & 0x0F != 0x8:  # (a bad close frame is not answered)
        assert seen.close_code() == code  # the server was told why


def compressed(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -12)  # the window the client asks for
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


@pytest.mark.parametrize("how", ["one-frame", "fragments"])
async def test_a_decompression_bomb_is_refused_in_bounded_memory(how: str) -> None:
    bomb = compressed(bytes(200 * MiB))  # about 200 KiB on the wire
    if how == "one-frame":
        data = frame(0x2, bomb, rsv=0x40)
    else:
        step = len(bomb) // 50
        pieces = [bomb[i : i + step] for i in range(0, len(bomb), step)]
        data = frame(0x2, pieces[0], fin=False, rsv=0x40)
        data += b"".join(frame(0x0, piece, fin=False) for piece in pieces[1:])
    agreed = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    script = after_101(data, extra=(f"Sec-WebSocket-Extensions: {agreed}",))
    async with hostile_server(script) as (url, seen):
        tracemalloc.start()
        try:
            with trio.fail_after(PROMPT + 2):
                error = await closed_by(url, close_timeout=0.5)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert error.code == 1009 and seen.close_code() == 1009
    assert peak < 4 * MiB  # the 1 MiB limit, a joined copy, the reads: not 200 MiB


async def test_a_ping_flood_is_answered_in_bounded_memory() -> None:
    count = 50_000
    data = frame(0x9, b"p") * count + frame(0x1, b"end")
    async with hostile_server(after_101(data)) as (url, seen):
        tracemalloc.start()
        try:
            with trio.fail_after(10):
                async with rawsock.connect(url, close_timeout=0.2) as ws:
                    assert await ws.receive() == "end"
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        with trio.fail_after(PROMPT):
            await seen.closed.wait()
    assert seen.pong_count == count and seen.pongs == [b"p"]
    assert peak < 2 * MiB


async def test_a_server_that_never_closes_is_closed_after_close_timeout() -> None:
    """It answers our close frame but never closes TCP (§7.1.1 says it must)."""

    async def script(stream: trio.SocketStream, key: str) -> None:
        await stream.send_all(response(key))
        await seen_close.wait()
        await stream.send_all(frame(0x8, (1000).to_bytes(2, "big")))
        await trio.sleep_forever()

    seen_close = trio.Event()
    async with hostile_server(script) as (url, seen):
        async with rawsock.connect(url, close_timeout=0.5) as ws:
            started = trio.current_time()

            async def notice() -> None:
                while seen.close_code() is None:  # noqa: ASYNC110 (the recorder appends)
                    await trio.sleep(0.01)
                seen_close.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(notice)
                await ws.aclose()
            elapsed = trio.current_time() - started
        assert ws.close_code == 1000
    assert 0.5 <= elapsed < 0.5 + PROMPT


async def test_a_reset_mid_frame_is_1006_at_once() -> None:
    async def script(stream: trio.SocketStream, key: str) -> None:
        await stream.send_all(response(key) + frame(0x2, bytes(1000))[:500])
        await trio.sleep(0.05)
        reset(stream)
        await stream.aclose()

    async with hostile_server(script, read_after=False) as (url, _):
        with trio.fail_after(PROMPT):
            error = await closed_by(url)
    assert error.code == 1006 and not error.ok
