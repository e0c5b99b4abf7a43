"""wss:// over real TLS on loopback, client options, URL parsing, client-side rejections."""

from __future__ import annotations

import ssl
from functools import partial

import pytest
import trio
import trustme

import rawsock


async def echo(ws: rawsock.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def serve_tls(
    nursery: trio.Nursery, handler: object, server_context: ssl.SSLContext
) -> int:
    """Serve WebSocket over TLS on a loopback port; return the port."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    tls_listeners = [trio.SSLListener(listener, server_context) for listener in listeners]
    serve_one = partial(rawsock.serve_stream, handler)
    await nursery.start(trio.serve_listeners, serve_one, tls_listeners)
    return int(listeners[0].socket.getsockname()[1])


async def test_wss_round_trip_with_a_real_certificate() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await serve_tls(nursery, echo, server_context)
            url = f"wss://127.0.0.1:{port}/secure"
            async with rawsock.connect(url, ssl_context=client_context) as ws:
                await ws.send("over TLS")
                assert await ws.receive() == "over TLS"
                await ws.send(bytes(300_000))
                assert await ws.receive() == bytes(300_000)
                assert await ws.ping() > 0
            assert ws.close_code == 1000
            nursery.cancel_scope.cancel()


async def test_wss_rejects_an_untrusted_certificate() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await serve_tls(nursery, echo, server_context)
            with pytest.raises(rawsock.HandshakeError) as info:
                async with rawsock.connect(f"wss://127.0.0.1:{port}/"):
                    pass  # pragma: no cover
            assert isinstance(info.value.__cause__, trio.BrokenResourceError)
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("url", "host_header", "target", "secure"),
    [
        ("ws://example.com", "example.com", "/", False),
        ("ws://example.com:80/a?b=c", "example.com", "/a?b=c", False),
        ("wss://example.com:443/", "example.com", "/", True),
        ("wss://example.com:8443/x", "example.com:8443", "/x", True),
        ("ws://[::1]:9000/", "[::1]:9000", "/", False),
    ],
)
def test_parse_url(url: str, host_header: str, target: str, secure: bool) -> None:
    parsed = rawsock.parse_url(url)
    assert (parsed.host_header, parsed.target, parsed.secure) == (host_header, target, secure)


@pytest.mark.parametrize(
    "url", ["http://example.com/", "ws://", "ws://example.com/#frag", "ws://example.com:99999/"]
)
def test_bad_urls_raise_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="WebSocket URL"):
        rawsock.parse_url(url)


async def test_refused_connection_is_an_os_error() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()
    with trio.fail_after(5), pytest.raises(OSError):
        async with rawsock.connect(f"ws://127.0.0.1:{port}/"):
            pass  # pragma: no cover


async def test_client_sees_status_headers_and_body_of_a_rejection() -> None:
    async def plain_http(stream: trio.SocketStream) -> None:
        await stream.receive_some()
        await stream.send_all(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nX-Why: test\r\n\r\nforbidden"
        )
        await stream.aclose()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, plain_http, 0)
            port = listeners[0].socket.getsockname()[1]
            with pytest.raises(rawsock.HandshakeRejected) as info:
                async with rawsock.connect(f"ws://127.0.0.1:{port}/"):
                    pass  # pragma: no cover
            assert info.value.status_code == 403
            assert ("X-Why", "test") in info.value.headers
            assert info.value.body == b"forbidden"
            nursery.cancel_scope.cancel()


async def test_client_open_timeout() -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, silent, 0)
            port = listeners[0].socket.getsockname()[1]
            with pytest.raises(rawsock.HandshakeError) as info:
                async with rawsock.connect(f"ws://127.0.0.1:{port}/", open_timeout=0.2):
                    pass  # pragma: no cover
            assert info.value.status_code == 408
            nursery.cancel_scope.cancel()


async def test_serve_reports_the_bound_port_and_options_reach_connections() -> None:
    async def handler(ws: rawsock.WebSocket) -> None:
        await ws.send(f"{ws.subprotocol} {ws.path}")
        await ws.receive()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(
                    rawsock.serve,
                    handler,
                    "127.0.0.1",
                    0,
                    subprotocols=["chat.v2", "chat.v1"],
                    extra_headers=[("X-Server", "rawsock")],
                    max_message_size=10,
                )
            )
            assert isinstance(server, rawsock.Server) and server.port > 0
            url = f"ws://127.0.0.1:{server.port}/room?id=7"
            async with rawsock.connect(url, subprotocols=["chat.v1", "chat.v2"]) as ws:
                assert ws.subprotocol == "chat.v2"
                assert ws.response_headers.get("x-server") == "rawsock"
                assert await ws.receive() == "chat.v2 /room?id=7"
                await ws.send("x" * 11)  # over the server's limit
                with pytest.raises(rawsock.ConnectionClosed) as info:
                    await ws.receive()
                assert info.value.code == 1009
            nursery.cancel_scope.cancel()
