"""rawsock's HTTP/2 client (RFC 8441) against Hypercorn, a server nobody here wrote.

Hypercorn runs in the test's own Trio loop (``hypercorn.trio.serve``) on loopback, with
TLS from trustme; its ALPN offers ``h2`` and its SETTINGS carry
SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3), so ``connect(..., http2=True)`` opens
each WebSocket as an extended CONNECT stream. The ASGI app echoes and records what it
saw (its scope: ``http_version``, the client's address), which is how the tests prove,
from the server's side, that the WebSockets went over HTTP/2 and shared one connection.
Each test sets Hypercorn's shutdown trigger when it ends and waits for it to stop.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
import trio
import trustme
from hypercorn.config import Config
from hypercorn.trio import serve
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope, WebsocketScope

import rawsock

#: Seconds any one test may take.
TIMEOUT = 20
#: A message the app answers by closing the WebSocket itself, with this code and reason.
CLOSE_REQUEST = "close, please"
APP_CLOSE_CODE = 4321
APP_CLOSE_REASON = "asked to"


@dataclass
class EchoApp:
    """An ASGI app: echoes every WebSocket message as it came (text or bytes) and
    records each WebSocket's scope and its disconnect code."""

    scopes: list[WebsocketScope] = field(default_factory=list)
    disconnects: list[int] = field(default_factory=list)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert scope["type"] == "websocket", scope["type"]
        self.scopes.append(scope)
        while True:
            event = await receive()
            if event["type"] == "websocket.connect":
                await send({"type": "websocket.accept", "subprotocol": None, "headers": []})
            elif event["type"] == "websocket.receive":
                if event.get("text") == CLOSE_REQUEST:
                    await send(
                        {
                            "type": "websocket.close",
                            "code": APP_CLOSE_CODE,
                            "reason": APP_CLOSE_REASON,
                        }
                    )
                    continue  # until websocket.disconnect
                data, text = event.get("bytes"), event.get("text")
                await send({"type": "websocket.send", "bytes": data, "text": text})
            elif event["type"] == "websocket.disconnect":
                self.disconnects.append(event["code"])
                return


@dataclass(frozen=True)
class TLSFiles:
    certfile: Path
    keyfile: Path


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(ca: trustme.CA, tmp_path: Path) -> TLSFiles:
    """Hypercorn's certificate and key (it reads files), for localhost and 127.0.0.1."""
    cert = ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    return TLSFiles(certfile, keyfile)


@pytest.fixture
def client_context(ca: trustme.CA) -> Iterator[ssl.SSLContext]:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    yield context


@asynccontextmanager
async def hypercorn(
    app: EchoApp, tls: TLSFiles, alpn_protocols: list[str] | None = None
) -> AsyncIterator[int]:
    """Hypercorn serving ``app`` over TLS on 127.0.0.1, any free port (yielded); when
    the block ends, its shutdown trigger is set and this waits until it has stopped."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.certfile, config.keyfile = str(tls.certfile), str(tls.keyfile)
    if alpn_protocols is not None:
        config.alpn_protocols = alpn_protocols
    # Its logger, not a stream handler on the stderr of the test that created it.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5
    # After a closing handshake the client started, Hypercorn forgets the stream without
    # ending it (no END_STREAM, no RST_STREAM), so rawsock's client, which waits for the
    # server's end as for its TCP FIN (RFC 6455 §7.1.1, RFC 8441 §5), is released only
    # when Hypercorn closes the idle connection: after keep_alive_timeout (5 s by
    # default; with other WebSockets open on the connection, after close_timeout).
    config.keep_alive_timeout = 1
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(
            partial(serve, app, config, shutdown_trigger=shutdown.wait)
        )
        (bind,) = binds
        assert bind.startswith("https://127.0.0.1:"), bind
        try:
            yield int(bind.rpartition(":")[2])
        finally:
            shutdown.set()


async def test_a_websocket_over_http2_echoes_and_closes_cleanly(
    tls_files: TLSFiles, client_context: ssl.SSLContext
) -> None:
    app = EchoApp()
    text = "héllo, wörld — ✓ " * 50
    big = bytes(range(256)) * 1200  # 300 KiB: more than HTTP/2's 64 KiB default windows
    with trio.fail_after(TIMEOUT):
        async with hypercorn(app, tls_files) as port:
            url = f"wss://localhost:{port}/echo?x=1"
            async with rawsock.connect(url, ssl_context=client_context, http2=True) as ws:
                assert ws.http_version == "2"
                await ws.send(text)
                assert await ws.receive() == text
                await ws.send(big)
                assert await ws.receive() == big
                await ws.send(b"")
                assert await ws.receive() == b""
                # wsproto (Hypercorn's WebSocket layer) accepted rawsock's offer
                extensions = ws.response_headers.get("Sec-WebSocket-Extensions") or ""
                assert "permessage-deflate" in extensions
            assert ws.close_code == 1000
    (scope,) = app.scopes
    assert scope["http_version"] == "2"
    assert scope["path"] == "/echo"
    assert scope["query_string"] == b"x=1"
    assert app.disconnects != []  # the app heard the close and returned


async def test_the_servers_close_code_reaches_the_client(
    tls_files: TLSFiles, client_context: ssl.SSLContext
) -> None:
    app = EchoApp()
    hypercorn_crashed = False
    closed: list[rawsock.ConnectionClosed] = []
    with trio.fail_after(TIMEOUT):
        try:
            async with hypercorn(app, tls_files) as port:
                url = f"wss://127.0.0.1:{port}/"
                async with rawsock.connect(url, ssl_context=client_context, http2=True) as ws:
                    assert ws.http_version == "2"
                    await ws.send(CLOSE_REQUEST)
                    try:
                        await ws.receive()
                    except rawsock.ConnectionClosed as error:
                        closed.append(error)
        except* KeyError:
            # Hypercorn 0.18's own bug (hypercorn/protocol/h2.py, _handle_events): once
            # the client's Close has answered the app's, the stream is forgotten, and
            # the client's END_STREAM that follows (an empty DATA frame) is looked up
            # in its dict of streams without a guard: KeyError, and the whole server
            # stops. rawsock ends its stream as RFC 8441 §5 says; the client's side
            # (asserted below) is what this test is about.
            hypercorn_crashed = True
    ((code, reason),) = [(error.code, error.reason) for error in closed]
    assert (code, reason) == (APP_CLOSE_CODE, APP_CLOSE_REASON)
    assert ws.close_code == APP_CLOSE_CODE
    assert [scope["http_version"] for scope in app.scopes] == ["2"]
    assert hypercorn_crashed or app.disconnects != []


async def test_concurrent_websockets_share_one_http2_connection(
    tls_files: TLSFiles, client_context: ssl.SSLContext
) -> None:
    app = EchoApp()
    count = 4
    all_open = trio.Event()
    opened: list[rawsock.WebSocket] = []
    echoed: dict[int, list[str | bytes]] = {}

    async def client(index: int, url: str) -> None:
        async with rawsock.connect(url, ssl_context=client_context, http2=True) as ws:
            opened.append(ws)
            if len(opened) == count:
                all_open.set()
            await all_open.wait()  # every stream is open at once
            messages: list[str | bytes] = [f"client {index} ✓", bytes([index]) * 100_000]
            for message in messages:
                await ws.send(message)
            echoed[index] = [await ws.receive() for _ in messages]
            assert echoed[index] == messages

    with trio.fail_after(TIMEOUT):
        async with hypercorn(app, tls_files) as port:
            async with trio.open_nursery() as nursery:
                for index in range(count):
                    nursery.start_soon(client, index, f"wss://localhost:{port}/ws/{index}")
            # one more afterwards: the pooled connection closed with its last WebSocket
            url = f"wss://localhost:{port}/later"
            async with rawsock.connect(url, ssl_context=client_context, http2=True) as later:
                await later.send("later")
                assert await later.receive() == "later"
    assert sorted(echoed) == list(range(count))
    assert [ws.http_version for ws in opened] == ["2"] * count
    assert [ws.close_code for ws in opened] == [1000] * count
    assert later.close_code == 1000
    assert [scope["http_version"] for scope in app.scopes] == ["2"] * (count + 1)
    assert sorted(scope["path"] for scope in app.scopes[:count]) == [
        f"/ws/{index}" for index in range(count)
    ]
    clients = {scope["client"] for scope in app.scopes[:count]}
    # the same client address and port for every WebSocket: one TCP connection
    assert len(clients) == 1, clients
    # and a new one once the first had closed with its last WebSocket
    assert app.scopes[count]["client"] not in clients


async def test_http2_auto_falls_back_to_http11_when_hypercorn_offers_only_http11(
    tls_files: TLSFiles, client_context: ssl.SSLContext
) -> None:
    app = EchoApp()
    with trio.fail_after(TIMEOUT):
        async with hypercorn(app, tls_files, alpn_protocols=["http/1.1"]) as port:
            url = f"wss://localhost:{port}/auto"
            async with rawsock.connect(url, ssl_context=client_context, http2="auto") as ws:
                assert ws.http_version == "1.1"
                await ws.send("über HTTP/1.1")
                assert await ws.receive() == "über HTTP/1.1"
                await ws.send(bytes(300_000))
                assert await ws.receive() == bytes(300_000)
            assert ws.close_code == 1000
            with pytest.raises(rawsock.HandshakeError) as info:
                async with rawsock.connect(url, ssl_context=client_context, http2=True):
                    pass  # pragma: no cover
            assert "HTTP/1.1" in str(info.value)
            assert "ALPN" in str(info.value)
    # the failed http2=True attempt never reached the app; the fallback did, as HTTP/1.1
    assert [scope["http_version"] for scope in app.scopes] == ["1.1"]
