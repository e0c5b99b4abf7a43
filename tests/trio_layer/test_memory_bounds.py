"""Memory per connection stays within the documented worst case for any frame sequence.

A peer may send one message as any number of fragments, down to empty ones (RFC 6455
§5.4), and interleave control frames between them. Each test here sends such a sequence
to a real connection on loopback, server role (``rawsock.serve``, a raw client writing
masked frames) and client role (``rawsock.connect``, a raw server writing unmasked
ones), and measures the peak of Python's traced memory (``tracemalloc``: every object,
its overhead included) while the application receives. The bounds are the README's
("Liveness and memory"):

- the message ``receive()`` assembles, with its joined copy at the end, costs at most
  about 2.25 times its size (``FRAGMENTED_MESSAGE_FACTOR``) however it is fragmented;
- everything a connection holds for received data stays under the documented worst
  case: one read (256 KiB), the queue (``receive_buffer`` plus one read's worth) and
  twice ``max_message_size``.

Before the pieces of a message were gathered (``rawsock/sansio/_joiner.py``), a message
of one-byte fragments took about 123 bytes per payload byte.
"""

from __future__ import annotations

import contextlib
import re
import struct
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio

import rawsock
from rawsock._reader import MAX_READ_SIZE
from rawsock._session import PARSE_BATCH
from rawsock.sansio import _payload_buffer, accept_key

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
KiB = 1024
MiB = 1024 * KiB
#: What the README promises a fragmented message costs while assembled, per payload byte.
FRAGMENTED_MESSAGE_FACTOR = 2.25
#: Fixed costs measured with the message: a read's buffers, the chunk being gathered,
#: the event list of one read, trio's bookkeeping.
SLACK = 96 * KiB
#: What one batch of parsed frames may hold at once (``PARSE_BATCH`` events and their
#: objects, and the pongs waiting to be written).
BATCH_COST = PARSE_BATCH * 256 + 64 * KiB
#: Default receive budget (``receive_buffer``).
RECEIVE_BUFFER = 1 * MiB

REQUEST = (
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()


def response(key: str) -> bytes:
    """The 101 for a client's ``key``."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode()


def frame(opcode: int, payload: bytes, *, fin: bool, masked: bool) -> bytes:
    """One frame, written by hand (a zero masking key: the payload goes as it is)."""
    length = len(payload)
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head = struct.pack("!BB", first, length | mask_bit)
    elif length < 65536:
        head = struct.pack("!BBH", first, 126 | mask_bit, length)
    else:
        head = struct.pack("!BBQ", first, 127 | mask_bit, length)
    return head + (b"\0\0\0\0" if masked else b"") + payload


def fragmented(
    opcode: int, size: int, fragment: int, *, masked: bool, ping_every: int = 0
) -> bytes:
    """A message of ``size`` payload bytes in fragments of ``fragment`` bytes.

    With ``fragment == 0``, ``size`` empty fragments and a final one-byte one. With
    ``ping_every``, an empty ping after every so many fragments.
    """
    out = bytearray()
    count = size + 1 if fragment == 0 else size // fragment
    piece = b"a" * fragment
    for index in range(count):
        last = index == count - 1
        payload = b"a" if fragment == 0 and last else piece
        out += frame(opcode if index == 0 else 0, payload, fin=last, masked=masked)
        if ping_every and index % ping_every == ping_every - 1 and not last:
            out += frame(0x9, b"", fin=True, masked=masked)
    return bytes(out)


Receive = Callable[[rawsock.WebSocket], Awaitable[None]]


@asynccontextmanager
async def open_pair(role: str, data: bytes, **options: object) -> AsyncIterator[rawsock.WebSocket]:
    """A rawsock connection in ``role`` whose peer sends ``data`` right after the upgrade.

    The peer never answers a close frame: ``close_timeout`` is short.
    """
    options.setdefault("close_timeout", 0.2)
    async with trio.open_nursery() as nursery:
        if role == "server":
            opened: trio.MemorySendChannel[rawsock.WebSocket]
            opened, receiving = trio.open_memory_channel(1)
            done = trio.Event()

            async def handler(ws: rawsock.WebSocket) -> None:
                await opened.send(ws)
                await done.wait()

            server = await nursery.start(
                lambda task_status: rawsock.serve(
                    handler, "127.0.0.1", 0, task_status=task_status, **options
                )
            )
            peer = await trio.open_tcp_stream("127.0.0.1", server.port)
            await peer.send_all(REQUEST)
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                buffer += await peer.receive_some(4096)
            nursery.start_soon(_send_and_read, peer, data)
            try:
                yield await receiving.receive()
            finally:
                done.set()
                await peer.aclose()
                await server.aclose()
        else:

            async def serve_raw(stream: trio.SocketStream) -> None:
                buffer = b""
                while b"\r\n\r\n" not in buffer:
                    buffer += await stream.receive_some(4096)
                key = re.search(rb"(?i)sec-websocket-key: *(\S+)", buffer)
                assert key is not None
                await stream.send_all(response(key.group(1).decode()))
                await _send_and_read(stream, data)

            listeners = await nursery.start(trio.serve_tcp, serve_raw, 0)
            port = listeners[0].socket.getsockname()[1]
            async with rawsock.connect(f"ws://127.0.0.1:{port}/", **options) as ws:  # type: ignore[arg-type]
                yield ws
        nursery.cancel_scope.cancel()


async def _send_and_read(stream: trio.SocketStream, data: bytes) -> None:
    """Send ``data``, and meanwhile read and drop what comes back (pongs, close)."""

    async def read_all() -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while await stream.receive_some(4096):  # (small reads: little to trace)
                pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(data)


async def peak_while(receive: Callable[[], Awaitable[object]]) -> tuple[int, object]:
    """The peak of traced memory above the starting point while ``receive`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        result = await receive()
        return tracemalloc.get_traced_memory()[1] - start, result
    finally:
        tracemalloc.stop()


def documented_worst_case(max_message_size: int, receive_buffer: int = RECEIVE_BUFFER) -> float:
    """The README's worst case for received data per connection."""
    return MAX_READ_SIZE + receive_buffer + MAX_READ_SIZE + 2 * max_message_size


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize("kind", ["text", "binary"])
@pytest.mark.parametrize(
    ("fragment", "size"), [(0, 20_000), (1, 32 * KiB), (7, 64 * KiB), (125, 1 * MiB)]
)
async def test_a_fragmented_message_costs_a_small_multiple_of_its_size(
    role: str, kind: str, fragment: int, size: int
) -> None:
    opcode = 0x1 if kind == "text" else 0x2
    data = fragmented(opcode, size, fragment, masked=role == "server")
    limit = max(size, 1024)
    async with open_pair(role, data, max_message_size=limit) as ws:
        peak, message = await peak_while(ws.receive)
    payload = 1 if fragment == 0 else size // fragment * fragment
    assert isinstance(message, str if kind == "text" else bytes)
    assert len(message) == payload  # type: ignore[arg-type]
    print(f"{role} {kind} {fragment}: peak {peak} B, {peak / payload:.2f} B per payload byte")
    assert peak <= FRAGMENTED_MESSAGE_FACTOR * payload + SLACK, f"{peak / payload:.1f} B/byte"
    assert peak <= documented_worst_case(limit)


@pytest.mark.parametrize("role", ["server", "client"])
async def test_a_large_binary_frame_is_held_once(role: str) -> None:
    """A 4 MiB message in one frame: unmasked as it comes into the message itself
    (``rawsock/sansio/_payload_buffer.py``), never held twice; without the accelerator,
    in pieces joined at the end, as a fragmented message is."""
    size = 4 * MiB
    payload = bytes(range(256)) * (size // 256)
    data = frame(0x2, payload, fin=True, masked=role == "server")
    async with open_pair(role, data, max_message_size=size) as ws:
        peak, message = await peak_while(ws.receive)
    assert message == payload
    print(f"{role}: peak {peak} B, {peak / size:.2f} B per payload byte")
    if _payload_buffer.AVAILABLE:
        assert peak <= size + 2 * MAX_READ_SIZE + SLACK, f"{peak / size:.2f} B/byte"
    else:
        assert peak <= FRAGMENTED_MESSAGE_FACTOR * size + SLACK, f"{peak / size:.2f} B/byte"


@pytest.mark.parametrize("role", ["server", "client"])
async def test_pings_between_fragments_cost_no_more(role: str) -> None:
    size = 16 * KiB
    data = fragmented(0x2, size, 1, masked=role == "server", ping_every=1)
    async with open_pair(role, data, max_message_size=size) as ws:
        peak, message = await peak_while(ws.receive)
    assert message == b"a" * size
    print(f"{role} pings between fragments: peak {peak} B, {peak / size:.2f} B per payload byte")
    assert peak <= FRAGMENTED_MESSAGE_FACTOR * size + SLACK, f"{peak / size:.1f} B/byte"


@pytest.mark.parametrize("role", ["server", "client"])
async def test_a_queue_of_tiny_fragments_is_bounded_by_the_receive_budget(role: str) -> None:
    """Nobody receives: fragments queue up, counted with their object overhead, until
    the budget is full and reading stops (the rest waits in the socket)."""
    budget = 64 * KiB
    size = 256 * KiB  # four times the budget, in one-byte fragments
    data = fragmented(0x2, size, 1, masked=role == "server", ping_every=1)

    async def queue_for_a_while() -> None:
        await trio.sleep(1.0)

    async with open_pair(role, data, max_message_size=size, receive_buffer=budget) as ws:
        peak, _ = await peak_while(queue_for_a_while)
        message = await ws.receive()
    assert message == b"a" * size
    print(f"{role} queue: peak {peak} B")
    # the budget, at most one batch of parsed frames beyond it, the fixed costs
    assert peak <= budget + BATCH_COST + SLACK, f"{peak} bytes"


@pytest.mark.parametrize("role", ["server", "client"])
async def test_a_large_read_full_of_pings_is_parsed_in_bounded_batches(role: str) -> None:
    """Large frames grow the reads to their largest size; then a read of nothing but
    empty pings (43,000 of them for a server, 131,000 for a client). Their events and
    pongs are handled a batch at a time, not all at once."""
    size = 128 * KiB
    masked = role == "server"
    data = frame(0x2, b"b" * size, fin=True, masked=masked) * 8
    data += frame(0x9, b"", fin=True, masked=masked) * (MAX_READ_SIZE // (6 if masked else 2))
    data += frame(0x1, b"end", fin=True, masked=masked)

    expected = b"b" * size

    async def receive_all() -> list[bool]:  # (the messages are not kept: they count)
        return [await ws.receive() == expected for _ in range(8)] + [await ws.receive() == "end"]

    async with open_pair(role, data, max_message_size=size) as ws:
        peak, matched = await peak_while(receive_all)
    assert matched == [True] * 9
    print(f"{role} ping flood: peak {peak} B")
    # two messages (one received, the next queued), the largest read and the core's
    # copy of it, a batch, the fixed costs
    assert peak <= 2 * size + 2 * MAX_READ_SIZE + BATCH_COST + SLACK, f"{peak} bytes"
