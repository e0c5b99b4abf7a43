"""Interoperability with wsproto over loopback TCP, in both directions.

Our client (``rawsock.connect``) talks to a wsproto-driven server, and our server
(``rawsock.serve``) to a wsproto-driven client. wsproto parses, masks and validates on
the other side, so every message, close frame and handshake header is checked by an
independent implementation of RFC 6455.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import trio
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto_peer import PeerClosed, WsprotoPeer, serve_wsproto, wsproto_client

import rawsock
from rawsock import ConnectionClosed, WebSocket

BIG = 16 * 1024 * 1024
BIG_LIMIT = 32 * 1024 * 1024

MESSAGES: list[str | bytes] = [
    "hello",
    b"\x00\x01\x02\xfe\xff",
    "",
    b"",
    "héllo wörld ✓ — 日本語 🎉",
    "x" * 125,
    "y" * 126,
    b"z" * 65535,
    b"w" * 65536,
]


# -- plumbing ---------------------------------------------------------------------------


@asynccontextmanager
async def wsproto_server(
    handler: Callable[[WsprotoPeer], Awaitable[None]], **options: Any
) -> AsyncIterator[str]:
    """Run a wsproto server; yield its ``ws://`` base URL."""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(partial(serve_wsproto, handler, **options))
        yield f"ws://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def rawsock_server(
    handler: Callable[[WebSocket], Awaitable[None]], **options: Any
) -> AsyncIterator[int]:
    """Run ``rawsock.serve`` on 127.0.0.1; yield its port."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(rawsock.serve, handler, "127.0.0.1", 0, **options))
        yield server.port
        nursery.cancel_scope.cancel()


@dataclass
class Record:
    """What a server-side handler saw, for the test body to check afterwards."""

    done: trio.Event = field(default_factory=trio.Event)
    data: dict[str, Any] = field(default_factory=dict)

    def handler(
        self, body: Callable[[WebSocket, dict[str, Any]], Awaitable[None]]
    ) -> Callable[[WebSocket], Awaitable[None]]:
        async def run(ws: WebSocket) -> None:
            try:
                await body(ws, self.data)
            except BaseException as error:
                self.data["error"] = error
                raise
            finally:
                self.done.set()

        return run


async def echo_peer(peer: WsprotoPeer) -> None:
    """wsproto side: echo every message until the other side closes."""
    try:
        while True:
            await peer.send_message(await peer.receive_message())
    except PeerClosed:
        pass


async def echo_ws(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


# -- our client, wsproto server ---------------------------------------------------------


async def test_client_echo_text_binary_empty_unicode() -> None:
    seen: list[str | bytes] = []

    async def handler(peer: WsprotoPeer) -> None:
        try:
            while True:
                message = await peer.receive_message()
                seen.append(message)
                await peer.send_message(message)
        except PeerClosed:
            pass

    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url + "/") as ws:
            for message in MESSAGES:
                await ws.send(message)
                echoed = await ws.receive()
                assert type(echoed) is type(message)
                assert echoed == message
    assert seen == MESSAGES
    assert all(type(a) is type(b) for a, b in zip(seen, MESSAGES, strict=True))


async def test_client_receives_fragmented_messages() -> None:
    pongs: list[bytes] = []

    async def handler(peer: WsprotoPeer) -> None:
        await peer.send_fragments(["fra", "gmen", "ted ✓", ""])
        await peer.send_fragments([b"\x00\x01", b"", b"\x02" * 70000, b"\xff"])
        await peer.send_fragments(["", ""])
        # A ping between the fragments of a message (§5.4 allows control frames there).
        await peer.send_event(TextMessage(data="before ", message_finished=False))
        await peer.send_event(Ping(payload=b"in the middle"))
        await peer.send_event(TextMessage(data="after"))
        await peer.expect_close()
        pongs.extend(peer.pongs_received)

    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url) as ws:
            assert await ws.receive() == "fragmented ✓"
            assert await ws.receive() == b"\x00\x01" + b"\x02" * 70000 + b"\xff"
            assert await ws.receive() == ""
            assert await ws.receive() == "before after"
    assert pongs == [b"in the middle"]


async def test_client_large_binary_both_ways() -> None:
    payload = os.urandom(BIG)
    with trio.fail_after(20):
        async with (
            wsproto_server(echo_peer) as url,
            rawsock.connect(url, max_message_size=BIG_LIMIT) as ws,
        ):
            await ws.send(payload)
            echoed = await ws.receive()
            assert isinstance(echoed, bytes)
            assert len(echoed) == BIG
            assert echoed == payload


async def test_client_large_message_over_default_limit_fails_with_1009() -> None:
    # The wsproto server sends 2 MiB to a client with the default 1 MiB limit.
    closes: list[CloseConnection] = []

    async def handler(peer: WsprotoPeer) -> None:
        await peer.send_message(b"\x00" * (2 * 1024 * 1024))
        closes.append(await peer.expect_close())

    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url) as ws:
            with pytest.raises(ConnectionClosed) as info:
                await ws.receive()
            assert info.value.code == 1009
            assert not info.value.ok
    assert [c.code for c in closes] == [1009]


async def test_client_ping_returns_rtt() -> None:
    pings: list[bytes] = []

    async def handler(peer: WsprotoPeer) -> None:
        await echo_peer(peer)
        pings.extend(peer.pings_received)

    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url) as ws:
            rtt = await ws.ping()
            assert isinstance(rtt, float)
            assert 0 < rtt < 5
            assert ws.latency == rtt
            assert await ws.ping(b"custom payload") > 0
            await ws.send("still works")
            assert await ws.receive() == "still works"
    assert len(pings) == 2
    assert pings[1] == b"custom payload"


async def test_client_answers_server_pings_idle_and_receiving() -> None:
    idle_ponged = trio.Event()
    answered: list[bytes] = []

    async def handler(peer: WsprotoPeer) -> None:
        # Our application is not receiving: the connection must answer on its own.
        await peer.ping(b"idle?")
        idle_ponged.set()
        # Now our application sits in receive(); the message comes after the pong.
        await peer.ping(b"\x00busy\xff")
        await peer.send_message("after the pongs")
        answered.extend(peer.pongs_received)
        await peer.expect_close()

    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url) as ws:
            await idle_ponged.wait()
            assert await ws.receive() == "after the pongs"
    assert answered == [b"idle?", b"\x00busy\xff"]


@pytest.mark.parametrize(
    ("code", "reason", "ok"),
    [(1000, "", True), (1001, "going away", True), (4001, "bye", False), (1011, "ünï", False)],
)
async def test_client_initiates_close(code: int, reason: str, ok: bool) -> None:
    closes: list[CloseConnection] = []

    async def handler(peer: WsprotoPeer) -> None:
        closes.append(await peer.expect_close())

    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url) as ws:
            await ws.aclose(code, reason)
            assert ws.close_code == code
            assert ws.close_reason == reason
            assert ws.closed
            with pytest.raises(ConnectionClosed) as info:
                await ws.receive()
            assert (info.value.code, info.value.reason, info.value.ok) == (code, reason, ok)
            with pytest.raises(ConnectionClosed):
                await ws.send("too late")
    assert [(c.code, c.reason) for c in closes] == [(code, reason)]


async def test_client_close_on_context_exit_is_1000() -> None:
    closes: list[CloseConnection] = []

    async def handler(peer: WsprotoPeer) -> None:
        closes.append(await peer.expect_close())

    with trio.fail_after(5):
        async with wsproto_server(handler) as url:
            async with rawsock.connect(url) as ws:
                pass
            assert ws.close_code == 1000
    assert [c.code for c in closes] == [1000]


@pytest.mark.parametrize(
    ("code", "reason", "ok"),
    [(1000, "", True), (1001, "restart", True), (4001, "bye", False), (1011, "oops", False)],
)
async def test_server_peer_initiates_close(code: int, reason: str, ok: bool) -> None:
    replies: list[CloseConnection] = []

    async def handler(peer: WsprotoPeer) -> None:
        replies.append(await peer.close(code, reason))

    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url) as ws:
            with pytest.raises(ConnectionClosed) as info:
                await ws.receive()
            assert (info.value.code, info.value.reason, info.value.ok) == (code, reason, ok)
            assert ws.close_code == code
            assert ws.close_reason == reason
    assert [r.code for r in replies] == [code]  # the reply echoes the code (§5.5.1)


async def test_client_subprotocol_negotiation() -> None:
    offered: list[list[str]] = []

    async def handler(peer: WsprotoPeer) -> None:
        assert peer.request is not None
        offered.append(peer.request.subprotocols)
        await echo_peer(peer)

    with trio.fail_after(5):
        async with (
            wsproto_server(handler, subprotocols=["b"]) as url,
            rawsock.connect(url, subprotocols=["a", "b"]) as ws,
        ):
            assert ws.subprotocol == "b"
            await ws.send("x")
            assert await ws.receive() == "x"
    assert offered == [["a", "b"]]


async def test_client_no_common_subprotocol() -> None:
    with trio.fail_after(5):
        async with (
            wsproto_server(echo_peer, subprotocols=["c"]) as url,
            rawsock.connect(url, subprotocols=["a", "b"]) as ws,
        ):
            assert ws.subprotocol is None


async def test_client_extra_headers_and_path_with_query() -> None:
    requests: list[Any] = []

    async def handler(peer: WsprotoPeer) -> None:
        requests.append(peer.request)
        await echo_peer(peer)

    target = "/chat/room?x=1&y=%C3%A9"
    with trio.fail_after(5):
        async with (
            wsproto_server(handler) as url,
            rawsock.connect(url + target, extra_headers=[("X-Test", "yes")]) as ws,
        ):
            assert ws.path == target
            assert ws.request_headers.get("x-test") == "yes"
    (request,) = requests
    assert request.target == target
    headers = {bytes(n).lower(): bytes(v) for n, v in request.extra_headers}
    assert headers[b"x-test"] == b"yes"
    assert request.host == url.removeprefix("ws://")


async def test_client_async_for_ends_quietly_on_normal_close() -> None:
    async def handler(peer: WsprotoPeer) -> None:
        await peer.send_message("one")
        await peer.send_message(b"two")
        await peer.close(1000)

    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url) as ws:
            received = [message async for message in ws]
            assert received == ["one", b"two"]
            assert ws.close_code == 1000


async def test_client_async_for_raises_on_1011() -> None:
    async def handler(peer: WsprotoPeer) -> None:
        await peer.send_message("one")
        await peer.close(1011, "server trouble")

    received: list[str | bytes] = []
    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url) as ws:
            with pytest.raises(ConnectionClosed) as info:
                async for message in ws:
                    received.append(message)
    assert received == ["one"]
    assert (info.value.code, info.value.reason, info.value.ok) == (1011, "server trouble", False)


async def test_client_async_for_raises_1006_when_tcp_drops() -> None:
    async def handler(peer: WsprotoPeer) -> None:
        await peer.send_message("one")
        await peer.drop()

    received: list[str | bytes] = []
    with trio.fail_after(5):
        async with wsproto_server(handler) as url, rawsock.connect(url) as ws:
            with pytest.raises(ConnectionClosed) as info:
                async for message in ws:
                    received.append(message)
            assert ws.close_code == 1006
    assert received == ["one"]
    assert info.value.code == 1006
    assert not info.value.ok


# -- our server, wsproto client ---------------------------------------------------------


async def test_server_echo_text_binary_empty_unicode() -> None:
    with trio.fail_after(5):
        async with rawsock_server(echo_ws) as port, wsproto_client(port) as peer:
            for message in MESSAGES:
                await peer.send_message(message)
                echoed = await peer.receive_message()
                assert type(echoed) is type(message)
                assert echoed == message
            reply = await peer.close(1000)
            assert reply.code == 1000


async def test_server_reassembles_fragmented_messages() -> None:
    with trio.fail_after(5):
        async with rawsock_server(echo_ws) as port, wsproto_client(port) as peer:
            await peer.send_fragments(["fra", "gmen", "ted ✓", ""])
            assert await peer.receive_message() == "fragmented ✓"
            await peer.send_fragments([b"\x00\x01", b"", b"\x02" * 70000, b"\xff"])
            assert await peer.receive_message() == b"\x00\x01" + b"\x02" * 70000 + b"\xff"
            await peer.send_fragments(["", ""])
            assert await peer.receive_message() == ""
            await peer.send_event(BytesMessage(data=b"before ", message_finished=False))
            await peer.send_event(Ping(payload=b"in the middle"))
            await peer.send_event(BytesMessage(data=b"after"))
            assert await peer.receive_message() == b"before after"
            assert peer.pongs_received == [b"in the middle"]
            await peer.close()


async def test_server_large_binary_both_ways() -> None:
    payload = os.urandom(BIG)
    with trio.fail_after(20):
        async with (
            rawsock_server(echo_ws, max_message_size=BIG_LIMIT) as port,
            wsproto_client(port) as peer,
        ):
            await peer.send_message(payload)
            echoed = await peer.receive_message()
            assert len(echoed) == BIG
            assert echoed == payload
            await peer.close()


async def test_server_ping_returns_rtt() -> None:
    record = Record()

    async def body(ws: WebSocket, data: dict[str, Any]) -> None:
        data["rtt"] = await ws.ping()
        data["latency"] = ws.latency
        data["rtt2"] = await ws.ping(b"custom payload")
        await ws.send("pinged")
        await ws.receive()

    with trio.fail_after(5):
        async with rawsock_server(record.handler(body)) as port, wsproto_client(port) as peer:
            assert await peer.receive_message() == "pinged"
            assert len(peer.pings_received) == 2
            assert peer.pings_received[1] == b"custom payload"
            await peer.close()
            await record.done.wait()
    rtt = record.data["rtt"]
    assert isinstance(rtt, float)
    assert 0 < rtt < 5
    assert record.data["latency"] == rtt
    assert record.data["rtt2"] > 0


async def test_server_answers_client_pings_idle_and_receiving() -> None:
    record = Record()
    release = trio.Event()

    async def body(ws: WebSocket, data: dict[str, Any]) -> None:
        await release.wait()  # not receiving: the connection must answer by itself
        data["message"] = await ws.receive()
        await ws.send("got it")

    with trio.fail_after(5):
        async with rawsock_server(record.handler(body)) as port, wsproto_client(port) as peer:
            await peer.ping(b"idle?")
            release.set()
            await peer.ping(b"\x00busy\xff")
            await peer.send_message("hello")
            assert await peer.receive_message() == "got it"
            assert peer.pongs_received == [b"idle?", b"\x00busy\xff"]
            closed = await peer.expect_close()  # the handler returned: 1000
            assert closed.code == 1000
            await record.done.wait()
    assert record.data["message"] == "hello"


@pytest.mark.parametrize(
    ("code", "reason", "ok"),
    [(1000, "", True), (1001, "going away", True), (4001, "bye", False), (1011, "ünï", False)],
)
async def test_server_initiates_close(code: int, reason: str, ok: bool) -> None:
    record = Record()

    async def body(ws: WebSocket, data: dict[str, Any]) -> None:
        await ws.aclose(code, reason)
        data["code"], data["reason"] = ws.close_code, ws.close_reason
        try:
            await ws.receive()
        except ConnectionClosed as closed:
            data["closed"] = closed

    with trio.fail_after(5):
        async with rawsock_server(record.handler(body)) as port, wsproto_client(port) as peer:
            closed = await peer.expect_close()
            assert (closed.code, closed.reason) == (code, reason)
            assert peer.eof  # the server closed TCP after the handshake
            await record.done.wait()
    assert (record.data["code"], record.data["reason"]) == (code, reason)
    error = record.data["closed"]
    assert (error.code, error.reason, error.ok) == (code, reason, ok)


@pytest.mark.parametrize(
    ("code", "reason", "ok"),
    [(1000, "", True), (1001, "restart", True), (4001, "bye", False), (1011, "oops", False)],
)
async def test_client_peer_initiates_close(code: int, reason: str, ok: bool) -> None:
    record = Record()

    async def body(ws: WebSocket, data: dict[str, Any]) -> None:
        try:
            await ws.receive()
        except ConnectionClosed as closed:
            data["closed"] = closed
        data["code"], data["reason"] = ws.close_code, ws.close_reason

    with trio.fail_after(5):
        async with rawsock_server(record.handler(body)) as port, wsproto_client(port) as peer:
            reply = await peer.close(code, reason)
            assert reply.code == code
            assert peer.eof
            await record.done.wait()
    error = record.data["closed"]
    assert (error.code, error.reason, error.ok) == (code, reason, ok)
    assert (record.data["code"], record.data["reason"]) == (code, reason)


async def test_server_subprotocol_negotiation() -> None:
    record = Record()

    async def body(ws: WebSocket, data: dict[str, Any]) -> None:
        data["subprotocol"] = ws.subprotocol
        await echo_ws(ws)

    with trio.fail_after(5):
        async with (
            rawsock_server(record.handler(body), subprotocols=["b"]) as port,
            wsproto_client(port, subprotocols=["a", "b"]) as peer,
        ):
            assert peer.accepted is not None
            assert peer.accepted.subprotocol == "b"
            await peer.close()
            await record.done.wait()
    assert record.data["subprotocol"] == "b"


async def test_server_no_common_subprotocol() -> None:
    record = Record()

    async def body(ws: WebSocket, data: dict[str, Any]) -> None:
        data["subprotocol"] = ws.subprotocol
        await echo_ws(ws)

    with trio.fail_after(5):
        async with (
            rawsock_server(record.handler(body), subprotocols=["c"]) as port,
            wsproto_client(port, subprotocols=["a", "b"]) as peer,
        ):
            assert peer.accepted is not None
            assert peer.accepted.subprotocol is None
            await peer.close()
            await record.done.wait()
    assert record.data["subprotocol"] is None


async def test_server_sees_extra_headers_and_path_with_query() -> None:
    record = Record()

    async def body(ws: WebSocket, data: dict[str, Any]) -> None:
        data["x-test"] = ws.request_headers.get("X-Test")
        data["path"] = ws.path
        await echo_ws(ws)

    target = "/chat/room?x=1&y=%C3%A9"
    with trio.fail_after(5):
        async with (
            rawsock_server(record.handler(body)) as port,
            wsproto_client(port, target, extra_headers=[(b"X-Test", b"yes")]) as peer,
        ):
            await peer.close()
            await record.done.wait()
    assert record.data["x-test"] == "yes"
    assert record.data["path"] == target


async def test_server_async_for_ends_quietly_on_normal_close() -> None:
    record = Record()

    async def body(ws: WebSocket, data: dict[str, Any]) -> None:
        data["messages"] = [message async for message in ws]
        data["code"] = ws.close_code

    with trio.fail_after(5):
        async with rawsock_server(record.handler(body)) as port, wsproto_client(port) as peer:
            await peer.send_message("one")
            await peer.send_message(b"two")
            await peer.close(1000)
            await record.done.wait()
    assert "error" not in record.data
    assert record.data["messages"] == ["one", b"two"]
    assert record.data["code"] == 1000


@pytest.mark.parametrize("how", ["1011", "drop"])
async def test_server_async_for_raises_on_abnormal_close(how: str) -> None:
    record = Record()

    async def body(ws: WebSocket, data: dict[str, Any]) -> None:
        data["messages"] = messages = []
        try:
            async for message in ws:
                messages.append(message)
        except ConnectionClosed as closed:
            data["closed"] = closed
        data["code"] = ws.close_code

    with trio.fail_after(5):
        async with rawsock_server(record.handler(body)) as port, wsproto_client(port) as peer:
            await peer.send_message("one")
            if how == "drop":
                await peer.drop()
            else:
                await peer.close(1011, "client trouble")
            await record.done.wait()
    assert record.data["messages"] == ["one"]
    error = record.data["closed"]
    expected = (1006, "") if how == "drop" else (1011, "client trouble")
    assert (error.code, error.reason) == expected
    assert not error.ok
    assert record.data["code"] == expected[0]
