"""``handle_request``: plain HTTP on the WebSocket endpoint, over loopback TCP.

The hook sees every request before the upgrade and may answer it with any response:
health checks, 401, redirects, a static page. Without an answer the handshake goes on.
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.lowlevel
import trio.testing
from serving_helpers import exchange, plain_request, running_server, upgrade_request

import rawsock
from rawsock import HTTPResponse, Request

PAGE = "<!doctype html><title>chat</title><script>new WebSocket('ws://' + location.host)</script>"


def routes(request: Request) -> HTTPResponse | None:
    """A typical hook: a health check, a page for browsers, a moved endpoint."""
    if request.path == "/healthz":
        return HTTPResponse.text(200, "ok")
    if request.path == "/" and request.key is None:  # a browser asking for the page
        return HTTPResponse.html(PAGE)
    if request.path == "/old":
        return HTTPResponse.redirect("/", 301)
    if request.path == "/private":
        return HTTPResponse.text(401, "who are you?", [("WWW-Authenticate", 'Bearer realm="x"')])
    return None


async def test_health_check_page_and_redirect_are_plain_http() -> None:
    with trio.fail_after(10):
        async with running_server(handle_request=routes) as server:
            health = await exchange(server.port, plain_request("/healthz"))
            assert (health.status, health.body) == (200, b"ok\n")
            assert health.headers["content-type"] == "text/plain; charset=utf-8"
            assert health.headers["content-length"] == "3"
            assert health.headers["connection"] == "close"

            page = await exchange(server.port, plain_request("/"))
            assert page.status == 200
            assert page.body == PAGE.encode()
            assert page.headers["content-type"] == "text/html; charset=utf-8"

            moved = await exchange(server.port, plain_request("/old"))
            assert moved.status == 301
            assert moved.headers["location"] == "/"

            private = await exchange(server.port, upgrade_request("/private"))
            assert private.status == 401
            assert private.headers["www-authenticate"] == 'Bearer realm="x"'

            # The hook returned None: the upgrade goes on, on the same endpoint as the page.
            async with rawsock.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                await ws.send("still a WebSocket server")
                assert await ws.receive() == "still a WebSocket server"


async def test_head_gets_the_headers_without_the_body() -> None:
    with trio.fail_after(10):
        async with running_server(handle_request=routes) as server:
            response = await exchange(server.port, plain_request("/healthz", method="HEAD"))
    assert response.status == 200
    assert response.headers["content-length"] == "3"
    assert response.body == b""


async def test_without_a_hook_plain_http_gets_426_with_a_clear_body() -> None:
    with trio.fail_after(10):
        async with running_server() as server:
            response = await exchange(server.port, plain_request("/"))
    assert response.status == 426
    assert response.headers["upgrade"] == "websocket"
    assert b"only accepts WebSocket upgrades" in response.body


async def test_an_async_hook_sees_the_validated_upgrade_request() -> None:
    seen: list[Request] = []

    async def hook(request: Request) -> HTTPResponse | None:
        await trio.lowlevel.checkpoint()
        seen.append(request)
        return None

    with trio.fail_after(10):
        async with running_server(handle_request=hook) as server:
            url = f"ws://127.0.0.1:{server.port}/room?id=7"
            async with rawsock.connect(url, subprotocols=["chat"]) as ws:
                await ws.send("x")
                assert await ws.receive() == "x"
            await exchange(server.port, plain_request("/plain"))
    upgrade, plain = seen
    assert (upgrade.path, upgrade.query, upgrade.subprotocols) == ("/room", "id=7", ["chat"])
    assert upgrade.key is not None
    assert upgrade.host == f"127.0.0.1:{server.port}"
    assert (plain.path, plain.key) == ("/plain", None)


async def test_client_sees_the_hook_response_as_a_rejection() -> None:
    def deny(request: Request) -> HTTPResponse:
        return HTTPResponse.text(403, "no entry", [("X-Why", "closed")])

    with trio.fail_after(10):
        async with running_server(handle_request=deny) as server:
            with pytest.raises(rawsock.HandshakeRejected) as info:
                async with rawsock.connect(f"ws://127.0.0.1:{server.port}/"):
                    pass  # pragma: no cover
    assert info.value.status_code == 403
    assert info.value.body == b"no entry\n"
    assert ("x-why", "closed") in [(n.lower(), v) for n, v in info.value.headers]


@pytest.mark.parametrize(
    "hook",
    [
        pytest.param(lambda request: 1 / 0, id="raises"),
        pytest.param(lambda request: "not a response", id="wrong-type"),
        pytest.param(lambda request: HTTPResponse.__new__(HTTPResponse), id="broken-response"),
    ],
)
async def test_a_failing_hook_gets_500_logged_and_the_server_goes_on(
    hook: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="rawsock.server")
    with trio.fail_after(10):
        async with running_server(handle_request=hook) as server:
            response = await exchange(server.port, plain_request("/"))
            again = await exchange(server.port, plain_request("/"))
    assert response.status == again.status == 500
    failures = [r for r in caplog.records if r.name == "rawsock.server" and r.exc_info]
    assert len(failures) == 2
    assert all(isinstance(getattr(r, "conn_id", None), int) for r in failures)


async def test_accept_raises_handshake_error_with_the_status_the_hook_sent() -> None:
    client, server = trio.testing.memory_stream_pair()

    async def peer() -> None:
        await client.send_all(plain_request("/healthz"))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer)
            with pytest.raises(rawsock.HandshakeError) as info:
                await rawsock.accept(server, handle_request=routes)
    assert info.value.status_code == 200
    assert "GET /healthz" in str(info.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: HTTPResponse(101), "200-599"),
        (lambda: HTTPResponse(204, body=b"x"), "cannot have a body"),
        (lambda: HTTPResponse(200, [("Content-Length", "3")]), "written by the server"),
        (lambda: HTTPResponse.redirect("/", 200), "not a redirect"),
    ],
)
def test_invalid_responses_are_refused_when_built(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_redirect_escapes_the_location_in_its_page() -> None:
    response = HTTPResponse.redirect('/x?a="<b>"', 308)
    assert ("Location", '/x?a="<b>"') in response.headers
    assert b"&lt;b&gt;" in response.body and b"<b>" not in response.body
