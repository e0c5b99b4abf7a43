"""The client through HTTP CONNECT proxies: a small proxy written here, on loopback.

The proxy resolves every host name to 127.0.0.1, so URLs with made-up names
(``echo.test``) only work through it: a connection that succeeds went through it.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import trio
import trustme
from serving_helpers import echo, running_server

import rawsock
from rawsock._proxy import parse_proxy_url, proxy_from_environment


@dataclass
class ConnectProxy:
    """A minimal HTTP CONNECT proxy for the tests."""

    credentials: str | None = None  # expected Proxy-Authorization value
    refuse_with: int | None = None
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        await trio.serve_listeners(self.handle, listeners, task_status=task_status)

    async def handle(self, client: trio.SocketStream) -> None:
        async with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await client.receive_some(4096)
                if not chunk:
                    return
                head += chunk
            request_line, *lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ")
            headers = {
                n.strip().lower(): v.strip() for n, _, v in (x.partition(":") for x in lines)
            }
            self.requests.append((f"{method} {target}", headers))
            if self.credentials and headers.get("proxy-authorization") != self.credentials:
                await client.send_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                )
                return
            if self.refuse_with is not None:
                await client.send_all(
                    f"HTTP/1.1 {self.refuse_with} No\r\nContent-Length: 0\r\n\r\n".encode()
                )
                return
            _, _, port = target.rpartition(":")
            upstream = await trio.open_tcp_stream("127.0.0.1", int(port))
            async with upstream:
                await client.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(relay, client, upstream)
                    nursery.start_soon(relay, upstream, client)


async def relay(source: trio.SocketStream, sink: trio.SocketStream) -> None:
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
        await sink.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


@asynccontextmanager
async def running_proxy(**options: object) -> AsyncIterator[ConnectProxy]:
    proxy = ConnectProxy(**options)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.run)
        yield proxy
        nursery.cancel_scope.cancel()


async def test_ws_through_an_explicit_proxy() -> None:
    hosts: list[str | None] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        hosts.append(ws.request_headers.get("Host"))
        await echo(ws)

    with trio.fail_after(10):
        async with running_server(handler) as server, running_proxy() as proxy:
            url = f"ws://echo.test:{server.port}/chat"
            async with rawsock.connect(url, proxy=proxy.url) as ws:
                await ws.send("through the tunnel")
                assert await ws.receive() == "through the tunnel"
                await ws.send(bytes(100_000))
                assert await ws.receive() == bytes(100_000)
            assert ws.close_code == 1000
    assert [r[0] for r in proxy.requests] == [f"CONNECT echo.test:{server.port}"]
    assert proxy.requests[0][1]["host"] == f"echo.test:{server.port}"
    assert hosts == [f"echo.test:{server.port}"]


@pytest.fixture
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("secure.test").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


async def test_wss_through_the_proxy_from_https_proxy(
    tls: tuple[ssl.SSLContext, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    server_context, client_context = tls
    with trio.fail_after(10):
        async with running_server(ssl_context=server_context) as server, running_proxy() as proxy:
            monkeypatch.setenv("https_proxy", proxy.url)
            monkeypatch.setenv("no_proxy", "other.test,.internal")
            url = f"wss://secure.test:{server.port}/"
            # proxy=True is the default: the environment decides.
            async with rawsock.connect(url, ssl_context=client_context) as ws:
                await ws.send("TLS inside the tunnel")
                assert await ws.receive() == "TLS inside the tunnel"
    assert [r[0] for r in proxy.requests] == [f"CONNECT secure.test:{server.port}"]


async def test_ws_through_the_proxy_from_http_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with trio.fail_after(10):
        async with running_server() as server, running_proxy() as proxy:
            monkeypatch.setenv("http_proxy", proxy.url.removeprefix("http://"))  # no scheme
            async with rawsock.connect(f"ws://echo.test:{server.port}/") as ws:
                await ws.send("x")
                assert await ws.receive() == "x"
            # Loopback hosts never go through the environment's proxy.
            async with rawsock.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                await ws.send("y")
                assert await ws.receive() == "y"
    assert len(proxy.requests) == 1


async def test_proxy_credentials_from_the_url() -> None:
    expected = "Basic " + base64.b64encode(b"user:p@ss word").decode()
    with trio.fail_after(10):
        async with running_server() as server, running_proxy(credentials=expected) as proxy:
            url = f"ws://echo.test:{server.port}/"
            authenticated = f"http://user:p%40ss%20word@127.0.0.1:{proxy.port}"
            async with rawsock.connect(url, proxy=authenticated) as ws:
                await ws.send("authorized")
                assert await ws.receive() == "authorized"
            with pytest.raises(rawsock.ProxyError) as info:
                async with rawsock.connect(url, proxy=proxy.url):
                    pass  # pragma: no cover
    assert info.value.status_code == 407
    assert ("proxy-authenticate", 'Basic realm="test"') in info.value.headers
    assert isinstance(info.value, rawsock.HandshakeError)


async def test_proxy_refusals_and_unreachable_proxies() -> None:
    with trio.fail_after(10):
        async with running_server() as server, running_proxy(refuse_with=403) as proxy:
            url = f"ws://echo.test:{server.port}/"
            with pytest.raises(rawsock.ProxyError) as info:
                async with rawsock.connect(url, proxy=proxy.url):
                    pass  # pragma: no cover
            assert info.value.status_code == 403
            listener = trio.socket.socket()
            await listener.bind(("127.0.0.1", 0))
            closed_port = listener.getsockname()[1]
            listener.close()
            with pytest.raises(OSError):
                async with rawsock.connect(url, proxy=f"http://127.0.0.1:{closed_port}"):
                    pass  # pragma: no cover
            with pytest.raises(ValueError, match="unsupported proxy scheme"):
                async with rawsock.connect(url, proxy="socks5://127.0.0.1:1080"):
                    pass  # pragma: no cover


@pytest.mark.parametrize(
    ("secure", "host", "environ", "expected"),
    [
        (True, "example.com", {"https_proxy": "http://p:1"}, "http://p:1"),
        (True, "example.com", {"HTTPS_PROXY": "http://p:2"}, "http://p:2"),
        (True, "example.com", {"http_proxy": "http://p:1"}, None),
        (False, "example.com", {"http_proxy": "http://p:1"}, "http://p:1"),
        (False, "example.com", {"HTTP_PROXY": "http://p:1"}, "http://p:1"),
        (False, "example.com", {"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"}, None),
        (False, "example.com", {"all_proxy": "http://p:3"}, "http://p:3"),
        (True, "example.com", {"https_proxy": "http://p:1", "no_proxy": "*"}, None),
        (True, "api.example.com", {"https_proxy": "http://p:1", "no_proxy": "example.com"}, None),
        (True, "api.example.com", {"https_proxy": "http://p:1", "no_proxy": ".example.com"}, None),
        (True, "example.com", {"https_proxy": "http://p:1", "NO_PROXY": "example.com:443"}, None),
        (
            True,
            "example.com",
            {"https_proxy": "http://p:1", "no_proxy": "example.com:8443"},
            "http://p:1",
        ),
        (
            True,
            "badexample.com",
            {"https_proxy": "http://p:1", "no_proxy": "example.com"},
            "http://p:1",
        ),
        (True, "10.1.2.3", {"https_proxy": "http://p:1", "no_proxy": "10.0.0.0/8"}, None),
        (True, "11.1.2.3", {"https_proxy": "http://p:1", "no_proxy": "10.0.0.0/8"}, "http://p:1"),
        (True, "fd00::5", {"https_proxy": "http://p:1", "no_proxy": "fd00::/8"}, None),
        (True, "localhost", {"https_proxy": "http://p:1"}, None),
        (True, "127.0.0.2", {"https_proxy": "http://p:1"}, None),
        (True, "::1", {"https_proxy": "http://p:1"}, None),
    ],
)
def test_proxy_from_environment(
    secure: bool, host: str, environ: dict[str, str], expected: str | None
) -> None:
    port = 443 if secure else 80
    assert proxy_from_environment(secure, host, port, environ) == expected


def test_parse_proxy_url() -> None:
    parsed = parse_proxy_url("https://u:p@proxy.example")
    assert (parsed.secure, parsed.host, parsed.port) == (True, "proxy.example", 443)
    assert parsed.authorization == "Basic " + base64.b64encode(b"u:p").decode()
    assert parse_proxy_url("proxy:3128").port == 3128
    assert parse_proxy_url("http://proxy").authorization is None
    with pytest.raises(ValueError):
        parse_proxy_url("http://proxy:99999")
