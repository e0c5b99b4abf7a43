"""The WebSocket object: messages, liveness, backpressure, cancellation, closing."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from conftest import raw_client, raw_server_that_never_answers, tcp_pair

import rawsock
from rawsock._reader import MAX_READ_SIZE
from rawsock.sansio import Opcode, encode_frame
from rawsock.testing import connection_pair


async def test_messages_both_ways() -> None:
    with trio.fail_after(5):
        async with connection_pair("/chat?x=1") as (client, server):
            assert server.path == "/chat?x=1"
            assert server.request_headers.get("host") == rawsock.testing.DEFAULT_HOST
            await client.send("héllo")
            await client.send(b"\x00\x01")
            await client.send(bytearray(b"ba"))
            assert await server.receive() == "héllo"
            assert await server.receive() == b"\x00\x01"
            assert await server.receive() == b"ba"
            await server.send("back")
            assert await client.receive() == "back"


async def test_async_for_ends_quietly_on_normal_close() -> None:
    with trio.fail_after(5):
        async with connection_pair() as (client, server):
            await client.send("one")
            await client.send("two")
            await client.aclose()
            received = [message async for message in server]
            assert received == ["one", "two"]
            assert server.close_code == 1000


async def test_async_for_raises_on_abnormal_close() -> None:
    with trio.fail_after(5):
        async with connection_pair() as (client, server):
            await client.aclose(1011, "broken")
            with pytest.raises(rawsock.ConnectionClosed) as info:
                async for _ in server:
                    pass
            assert (info.value.code, info.value.reason, info.value.ok) == (1011, "broken", False)


async def test_receive_after_close_keeps_raising() -> None:
    with trio.fail_after(5):
        async with connection_pair() as (client, server):
            await server.aclose(4000, "done")
            for _ in range(2):
                with pytest.raises(rawsock.ConnectionClosed) as info:
                    await client.receive()
                assert info.value.code == 4000 and info.value.ok is False
            assert (client.close_code, client.close_reason) == (4000, "done")
            with pytest.raises(rawsock.ConnectionClosed):
                await client.send("late")


async def test_messages_received_before_close_are_delivered_first() -> None:
    with trio.fail_after(5):
        async with connection_pair() as (client, server):
            for i in range(3):
                await server.send(str(i))
            await server.aclose()
            assert [m async for m in client] == ["0", "1", "2"]


async def test_second_receiver_is_busy() -> None:
    with trio.fail_after(5):
        async with connection_pair() as (client, server), trio.open_nursery() as nursery:
            nursery.start_soon(server.receive)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await server.receive()
            await client.send("for the first")


async def test_ping_returns_round_trip_time() -> None:
    with trio.fail_after(5):
        async with tcp_pair() as (client, server):
            assert client.latency is None
            rtt = await client.ping()
            assert 0 < rtt < 5 and client.latency == rtt
            assert await server.ping(b"custom") > 0


async def test_ping_payload_must_be_unique_while_waiting() -> None:
    with trio.fail_after(5):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(raw_server_that_never_answers, server_stream)
            async with rawsock.connect("ws://x/", stream=client_stream, close_timeout=0.1) as ws:
                with trio.move_on_after(0.2) as scope:
                    async with trio.open_nursery() as inner:
                        inner.start_soon(ws.ping, b"same")
                        await trio.testing.wait_all_tasks_blocked()
                        with pytest.raises(ValueError):
                            await ws.ping(b"same")
                        inner.start_soon(ws.ping, b"other")  # a different payload is fine
                assert scope.cancelled_caught
            nursery.cancel_scope.cancel()


async def test_ping_fails_when_the_connection_closes() -> None:
    with trio.fail_after(5):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(raw_server_that_never_answers, server_stream)
            async with (
                rawsock.connect("ws://x/", stream=client_stream, close_timeout=0.2) as ws,
                trio.open_nursery() as inner,
            ):

                async def ping() -> None:
                    with pytest.raises(rawsock.ConnectionClosed):
                        await ws.ping()

                inner.start_soon(ping)
                await trio.testing.wait_all_tasks_blocked()
                await server_stream.aclose()


async def test_liveness_while_the_handler_only_sends() -> None:
    """Pings are answered and the peer's close is noticed without receive()."""
    with trio.fail_after(10):
        async with connection_pair() as (client, server):
            async with trio.open_nursery() as nursery:
                stopped = trio.Event()

                async def only_sends() -> None:
                    with pytest.raises(rawsock.ConnectionClosed):
                        while True:
                            await server.send("tick")
                            await trio.sleep(0.01)
                    stopped.set()

                nursery.start_soon(only_sends)
                rtt = await client.ping()
                assert rtt < 1
                await client.aclose(1001, "leaving")
                await stopped.wait()
            assert server.close_code == 1001


async def test_unread_data_is_bounded_and_nothing_is_lost() -> None:
    """With nobody receiving, reading stops at the budget: TCP backpressure, no loss."""
    budget = 256 * 1024
    count = 800  # 50 MiB of 64 KiB messages: far more than the socket buffers hold
    with trio.fail_after(30):
        options = {"receive_buffer": budget, "compression": None}  # keep the bytes on the wire
        async with tcp_pair(server_options=options) as (client, server):
            sent = 0
            async with trio.open_nursery() as nursery:

                async def sender() -> None:
                    nonlocal sent
                    for index in range(count):
                        await client.send(index.to_bytes(4, "big") * (16 * 1024))
                        sent += 1

                nursery.start_soon(sender)
                await trio.sleep(1)
                assert sent < count, "the sender was never slowed down"
                assert server.pending_bytes <= budget + MAX_READ_SIZE + 1024  # + one read
                for index in range(count):
                    assert await server.receive() == index.to_bytes(4, "big") * (16 * 1024)
            assert sent == count
            assert await client.ping() < 5


async def test_cancelled_receive_loses_nothing() -> None:
    with trio.fail_after(5):
        async with connection_pair() as (client, server):
            with trio.move_on_after(0.05):
                await server.receive()
            await client.send("after the cancel")
            assert await server.receive() == "after the cancel"


async def test_cancelled_receive_midway_through_a_frame_loses_nothing() -> None:
    with trio.fail_after(5):
        async with raw_client(close_timeout=0.1) as (server, client_stream, _):
            frame = encode_frame(Opcode.BINARY, bytes(range(200)), mask_key=b"abcd")
            await client_stream.send_all(frame[:50])
            with trio.move_on_after(0.05) as scope:
                await server.receive()
            assert scope.cancelled_caught
            await client_stream.send_all(frame[50:])
            assert await server.receive() == bytes(range(200))
            await server.aclose()


async def test_cancelled_send_midway_aborts_the_connection() -> None:
    """A frame cut in half can never be completed: the stream is closed, code 1006."""
    with trio.fail_after(10):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        raw = await trio.open_tcp_stream("127.0.0.1", port)
        handshake = rawsock.sansio.ClientHandshake(f"127.0.0.1:{port}", "/")
        await raw.send_all(handshake.request_bytes())
        server = await rawsock.accept(await listeners[0].accept())
        while handshake.next_response() is None:
            handshake.receive_data(await raw.receive_some())
        with trio.move_on_after(0.3) as scope:
            await server.send(bytes(64 * 1024 * 1024))  # the raw client is not reading
        assert scope.cancelled_caught
        with pytest.raises(rawsock.ConnectionClosed) as info:
            await server.send("next")
        assert info.value.code == 1006 and server.closed
        received = len(handshake.trailing_data)
        while chunk := await raw.receive_some(1024 * 1024):
            received += len(chunk)
        assert 0 < received < 64 * 1024 * 1024  # part of the frame, then EOF
        await raw.aclose()
        await listeners[0].aclose()


async def test_cancelled_send_before_writing_sends_nothing() -> None:
    with trio.fail_after(5):
        async with connection_pair() as (client, server):
            with trio.CancelScope() as scope:
                scope.cancel()
                await server.send("never")
            await server.send("sent")
            assert await client.receive() == "sent"


async def test_close_timeout_when_the_peer_never_answers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(raw_server_that_never_answers, server_stream)
        async with rawsock.connect("ws://x/", stream=client_stream, close_timeout=3) as ws:
            started = trio.current_time()
            await ws.aclose()
            # close_timeout for the answer, then 2 s more reading what the peer might
            # still send, so that closing does not reset the connection under it
            assert 3 + 2 <= trio.current_time() - started < 3 + 2 + 0.5
            assert ws.close_code == 1000 and ws.closed
        nursery.cancel_scope.cancel()


async def test_aclose_always_closes_even_when_cancelled() -> None:
    with trio.fail_after(5):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(raw_server_that_never_answers, server_stream)
            async with rawsock.connect("ws://x/", stream=client_stream) as ws:
                with trio.CancelScope() as scope:
                    scope.cancel()
                    await ws.aclose()
                assert ws.closed
                with pytest.raises(trio.ClosedResourceError):
                    await client_stream.send_all(b"x")
            nursery.cancel_scope.cancel()


async def test_aclose_rejects_invalid_codes_without_closing() -> None:
    with trio.fail_after(5):
        async with connection_pair() as (client, server):
            with pytest.raises(rawsock.LocalProtocolError):
                await client.aclose(1006)
            with pytest.raises(rawsock.LocalProtocolError):
                await client.aclose(1000, "x" * 124)
            await client.send("still open")
            assert await server.receive() == "still open"


async def test_protocol_error_closes_with_its_code() -> None:
    with trio.fail_after(5):
        async with raw_client() as (server, client_stream, _):
            # An unmasked client frame: 1002, sent as a close frame, then TCP closed.
            await client_stream.send_all(encode_frame(Opcode.TEXT, b"unmasked"))
            with pytest.raises(rawsock.ConnectionClosed) as info:
                await server.receive()
            assert info.value.code == 1002 and not info.value.ok
            assert isinstance(info.value.__cause__, rawsock.RemoteProtocolError)
            received = b""
            while chunk := await client_stream.receive_some():
                received += chunk
            assert received == encode_frame(Opcode.CLOSE, (1002).to_bytes(2, "big"))


async def test_many_senders_never_interleave() -> None:
    with trio.fail_after(20):
        async with tcp_pair() as (client, server), trio.open_nursery() as nursery:
            for task in range(10):
                payload = bytes([task]) * 100_000

                async def sender(payload: bytes = payload) -> None:
                    for _ in range(5):
                        await client.send(payload)

                nursery.start_soon(sender)
            for _ in range(50):
                message = await server.receive()
                assert isinstance(message, bytes) and len(message) == 100_000
                assert message == bytes([message[0]]) * 100_000


@pytest.mark.parametrize("delay", [0, 0.2])
async def test_messages_before_a_violation_are_answered_before_the_close(delay: float) -> None:
    """Autobahn 3.2 / 4.1.3 / 5.15: the echo precedes the 1002 close, whoever reads."""
    with trio.fail_after(5):
        client_stream, server_stream = trio.testing.memory_stream_pair()

        async def echo(ws: rawsock.WebSocket) -> None:
            await trio.sleep(delay)  # with a delay, the liveness reader reads first
            async for message in ws:
                await ws.send(message)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(rawsock.serve_stream, echo, server_stream)
            handshake = rawsock.sansio.ClientHandshake("x", "/")
            await client_stream.send_all(handshake.request_bytes())
            while handshake.next_response() is None:
                handshake.receive_data(await client_stream.receive_some())
            await client_stream.send_all(
                encode_frame(Opcode.TEXT, b"hello", mask_key=b"abcd")
                + encode_frame(Opcode.TEXT, b"bad", rsv=0x20, mask_key=b"abcd")
                + encode_frame(Opcode.PING, b"", mask_key=b"abcd")
            )
            received = handshake.trailing_data
            while chunk := await client_stream.receive_some():
                received += chunk
            assert received == encode_frame(Opcode.TEXT, b"hello") + encode_frame(
                Opcode.CLOSE, (1002).to_bytes(2, "big")
            )


async def test_frames_that_came_with_the_101_are_answered_at_once() -> None:
    """A ping and a bad frame in the same read as the 101: pong, then close 1007."""
    with trio.fail_after(5):
        client_stream, server_stream = trio.testing.memory_stream_pair()

        async def raw_server() -> bytes:
            handshake = rawsock.sansio.ServerHandshake()
            while (request := handshake.next_request()) is None:
                handshake.receive_data(await server_stream.receive_some())
            await server_stream.send_all(
                handshake.accept(handshake.validate(request))
                + encode_frame(Opcode.PING, b"hi")
                + encode_frame(Opcode.TEXT, b"\xff")
            )
            received = b""
            while len(received) < 8 + 8:  # masked pong "hi" + masked close 1007
                received += await server_stream.receive_some()
            return received

        async with trio.open_nursery() as nursery:
            result: list[bytes] = []
            done = trio.Event()

            async def run_server() -> None:
                result.append(await raw_server())
                done.set()

            nursery.start_soon(run_server)
            async with rawsock.connect("ws://x/", stream=client_stream, close_timeout=0.1) as ws:
                await done.wait()  # the application never calls receive()
                parser = rawsock.sansio.FrameParser(require_mask=True)
                parser.feed(result[0])
                pong, close = parser.next_piece(), parser.next_piece()
                assert pong is not None and pong.header.opcode is Opcode.PONG
                assert pong.data == b"hi"
                assert close is not None and close.header.opcode is Opcode.CLOSE
                assert close.data == (1007).to_bytes(2, "big")
                with pytest.raises(rawsock.ConnectionClosed) as info:
                    await ws.receive()
                assert info.value.code == 1007


async def test_aclose_on_a_broken_transport_does_not_raise() -> None:
    with trio.fail_after(5):
        async with raw_client(close_timeout=0.5) as (server, client_stream, _):
            await client_stream.aclose()  # the peer vanishes without a close frame
            await server.aclose()  # must close quietly
            assert server.closed and server.close_code == 1006


async def test_a_websocket_needs_a_chunked_protocol() -> None:
    client_stream, _ = trio.testing.memory_stream_pair()
    headers = rawsock.sansio.Headers()
    with pytest.raises(ValueError, match="chunked"):
        rawsock.WebSocket(
            client_stream,
            rawsock.sansio.Protocol(rawsock.sansio.Role.CLIENT),
            path="/",
            request_headers=headers,
            response_headers=headers,
            subprotocol=None,
        )


@pytest.mark.parametrize("receiving", [True, False])
async def test_aclose_lets_a_receiving_task_have_what_precedes_the_peers_close(
    receiving: bool,
) -> None:
    """Messages the peer sends before its close frame reach a task in receive()."""
    with trio.fail_after(5):
        async with raw_client() as (server, client_stream, _):
            received: list[str | bytes] = []
            ended = trio.Event()

            async def receiver() -> None:
                async for message in server:
                    received.append(message)
                ended.set()

            async def peer() -> None:
                parser = rawsock.sansio.FrameParser(require_mask=False)
                while (close := parser.next_piece()) is None:
                    parser.feed(await client_stream.receive_some())
                assert close.header.opcode is Opcode.CLOSE
                await client_stream.send_all(
                    encode_frame(Opcode.TEXT, b"late", mask_key=b"abcd")
                    + encode_frame(Opcode.CLOSE, (1000).to_bytes(2, "big"), mask_key=b"abcd")
                )

            async with trio.open_nursery() as nursery:
                if receiving:
                    nursery.start_soon(receiver)
                    await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(peer)
                await server.aclose()
                if receiving:
                    await ended.wait()
            assert received == (["late"] if receiving else [])
            assert server.close_code == 1000
