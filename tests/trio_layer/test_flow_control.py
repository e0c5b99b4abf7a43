"""A peer that floods and never reads: memory stays within the budget, others are served."""

from __future__ import annotations

import resource

import pytest
import trio

import rawsock
from rawsock._reader import MAX_READ_SIZE
from rawsock.sansio import Opcode, encode_frame


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


async def test_a_flooding_client_that_never_reads(caplog: pytest.LogCaptureFixture) -> None:
    """It tries to send 200 MB of messages to an echo server and reads nothing back."""
    budget = rawsock.sansio.DEFAULT_MAX_MESSAGE_SIZE  # receive_buffer's default is 1 MiB
    frame = encode_frame(Opcode.BINARY, bytes(64 * 1024), mask_key=b"mask")
    connections: list[rawsock.WebSocket] = []

    async def echo(ws: rawsock.WebSocket) -> None:
        connections.append(ws)
        async for message in ws:
            await ws.send(message)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(rawsock.serve, echo, "127.0.0.1", 0)
            flooder = await trio.open_tcp_stream("127.0.0.1", server.port)
            handshake = rawsock.sansio.ClientHandshake(f"127.0.0.1:{server.port}", "/")
            await flooder.send_all(handshake.request_bytes())
            while handshake.next_response() is None:
                handshake.receive_data(await flooder.receive_some())
            before = rss_bytes()
            sent = 0

            async def flood() -> None:
                nonlocal sent
                try:
                    while sent < 200 * 1024 * 1024:
                        await flooder.send_all(frame)
                        sent += len(frame)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass  # the test closes this socket at the end

            nursery.start_soon(flood)
            await trio.sleep(3)  # the flood runs into backpressure long before 200 MB
            flooding = connections[0]
            assert sent < 200 * 1024 * 1024, "the flooder was never held back"
            assert flooding.pending_bytes <= budget + MAX_READ_SIZE + 1024
            grown = rss_bytes() - before
            assert grown < 32 * 1024 * 1024, f"RSS grew by {grown} bytes"
            # Everybody else is still served, promptly.
            async with rawsock.connect(f"ws://127.0.0.1:{server.port}/") as other:
                started = trio.current_time()
                await other.send("still there?")
                assert await other.receive() == "still there?"
                assert trio.current_time() - started < 1
            await flooder.aclose()
            await trio.sleep(0.5)  # the server notices, and closes its side without errors
            nursery.cancel_scope.cancel()
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert errors == []
