"""Streaming: messages far larger than memory, received and sent piece by piece."""

from __future__ import annotations

import hashlib
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
from conftest import raw_client, tcp_pair

import rawsock
from rawsock.sansio import Opcode, encode_frame
from rawsock.testing import connection_pair

PLAIN = {"compression": None}


async def stream_echo(ws: rawsock.WebSocket) -> None:
    """The streaming echo handler: each message goes back out as it comes in."""
    while True:
        await ws.send_stream(ws.receive_stream())


async def test_a_huge_message_streams_through_an_echo_in_flat_memory() -> None:
    """1 GiB in 64 KiB fragments, echoed by a streaming handler, hashed on arrival."""
    total, piece = 1024 * 1024 * 1024, 64 * 1024
    block = bytes(range(256)) * (piece // 256)
    with trio.fail_after(240):
        async with tcp_pair(server_options=PLAIN, client_options=PLAIN) as (client, server):
            tracemalloc.start()
            try:
                async with trio.open_nursery() as nursery:

                    async def echo() -> None:
                        with pytest.raises(rawsock.ConnectionClosed):
                            await stream_echo(server)

                    nursery.start_soon(echo)

                    async def produce() -> AsyncIterator[bytes]:
                        for _ in range(total // piece):
                            yield block

                    nursery.start_soon(client.send_stream, produce())
                    digest, received = hashlib.sha256(), 0
                    async for chunk in client.receive_stream():
                        assert isinstance(chunk, bytes)
                        digest.update(chunk)
                        received += len(chunk)
                    _, peak = tracemalloc.get_traced_memory()
                    await client.aclose()
            finally:
                tracemalloc.stop()
    expected = hashlib.sha256()
    for _ in range(total // piece):
        expected.update(block)
    assert received == total and digest.digest() == expected.digest()
    assert peak < 32 * 1024 * 1024, f"peak traced memory {peak} bytes"


async def test_text_chunks_never_split_a_character() -> None:
    """Fragments cut inside characters arrive as chunks of whole characters."""
    text = "aé€😀" * 5000
    encoded = text.encode()
    with trio.fail_after(10):
        async with raw_client(**PLAIN) as (server, client_stream, _):
            pieces = [encoded[i : i + 7] for i in range(0, len(encoded), 7)]  # odd cuts
            frames = [
                encode_frame(
                    Opcode.TEXT if index == 0 else Opcode.CONTINUATION,
                    piece,
                    fin=index == len(pieces) - 1,
                    mask_key=b"mask",
                )
                for index, piece in enumerate(pieces)
            ]
            await client_stream.send_all(b"".join(frames))
            chunks = [chunk async for chunk in server.receive_stream()]
            assert all(isinstance(chunk, str) for chunk in chunks)
            assert "".join(chunks) == text  # type: ignore[arg-type]
            assert len(chunks) > 1


async def test_streamed_sending_rejects_mixed_types() -> None:
    with trio.fail_after(5):
        async with connection_pair() as (client, server):
            with pytest.raises(TypeError):
                await client.send_stream([b"bytes"], text=True)
            await client.send("still fine")
            assert await server.receive() == "still fine"


async def test_stream_size_limit_is_separate_and_enforced() -> None:
    with trio.fail_after(10):
        async with connection_pair(**PLAIN) as (client, server):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.send_stream, [bytes(600_000)] * 4)  # 2.4 MB
                received = 0
                async for chunk in server.receive_stream():  # no limit by default
                    received += len(chunk)
            assert received == 2_400_000  # beyond max_message_size (1 MiB): streams ignore it
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.send_stream, [bytes(600_000)] * 4)
                with pytest.raises(rawsock.ConnectionClosed) as info:
                    async for _ in server.receive_stream(max_size=1_000_000):
                        pass
                assert info.value.code == 1009


async def test_receive_still_limits_whole_messages() -> None:
    with trio.fail_after(10):
        async with (
            connection_pair(**PLAIN) as (client, server),
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(client.send_stream, [bytes(600_000)] * 4)
            with pytest.raises(rawsock.ConnectionClosed) as info:
                await server.receive()
            assert info.value.code == 1009


async def test_abandoned_stream_discards_the_rest_of_its_message() -> None:
    with trio.fail_after(10):
        async with connection_pair(**PLAIN) as (client, server):
            await client.send_stream([b"a" * 1000, b"b" * 1000, b"c" * 1000])
            await client.send("next message")
            async for chunk in server.receive_stream():
                # (the fragments one read brings come as one chunk)
                assert chunk.startswith(b"a" * 1000)
                break
            assert await server.receive() == "next message"


async def test_cancelling_a_streaming_receive_step_loses_nothing() -> None:
    with trio.fail_after(10):
        async with connection_pair(**PLAIN) as (client, server):
            send_second = trio.Event()

            async def chunks() -> AsyncIterator[bytes]:
                yield b"first" * 100
                await send_second.wait()
                yield b"second" * 100

            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.send_stream, chunks())
                stream = server.receive_stream()
                assert await stream.__anext__() == b"first" * 100
                with trio.move_on_after(0.05) as scope:
                    await stream.__anext__()
                assert scope.cancelled_caught
                send_second.set()
                assert await stream.__anext__() == b"second" * 100


async def test_control_frames_go_out_between_fragments() -> None:
    """A slow streaming send does not hold back pongs, pings or a close from others."""
    with trio.fail_after(10):
        async with connection_pair(**PLAIN) as (client, server):
            progress = trio.Event()

            async def slow_chunks() -> AsyncIterator[bytes]:
                yield b"x" * 1000
                progress.set()
                await trio.sleep(3600)  # never finishes by itself
                yield b"never"  # pragma: no cover

            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.send_stream, slow_chunks())
                await progress.wait()
                assert await server.ping() < 5  # the client's pong went out mid-message
                assert await client.ping() < 5  # and so did the client's own ping
                await server.aclose(1001, "going away")  # the close frame crosses too
                assert client.close_code == 1001
                nursery.cancel_scope.cancel()  # the source itself never ends


async def test_cancelling_a_streaming_send_midway_fails_the_connection_with_1011() -> None:
    with trio.fail_after(10):
        async with connection_pair(**PLAIN) as (client, server):
            started = trio.Event()

            async def slow_chunks() -> AsyncIterator[bytes]:
                yield b"x" * 1000
                yield b"y" * 1000
                started.set()
                await trio.sleep(3600)
                yield b"never"  # pragma: no cover

            async with trio.open_nursery() as nursery:

                cancel = trio.CancelScope()

                async def send_until_cancelled() -> None:
                    with cancel:
                        await client.send_stream(slow_chunks())

                nursery.start_soon(send_until_cancelled)
                await started.wait()
                cancel.cancel()
            with pytest.raises(rawsock.ConnectionClosed) as info:
                async for _ in server.receive_stream():
                    pass
            assert info.value.code == 1011
            assert client.close_code == 1011


def gigabyte_bomb() -> bytes:
    """About 1 MB of DEFLATE data that inflates to 1 GiB of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunks = [compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)]
    chunks += [compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)]
    repeat = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return b"".join(chunks) + repeat * 1022


@pytest.mark.parametrize("streaming", [False, True])
async def test_decompression_bomb_gets_1009_with_bounded_memory(streaming: bool) -> None:
    """Neither receive() nor receive_stream() lets a bomb inflate past the message limit."""
    bomb = gigabyte_bomb()
    with trio.fail_after(30):
        extensions = "permessage-deflate; client_max_window_bits"
        async with trio.open_nursery() as nursery, raw_client(extensions) as (
            server,
            client_stream,
            handshake,
        ):
            response = handshake.next_response()
            assert response is not None and response.extensions, "compression was declined"
            tracemalloc.start()
            try:
                # Fragments of 256 KiB, each within the frame limit (1 MiB by default).
                pieces = [bomb[i : i + 262144] for i in range(0, len(bomb), 262144)]
                frames = b"".join(
                    encode_frame(
                        Opcode.CONTINUATION if index else Opcode.BINARY,
                        piece,
                        fin=index == len(pieces) - 1,
                        rsv=0 if index else 0x40,
                        mask_key=b"mask",
                    )
                    for index, piece in enumerate(pieces)
                )
                nursery.start_soon(client_stream.send_all, frames)
                with pytest.raises(rawsock.ConnectionClosed) as info:
                    if streaming:
                        async for _ in server.receive_stream():
                            pass
                    else:
                        await server.receive()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert info.value.code == 1009
            assert "decompressed" in str(info.value.__cause__)
            assert peak < 16 * 1024 * 1024, f"peak traced memory {peak} bytes"
