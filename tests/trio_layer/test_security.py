"""Checks before the upgrade, over loopback TCP: Host, Origin, Basic auth, subprotocol
selection, response headers, size limits, the open timeout (mock clock),
``max_connections``, and connection ids in the log records.
"""

from __future__ import annotations

import base64
import hmac
import logging

import pytest
import trio
import trio.lowlevel
import trio.testing
from serving_helpers import (
    exchange,
    parse_response,
    plain_request,
    read_to_eof,
    running_server,
    upgrade_request,
)

import rawsock
from rawsock import BasicAuth, HandshakeRejected, Request


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- Host -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("example.com", 101),
        ("EXAMPLE.com:8080", 101),
        ("chat.example.com", 421),  # "example.com" does not cover subdomains
        ("api.example.org", 101),  # ".example.org" does
        ("example.org", 101),
        ("evil.com", 421),
        ("127.0.0.1:9000", 101),
        ("127.0.0.1:9001", 421),  # the entry names a port
        ("[::1]", 101),
        ("", 400),
        ("a:b:c", 400),
    ],
)
async def test_allowed_hosts(host: str, status: int) -> None:
    allowed = ["example.com", ".example.org", "127.0.0.1:9000", "[::1]"]
    with trio.fail_after(10):
        async with running_server(allowed_hosts=allowed) as server:
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with stream:
                await stream.send_all(upgrade_request(Host=host))
                head = await stream.receive_some(4096)
    assert parse_response(head).status == status


async def test_allowed_hosts_is_checked_before_the_hook() -> None:
    def hook(request: Request) -> rawsock.HTTPResponse:
        return rawsock.HTTPResponse.text(200, "hook ran")

    with trio.fail_after(10):
        async with running_server(allowed_hosts=["good.test"], handle_request=hook) as server:
            bad = await exchange(server.port, plain_request(host="bad.test"))
            good = await exchange(server.port, plain_request(host="good.test"))
    assert bad.status == 421
    assert (good.status, good.body) == (200, b"hook ran\n")


# -- Origin -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://app.example.com", 101),
        ("HTTPS://APP.EXAMPLE.COM", 101),
        ("https://evil.example.com", 403),
        ("null", 403),
        (None, 101),  # no Origin: allowed because None is in the list
    ],
)
async def test_origin_allow_list(origin: str | None, status: int) -> None:
    origins = ["https://app.example.com", None]
    headers = [("Origin", origin)] if origin is not None else []
    with trio.fail_after(10):
        async with running_server(origins=origins) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            if status == 101:
                async with rawsock.connect(url, extra_headers=headers) as ws:
                    await ws.send("in")
                    assert await ws.receive() == "in"
            else:
                with pytest.raises(HandshakeRejected) as info:
                    async with rawsock.connect(url, extra_headers=headers):
                        pass  # pragma: no cover
                assert info.value.status_code == status


async def test_origin_required_when_none_is_not_listed() -> None:
    with trio.fail_after(10):
        async with running_server(origins=["https://app.example.com"]) as server:
            with pytest.raises(HandshakeRejected) as info:
                async with rawsock.connect(f"ws://127.0.0.1:{server.port}/"):
                    pass  # pragma: no cover
    assert info.value.status_code == 403


# -- Basic authentication ----------------------------------------------------------------


async def test_basic_auth_accepts_valid_credentials_and_challenges_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    comparisons: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        comparisons.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    users: list[str] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        pair = rawsock.parse_basic_auth(ws.request_headers.get("Authorization"))
        assert pair is not None
        users.append(pair[0])
        await ws.send(f"hello {pair[0]}")

    auth = BasicAuth({"alice": "s3cret", "bob": "pässword"}, realm="chat room")
    with trio.fail_after(10):
        async with running_server(handler, basic_auth=auth) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            for user, password in [("alice", "s3cret"), ("bob", "pässword")]:
                headers = [("Authorization", basic(user, password))]
                async with rawsock.connect(url, extra_headers=headers) as ws:
                    assert await ws.receive() == f"hello {user}"
            for headers in (
                [],
                [("Authorization", basic("alice", "wrong"))],
                [("Authorization", basic("mallory", "s3cret"))],
                [("Authorization", "Basic !!!not base64")],
                [("Authorization", "Bearer abc")],
            ):
                with pytest.raises(HandshakeRejected) as info:
                    async with rawsock.connect(url, extra_headers=headers):
                        pass  # pragma: no cover
                assert info.value.status_code == 401
                challenge = dict((n.lower(), v) for n, v in info.value.headers)
                assert challenge["www-authenticate"] == 'Basic realm="chat room", charset="UTF-8"'
    assert users == ["alice", "bob"]
    # Every password check went through the constant-time comparison, unknown users too.
    assert (b"s3cret", b"s3cret") in comparisons
    assert (b"wrong", b"s3cret") in comparisons
    assert len(comparisons) == 4


async def test_basic_auth_with_an_async_check_function() -> None:
    async def check(user: str, password: str) -> bool:
        await trio.lowlevel.checkpoint()
        return (user, password) == ("svc", "token")

    with trio.fail_after(10):
        async with running_server(basic_auth=BasicAuth(check)) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            async with rawsock.connect(
                url, extra_headers=[("Authorization", basic("svc", "token"))]
            ):
                pass
            with pytest.raises(HandshakeRejected) as info:
                async with rawsock.connect(
                    url, extra_headers=[("Authorization", basic("svc", "x"))]
                ):
                    pass  # pragma: no cover
    assert info.value.status_code == 401


def test_basic_auth_helpers() -> None:
    assert rawsock.parse_basic_auth(basic("a", "b:c")) == ("a", "b:c")
    assert rawsock.parse_basic_auth("basic " + base64.b64encode(b"u:").decode()) == ("u", "")
    assert rawsock.parse_basic_auth(basic("a", "b").replace("Basic", "Digest")) is None
    assert rawsock.parse_basic_auth("Basic " + base64.b64encode(b"no colon").decode()) is None
    assert rawsock.parse_basic_auth(None) is None
    with pytest.raises(ValueError, match="quoted string"):
        BasicAuth({}, realm='say "hi"')


# -- subprotocols and response headers ----------------------------------------------------


async def test_select_subprotocol_callback_and_extra_headers() -> None:
    calls: list[tuple[str, list[str]]] = []

    async def select(request: Request, offered: list[str]) -> str | None:
        calls.append((request.path, offered))
        if request.path == "/refuse":
            raise rawsock.HandshakeError("No subprotocol we speak.", 400)
        return offered[-1] if offered else None  # the client's least preferred, to prove it

    headers = [("X-Served-By", "rawsock"), ("Set-Cookie", "session=1")]
    with trio.fail_after(10):
        async with running_server(select_subprotocol=select, extra_headers=headers) as server:
            base = f"ws://127.0.0.1:{server.port}"
            async with rawsock.connect(base + "/", subprotocols=["v2", "v1"]) as ws:
                assert ws.subprotocol == "v1"
                assert ws.response_headers.get("X-Served-By") == "rawsock"
                assert ws.response_headers.get("Set-Cookie") == "session=1"
            async with rawsock.connect(base + "/") as ws:
                assert ws.subprotocol is None
            with pytest.raises(HandshakeRejected) as info:
                async with rawsock.connect(base + "/refuse", subprotocols=["v3"]):
                    pass  # pragma: no cover
    assert info.value.status_code == 400
    assert info.value.body == b"No subprotocol we speak."
    assert calls == [("/", ["v2", "v1"]), ("/", []), ("/refuse", ["v3"])]


async def test_select_subprotocol_returning_one_not_offered_is_a_500() -> None:
    with trio.fail_after(10):
        async with running_server(select_subprotocol=lambda request, offered: "zz") as server:
            with pytest.raises(HandshakeRejected) as info:
                async with rawsock.connect(f"ws://127.0.0.1:{server.port}/", subprotocols=["a"]):
                    pass  # pragma: no cover
    assert info.value.status_code == 500


# -- handshake hygiene ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (upgrade_request("/" + "a" * 300), 414),
        (upgrade_request(X_Big="v" * 600), 431),
        (upgrade_request(**{f"X_H{i}": "v" for i in range(20)}), 431),
    ],
)
async def test_size_limits_are_serve_options(request_bytes: bytes, status: int) -> None:
    limits = {"max_request_line": 256, "max_header_size": 512, "max_headers": 16}
    with trio.fail_after(10):
        async with running_server(**limits) as server:
            response = await exchange(server.port, request_bytes)
            async with rawsock.connect(f"ws://127.0.0.1:{server.port}/ok"):
                pass  # an ordinary client stays within the limits
    assert response.status == status


async def test_dribbling_client_is_dropped_at_the_open_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One byte per second never finishes within the 10 s default: dropped at 10 s."""
    client, server = trio.testing.memory_stream_pair()
    request = upgrade_request()
    sent = 0

    async def dribble() -> None:
        nonlocal sent
        try:
            for byte in request:
                await client.send_all(bytes((byte,)))
                sent += 1
                await trio.sleep(1)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(dribble)
        with pytest.raises(rawsock.HandshakeError) as info:
            await rawsock.accept(server)
        dropped_at = trio.current_time() - start
        assert await read_to_eof(client) == b""  # closed without a response
        nursery.cancel_scope.cancel()
    assert info.value.status_code == 408
    assert dropped_at == pytest.approx(10.0)
    assert 10 <= sent <= 11 < len(request)


async def test_max_connections_answers_503_then_closes() -> None:
    release = trio.Event()

    async def hold(ws: rawsock.WebSocket) -> None:
        await release.wait()

    with trio.fail_after(10):
        async with running_server(hold, max_connections=2) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            async with rawsock.connect(url), rawsock.connect(url):
                assert server.connections == 2
                refused = await exchange(server.port, upgrade_request())
                with pytest.raises(HandshakeRejected) as info:
                    async with rawsock.connect(url):
                        pass  # pragma: no cover
                release.set()
            # Below the limit again: served.
            with trio.fail_after(2):
                while server.connections:  # noqa: ASYNC110 - server state, no event to wait on
                    await trio.sleep(0.01)
            async with rawsock.connect(url):
                pass
    assert refused.status == 503
    assert refused.headers["connection"] == "close"
    assert info.value.status_code == 503


# -- logging -----------------------------------------------------------------------------


async def test_every_server_record_of_a_connection_has_its_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="rawsock")
    with trio.fail_after(10):
        async with running_server() as server:
            async with rawsock.connect(f"ws://127.0.0.1:{server.port}/a") as ws:
                await ws.send("x")
                await ws.receive()
            await exchange(server.port, plain_request("/b"))
            await trio.sleep(0.1)
    server_records = [r for r in caplog.records if r.name == "rawsock.server"]
    ids = {getattr(r, "conn_id", "missing") for r in server_records}
    assert "missing" not in ids
    connection_ids = ids - {None}
    assert len(connection_ids) == 2  # one id per connection, on every record about it
    for record in server_records:
        if record.conn_id is not None:  # type: ignore[attr-defined]
            assert record.getMessage().startswith(f"[#{record.conn_id}] ")  # type: ignore[attr-defined]
    client_records = [r for r in caplog.records if r.name == "rawsock.client"]
    assert client_records
    assert all(isinstance(getattr(r, "conn_id", None), int) for r in client_records)


async def test_a_connection_closed_before_any_request_is_logged_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Port probes and TCP health checks send nothing: DEBUG, not an HTTP 400 at INFO."""
    caplog.set_level(logging.DEBUG, logger="rawsock.server")
    with trio.fail_after(10):
        async with running_server() as server:
            probe = await trio.open_tcp_stream("127.0.0.1", server.port)
            await probe.aclose()
            partial = await trio.open_tcp_stream("127.0.0.1", server.port)
            await partial.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            await partial.send_eof()
            assert (await partial.receive_some()).startswith(b"HTTP/1.1 400 ")
            await partial.aclose()
            await trio.sleep(0.1)
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "rawsock.server"]
    quiet = [m for level, m in records if "without sending a request" in m]
    assert len(quiet) == 1 and all(
        level == logging.DEBUG for level, m in records if "without sending a request" in m
    )
    answered = [m for level, m in records if level == logging.INFO and "HTTP 400" in m]
    assert len(answered) == 1  # only the half-sent request was answered
