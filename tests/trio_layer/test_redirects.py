"""The client follows 3xx redirects (bounded), mapping http(s) to ws(s), over loopback."""

from __future__ import annotations

import ssl

import pytest
import trio
import trustme
from serving_helpers import echo, running_server

import rawsock
from rawsock import HTTPResponse, Request


async def path_echo(ws: rawsock.WebSocket) -> None:
    await ws.send(f"{ws.path} {ws.request_headers.get('Authorization')}")
    await echo(ws)


async def test_relative_and_absolute_redirects_are_followed() -> None:
    seen: list[str] = []

    def hook(request: Request) -> HTTPResponse | None:
        seen.append(request.target)
        if request.path == "/old":
            return HTTPResponse.redirect("new?q=1", 301)  # relative to /old
        if request.path == "/elsewhere":
            return HTTPResponse.redirect(f"http://127.0.0.1:{other.port}/moved", 307)
        return None

    with trio.fail_after(10):
        async with (
            running_server(path_echo) as other,
            running_server(path_echo, handle_request=hook) as server,
        ):
            base = f"ws://127.0.0.1:{server.port}"
            credentials = [("Authorization", "Bearer t"), ("X-Trace", "1")]
            async with rawsock.connect(base + "/old", extra_headers=credentials) as ws:
                assert await ws.receive() == "/new?q=1 Bearer t"  # same host: kept
                assert ws.path == "/new?q=1"
            async with rawsock.connect(base + "/elsewhere", extra_headers=credentials) as ws:
                assert await ws.receive() == "/moved None"  # another port: dropped
                assert ws.request_headers.get("X-Trace") == "1"
    assert seen == ["/old", "/new?q=1", "/elsewhere"]


async def test_redirects_are_bounded() -> None:
    hits = 0

    def loop(request: Request) -> HTTPResponse:
        nonlocal hits
        hits += 1
        return HTTPResponse.redirect(request.target, 302)

    with trio.fail_after(10):
        async with running_server(handle_request=loop) as server:
            url = f"ws://127.0.0.1:{server.port}/loop"
            with pytest.raises(rawsock.HandshakeError, match="more than 10 redirects") as info:
                async with rawsock.connect(url):
                    pass  # pragma: no cover
            assert isinstance(info.value.__cause__, rawsock.HandshakeRejected)
            assert hits == 11
            with pytest.raises(rawsock.HandshakeRejected) as rejected:
                async with rawsock.connect(url, max_redirects=0):
                    pass  # pragma: no cover
            assert rejected.value.status_code == 302
            assert hits == 12


async def test_https_maps_to_wss_and_wss_never_downgrades() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    def hook(request: Request) -> HTTPResponse | None:
        if request.path == "/to-https":
            return HTTPResponse.redirect(f"https://localhost:{secure.port}/landed")
        if request.path == "/to-plain":
            return HTTPResponse.redirect(f"ws://localhost:{plain.port}/")
        return None

    with trio.fail_after(10):
        async with (
            running_server(path_echo) as plain,
            running_server(path_echo, ssl_context=server_context, handle_request=hook) as secure,
        ):
            url = f"wss://localhost:{secure.port}/to-https"
            async with rawsock.connect(url, ssl_context=client_context) as ws:
                assert (await ws.receive()).startswith("/landed")
            url = f"wss://localhost:{secure.port}/to-plain"
            with pytest.raises(rawsock.HandshakeError, match="wss:// to ws://"):
                async with rawsock.connect(url, ssl_context=client_context):
                    pass  # pragma: no cover


async def test_redirect_to_a_non_websocket_scheme_is_an_error() -> None:
    def hook(request: Request) -> HTTPResponse:
        return HTTPResponse.redirect("ftp://example.com/")

    with trio.fail_after(10):
        async with running_server(handle_request=hook) as server:
            with pytest.raises(ValueError, match="scheme must be ws or wss"):
                async with rawsock.connect(f"ws://127.0.0.1:{server.port}/"):
                    pass  # pragma: no cover
