"""Robustness of the Trio layer over loopback TCP.

Failing handlers, file descriptor hygiene, rejected and slow opening handshakes, the
closing handshake timeout, bytes that arrive together with the handshake, and
concurrent use of one connection. Peers are raw sockets or wsproto
(see ``wsproto_peer``), never rawsock itself, where the check is about the wire.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto_peer import PeerClosed, WsprotoPeer, masked_frame, serve_wsproto, wsproto_client

import rawsock
from rawsock import ConnectionClosed, WebSocket

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING = 0x1, 0x2, 0x8, 0x9


# -- plumbing ---------------------------------------------------------------------------


@asynccontextmanager
async def rawsock_server(
    handler: Callable[[WebSocket], Awaitable[None]], **options: Any
) -> AsyncIterator[int]:
    """Run ``rawsock.serve`` on 127.0.0.1; yield its port."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(rawsock.serve, handler, "127.0.0.1", 0, **options))
        yield server.port
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def wsproto_server(
    handler: Callable[[WsprotoPeer], Awaitable[None]], **options: Any
) -> AsyncIterator[str]:
    """Run a wsproto server; yield its ``ws://`` base URL."""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(partial(serve_wsproto, handler, **options))
        yield f"ws://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


async def echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def assert_echoes(port: int) -> None:
    """A fresh connection to the server works end to end."""
    async with rawsock.connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send("still serving")
        assert await ws.receive() == "still serving"
        await ws.send(b"\x00\xff")
        assert await ws.receive() == b"\x00\xff"


async def read_until_eof(stream: trio.abc.ReceiveStream) -> bytes:
    """Everything the other side sends until it closes (a reset counts as closing)."""
    chunks = []
    try:
        while data := await stream.receive_some(65536):
            chunks.append(data)
    except trio.BrokenResourceError:
        pass
    return b"".join(chunks)


def parse_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, separator, body = data.partition(b"\r\n\r\n")
    assert separator, f"no complete response head in {data[:200]!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status, _ = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status), headers, body


def upgrade_request(request_line: str = "GET / HTTP/1.1", **changes: str | None) -> bytes:
    """A valid upgrade request head; ``changes`` replace (or, with None, drop) headers.

    Keyword names use ``_`` for ``-``: ``Sec_WebSocket_Version="8"``.
    """
    headers: dict[str, str | None] = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    headers.update({name.replace("_", "-"): value for name, value in changes.items()})
    lines = [request_line] + [f"{n}: {v}" for n, v in headers.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- failing handlers -------------------------------------------------------------------


async def test_handler_exception_closes_1011_logs_and_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(ws: WebSocket) -> None:
        message = await ws.receive()
        if message == "boom":
            raise RuntimeError("handler exploded")
        await ws.send(message)
        await echo(ws)

    caplog.set_level(logging.INFO, logger="rawsock.server")
    with trio.fail_after(10):
        async with rawsock_server(handler) as port:
            async with rawsock.connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("boom")
                with pytest.raises(ConnectionClosed) as info:
                    await ws.receive()
                assert info.value.code == 1011
                assert not info.value.ok
                assert ws.close_code == 1011

            # The same failure, seen by wsproto.
            async with wsproto_client(port) as peer:
                await peer.send_message("boom")
                with pytest.raises(PeerClosed) as closed:
                    await peer.receive_message()
                assert closed.value.code == 1011

            await assert_echoes(port)

    failures = [
        r
        for r in caplog.records
        if r.name == "rawsock.server" and r.levelno >= logging.ERROR and r.exc_info
    ]
    assert len(failures) == 2
    for record in failures:
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
        assert str(record.exc_info[1]) == "handler exploded"


# -- file descriptors -------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_no_fd_leak_after_1000_sequential_connections() -> None:
    url = ""

    async def one_connection(index: int) -> None:
        async with rawsock.connect(url) as ws:
            await ws.send(f"message {index}")
            assert await ws.receive() == f"message {index}"

    with trio.fail_after(120):
        async with rawsock_server(echo) as port:
            url = f"ws://127.0.0.1:{port}/"
            await one_connection(-1)  # warm up whatever is created lazily
            await trio.sleep(0.1)
            before = open_fds()
            for index in range(1000):
                await one_connection(index)
            after = open_fds()
            with trio.move_on_after(2):
                while after > before + 2:  # let the server side finish closing
                    await trio.sleep(0.05)
                    after = open_fds()
            assert after - before <= 2, f"{after - before} file descriptors left open"


# -- rejected opening handshakes --------------------------------------------------------


REJECTIONS = [
    pytest.param(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 426, {}, id="plain-get"),
    pytest.param(upgrade_request("POST / HTTP/1.1"), 405, {"allow": "GET"}, id="post"),
    pytest.param(
        upgrade_request(Sec_WebSocket_Version="8"),
        426,
        {"sec-websocket-version": "13"},
        id="version-8",
    ),
    pytest.param(upgrade_request(Sec_WebSocket_Key="not a key!"), 400, {}, id="bad-key"),
    pytest.param(
        upgrade_request(Sec_WebSocket_Key="AAECAwQFBgcICQoLDA0O"), 400, {}, id="15-byte-key"
    ),
    pytest.param(upgrade_request(Sec_WebSocket_Key=None), 400, {}, id="no-key"),
    pytest.param(upgrade_request("GET / HTTP/1.0"), 400, {}, id="http-1.0"),
    pytest.param(upgrade_request(f"GET /{'a' * 20000} HTTP/1.1"), 414, {}, id="huge-request-line"),
    pytest.param(
        upgrade_request(**{f"X_Header_{i}": "v" for i in range(200)}),
        431,
        {},
        id="too-many-headers",
    ),
    pytest.param(upgrade_request(X_Big="v" * 20000), 431, {}, id="huge-header"),
]


@pytest.mark.parametrize(("request_bytes", "status", "headers"), REJECTIONS)
async def test_rejected_handshake_gets_http_error_and_server_keeps_serving(
    request_bytes: bytes, status: int, headers: dict[str, str]
) -> None:
    handled: list[WebSocket] = []

    async def handler(ws: WebSocket) -> None:
        handled.append(ws)
        await echo(ws)

    with trio.fail_after(10):
        async with rawsock_server(handler) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(request_bytes)
                data = await read_until_eof(stream)  # the server closes after answering
            assert not data.startswith(b"HTTP/1.1 101")
            got_status, got_headers, _ = parse_response(data)
            assert got_status == status
            for name, value in headers.items():
                assert got_headers.get(name) == value
            assert not handled
            await assert_echoes(port)
    assert len(handled) == 1


async def test_valid_raw_request_gets_101() -> None:
    # The rejection cases above differ from this request in one thing each.
    with trio.fail_after(10):
        async with rawsock_server(echo) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(upgrade_request())
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = await stream.receive_some(65536)
                    assert chunk
                    data += chunk
                status, headers, _ = parse_response(data)
                assert status == 101
                assert headers["sec-websocket-accept"] == ACCEPT


# -- the opening handshake timeout ------------------------------------------------------


async def test_open_timeout_disconnects_a_silent_client() -> None:
    with trio.fail_after(10):
        async with rawsock_server(echo, open_timeout=0.5) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                start = trio.current_time()
                with trio.fail_after(2):
                    data = await read_until_eof(stream)
                elapsed = trio.current_time() - start
            assert b" 101 " not in data
            assert 0.3 <= elapsed < 2
            await assert_echoes(port)


async def test_open_timeout_disconnects_a_dribbling_client() -> None:
    # The request never completes although bytes keep arriving: the limit is for the
    # whole handshake, not per read.
    request = upgrade_request(X_Padding="p" * 400)

    async def dribble(stream: trio.SocketStream) -> None:
        try:
            for index in range(len(request) - 4):  # never the final blank line
                await stream.send_all(request[index : index + 1])
                await trio.sleep(0.02)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    with trio.fail_after(10):
        async with rawsock_server(echo, open_timeout=0.5) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream, trio.open_nursery() as nursery:
                nursery.start_soon(dribble, stream)
                start = trio.current_time()
                with trio.fail_after(2):
                    data = await read_until_eof(stream)
                elapsed = trio.current_time() - start
                nursery.cancel_scope.cancel()
            assert b" 101 " not in data
            assert 0.3 <= elapsed < 2
            await assert_echoes(port)


async def test_request_sent_byte_by_byte_within_the_timeout_succeeds() -> None:
    with trio.fail_after(10):
        async with rawsock_server(echo, open_timeout=1.5) as port:
            start = trio.current_time()
            async with wsproto_client(port, "/slow?x=1", dribble=0.002) as peer:
                assert trio.current_time() - start < 1.5
                await peer.send_message("made it")
                assert await peer.receive_message() == "made it"
                reply = await peer.close()
                assert reply.code == 1000


# -- the closing handshake timeout ------------------------------------------------------


async def test_close_timeout_server_drops_a_client_that_never_answers() -> None:
    outcome: dict[str, Any] = {}
    done = trio.Event()

    async def handler(ws: WebSocket) -> None:
        if ws.path != "/close":
            await echo(ws)
            return
        start = trio.current_time()
        try:
            await ws.aclose()
            outcome["aclose took"] = trio.current_time() - start
            outcome["code"] = ws.close_code
            try:
                await ws.receive()
            except ConnectionClosed as closed:
                outcome["closed"] = closed
        finally:
            done.set()

    with trio.fail_after(10):
        async with (
            rawsock_server(handler, close_timeout=0.5) as port,
            wsproto_client(port, "/close") as peer,
        ):
            event = await peer.next_event()  # read, but never answered
            assert isinstance(event, CloseConnection)
            assert event.code == 1000
            assert peer.conn.state is ConnectionState.REMOTE_CLOSING
            start = trio.current_time()
            with trio.fail_after(3):
                rest = await read_until_eof(peer.stream)
            elapsed = trio.current_time() - start
            await done.wait()
            await assert_echoes(port)
    assert rest == b""
    assert 0.3 <= elapsed < 2
    assert 0.4 <= outcome["aclose took"] < 2
    assert outcome["code"] == 1000
    assert not outcome["closed"].ok  # the closing handshake never completed


async def test_close_timeout_client_gives_up_on_a_server_that_never_answers() -> None:
    seen: list[CloseConnection] = []

    async def handler(peer: WsprotoPeer) -> None:
        event = await peer.next_event()
        assert isinstance(event, CloseConnection)
        seen.append(event)
        await read_until_eof(peer.stream)  # never answers, never closes

    with trio.fail_after(10):
        async with wsproto_server(handler) as url:
            async with rawsock.connect(url, close_timeout=0.5) as ws:
                start = trio.current_time()
                await ws.aclose(4001, "bye")
                elapsed = trio.current_time() - start
            assert 0.4 <= elapsed < 2
            assert ws.close_code == 4001
            with pytest.raises(ConnectionClosed) as info:
                await ws.receive()
            assert not info.value.ok
    assert [(e.code, e.reason) for e in seen] == [(4001, "bye")]


# -- bytes that arrive together with the handshake --------------------------------------


async def test_client_keeps_messages_sent_with_the_101_response() -> None:
    early = [TextMessage(data="early ✓"), BytesMessage(data=b"\x00binary")]

    async def handler(peer: WsprotoPeer) -> None:
        await peer.send_message(await peer.receive_message())
        await peer.expect_close()

    with trio.fail_after(5):
        async with (
            wsproto_server(handler, piggyback=early) as url,
            rawsock.connect(url) as ws,
        ):
            assert await ws.receive() == "early ✓"
            assert await ws.receive() == b"\x00binary"
            await ws.send("later")
            assert await ws.receive() == "later"


async def test_client_answers_a_ping_sent_with_the_101_response() -> None:
    pong_seen = trio.Event()

    async def handler(peer: WsprotoPeer) -> None:
        event = await peer.next_event()
        assert event == Pong(payload=b"early ping")
        pong_seen.set()
        await peer.expect_close()

    with trio.fail_after(5):
        async with (
            wsproto_server(handler, piggyback=[Ping(payload=b"early ping")]) as url,
            rawsock.connect(url) as ws,
        ):
            # The application does not receive or send: the pong must go out anyway.
            with trio.fail_after(2):
                await pong_seen.wait()
            assert ws.close_code is None


async def test_client_answers_a_close_sent_with_the_101_response() -> None:
    replies: list[CloseConnection] = []

    async def handler(peer: WsprotoPeer) -> None:
        replies.append(await peer.expect_close())  # the reply to the early close

    early_close = [CloseConnection(code=4001, reason="bye")]
    with trio.fail_after(5):
        async with wsproto_server(handler, piggyback=early_close) as url:
            # close_timeout is the default 10 s: the reply must not wait for it.
            with trio.fail_after(2):
                async with rawsock.connect(url) as ws:
                    with pytest.raises(ConnectionClosed) as info:
                        await ws.receive()
            assert (info.value.code, info.value.reason) == (4001, "bye")
    assert [r.code for r in replies] == [4001]


async def test_server_keeps_frames_sent_with_the_upgrade_request() -> None:
    received: list[str | bytes] = []

    async def handler(ws: WebSocket) -> None:
        async for message in ws:
            received.append(message)
            await ws.send(message)

    early = masked_frame(OP_TEXT, "early ✓".encode()) + masked_frame(OP_BINARY, b"\x00bin")
    with trio.fail_after(5):
        async with rawsock_server(handler) as port, wsproto_client(port, piggyback=early) as peer:
            assert await peer.receive_message() == "early ✓"
            assert await peer.receive_message() == b"\x00bin"
            await peer.send_message("later")
            assert await peer.receive_message() == "later"
            await peer.close()
    assert received == ["early ✓", b"\x00bin", "later"]


async def test_server_answers_a_ping_sent_with_the_upgrade_request() -> None:
    release = trio.Event()

    async def handler(ws: WebSocket) -> None:
        await release.wait()  # neither receiving nor sending

    with trio.fail_after(5):
        async with (
            rawsock_server(handler) as port,
            wsproto_client(port, piggyback=masked_frame(OP_PING, b"early ping")) as peer,
        ):
            with trio.fail_after(2):
                event = await peer.next_event()
            assert event == Pong(payload=b"early ping")
            release.set()
            assert (await peer.expect_close()).code == 1000


async def test_server_answers_a_close_sent_with_the_upgrade_request() -> None:
    release = trio.Event()

    async def handler(ws: WebSocket) -> None:
        await release.wait()  # neither receiving nor sending

    close_payload = (4001).to_bytes(2, "big") + b"bye"
    with trio.fail_after(5):
        async with (
            rawsock_server(handler) as port,
            wsproto_client(port, piggyback=masked_frame(OP_CLOSE, close_payload)) as peer,
        ):
            with trio.fail_after(2):
                event = await peer.next_event()
                assert isinstance(event, CloseConnection)
                assert event.code == 4001
                assert await read_until_eof(peer.stream) == b""  # then the server closes TCP
            release.set()


# -- concurrent use of one connection ---------------------------------------------------


async def test_second_concurrent_receive_raises_busy_resource_error() -> None:
    go = trio.Event()

    async def handler(peer: WsprotoPeer) -> None:
        await go.wait()
        await peer.send_message("first")
        await peer.send_message("second")
        await peer.expect_close()

    results: list[str | bytes] = []

    async def receive_one(ws: WebSocket) -> None:
        results.append(await ws.receive())

    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url) as ws:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(receive_one, ws)
                await trio.testing.wait_all_tasks_blocked(cushion=0.1)
                with pytest.raises(trio.BusyResourceError):
                    await ws.receive()
                go.set()
            assert results == ["first"]
            assert await ws.receive() == "second"  # free again


def numbered_message(sender: int, index: int, size: int = 10 * 1024) -> str | bytes:
    """A message that says who sent it, in which order, and is easy to check whole."""
    head = f"{sender:02d}:{index:02d}:"
    fill = chr(ord("a") + (sender * 7 + index) % 26) * (size - len(head))
    text = head + fill
    return text if sender % 2 == 0 else text.encode("ascii")


def check_interleaving(messages: list[str | bytes], senders: int, count: int) -> None:
    assert len(messages) == senders * count
    by_sender: dict[int, list[int]] = {}
    for message in messages:
        text = message if isinstance(message, str) else message.decode("ascii")
        sender, index = int(text[:2]), int(text[3:5])
        assert message == numbered_message(sender, index)  # whole, right type
        by_sender.setdefault(sender, []).append(index)
    assert by_sender == {s: list(range(count)) for s in range(senders)}


async def test_concurrent_client_senders_never_interleave_frames() -> None:
    senders, count = 20, 50
    received: list[str | bytes] = []

    async def handler(peer: WsprotoPeer) -> None:
        try:
            while True:
                received.append(await peer.receive_message())
        except PeerClosed as closed:
            assert closed.code == 1000

    async def sender(ws: WebSocket, number: int) -> None:
        for index in range(count):
            await ws.send(numbered_message(number, index))

    with trio.fail_after(20):
        async with (
            wsproto_server(handler) as url,
            rawsock.connect(url) as ws,
            trio.open_nursery() as nursery,
        ):
            for number in range(senders):
                nursery.start_soon(sender, ws, number)
    check_interleaving(received, senders, count)


async def test_concurrent_server_senders_never_interleave_frames() -> None:
    senders, count = 20, 50

    async def sender(ws: WebSocket, number: int) -> None:
        for index in range(count):
            await ws.send(numbered_message(number, index))

    async def handler(ws: WebSocket) -> None:
        async with trio.open_nursery() as nursery:
            for number in range(senders):
                nursery.start_soon(sender, ws, number)

    received: list[str | bytes] = []
    with trio.fail_after(20):
        async with rawsock_server(handler) as port, wsproto_client(port) as peer:
            with pytest.raises(PeerClosed) as closed:
                while True:
                    received.append(await peer.receive_message())
            assert closed.value.code == 1000
    check_interleaving(received, senders, count)
