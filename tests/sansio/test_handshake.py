"""The opening handshake (RFC 6455 §4), byte by byte, and against wsproto."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto import ConnectionType
from wsproto import events as wse
from wsproto.extensions import PerMessageDeflate
from wsproto.handshake import H11Handshake
from wsproto.utilities import generate_accept_token

from rawsock.sansio._client_handshake import ClientHandshake
from rawsock.sansio._errors import HandshakeError, HandshakeRejected, LocalProtocolError
from rawsock.sansio._handshake import ServerHandshake
from rawsock.sansio._handshake_parts import Request, Response, accept_key
from rawsock.sansio._headers import Headers

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3
RAW_KEY = base64.b64decode(KEY)
UPGRADE_HEADERS = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]
FRAME = b"\x81\x05hello"  # an unmasked text frame


def make_request(
    headers: list[tuple[str, str]] | None = None,
    *,
    method: str = "GET",
    target: str = "/chat",
    version: str = "1.1",
    drop: tuple[str, ...] = (),
    add: list[tuple[str, str]] | None = None,
) -> bytes:
    lines = [f"{method} {target} HTTP/{version}"]
    for name, value in UPGRADE_HEADERS if headers is None else headers:
        if name.lower() not in drop:
            lines.append(f"{name}: {value}")
    lines += [f"{name}: {value}" for name, value in add or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def split_response(data: bytes) -> tuple[str, Headers, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    return status_line, Headers(tuple(line.split(": ", 1)) for line in lines), body  # type: ignore[misc]


def server_request(data: bytes, **limits: int) -> tuple[ServerHandshake, Request | None]:
    server = ServerHandshake(**limits)
    server.receive_data(data)
    return server, server.next_request()


def validated(data: bytes) -> tuple[ServerHandshake, Request]:
    server, request = server_request(data)
    assert request is not None
    return server, server.validate(request)


def validation_error(data: bytes) -> HandshakeError:
    server, request = server_request(data)
    assert request is not None
    with pytest.raises(HandshakeError) as info:
        server.validate(request)
    return info.value


def test_accept_key_rfc_vector() -> None:
    assert accept_key(KEY) == ACCEPT


@given(st.binary(min_size=16, max_size=16))
def test_accept_key_matches_wsproto(raw: bytes) -> None:
    key = base64.b64encode(raw)
    assert accept_key(key.decode()) == generate_accept_token(key).decode()


# --- server: the happy path ----------------------------------------------------------


def test_valid_request_gets_101() -> None:
    server, request = validated(make_request(add=[("Origin", "http://example.com")]))
    assert request.method == "GET"
    assert request.target == request.path == "/chat"
    assert request.http_version == "1.1"
    assert request.key == KEY
    assert request.host == "server.example.com"
    assert request.origin == "http://example.com"
    assert request.subprotocols == []
    assert request.extensions == []
    response = server.accept(request)
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    )
    assert server.response_headers.get("sec-websocket-accept") == ACCEPT
    assert server.trailing_data == b""


def test_request_path_and_query() -> None:
    _, request = validated(make_request(target="/a/b?x=1&y=2"))
    assert request.target == "/a/b?x=1&y=2"
    assert request.path == "/a/b"
    assert request.query == "x=1&y=2"
    _, absolute = validated(make_request(target="http://server.example.com/p?q"))
    assert absolute.path == "/p"


def test_token_lists_are_case_insensitive_and_spread_over_lines() -> None:
    headers = [
        ("Host", "h"),
        ("Upgrade", "WebSocket"),
        ("Connection", "keep-alive"),
        ("connection", "UPGRADE"),
        ("sec-websocket-key", KEY),
        ("SEC-WEBSOCKET-VERSION", "13"),
    ]
    validated(make_request(headers))
    drop = ("connection", "upgrade")
    validated(
        make_request(
            drop=drop, add=[("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade")]
        )
    )
    many = [("Upgrade", "h2c, HTTP/2.0"), ("Upgrade", "websocket"), ("Connection", "Upgrade")]
    validated(make_request(drop=drop, add=many))


def test_extra_headers_and_extensions_in_101() -> None:
    server, request = validated(
        make_request(add=[("Sec-WebSocket-Extensions", 'x-foo; a="1", x-bar')])
    )
    assert request.extensions == [("x-foo", [("a", "1")]), ("x-bar", [])]
    response = server.accept(request, extensions="x-foo; a=1", extra_headers=[("X-A", "b")])
    _, headers, body = split_response(response)
    assert headers.get("Sec-WebSocket-Extensions") == "x-foo; a=1"
    assert headers.get("X-A") == "b"
    assert body == b""


# --- subprotocols --------------------------------------------------------------------


def test_subprotocols_offered_in_order() -> None:
    add = [("Sec-WebSocket-Protocol", "chat, superchat"), ("Sec-WebSocket-Protocol", "v2")]
    server, request = validated(make_request(add=add))
    assert request.subprotocols == ["chat", "superchat", "v2"]
    _, headers, _ = split_response(server.accept(request, subprotocol="superchat"))
    assert headers.get_all("Sec-WebSocket-Protocol") == ["superchat"]


def test_accepting_a_subprotocol_not_offered_is_a_local_error() -> None:
    server, request = validated(make_request(add=[("Sec-WebSocket-Protocol", "chat")]))
    with pytest.raises(LocalProtocolError, match="did not offer"):
        server.accept(request, subprotocol="other")
    server.accept(request, subprotocol="chat")  # nothing was produced by the failed call


def test_malformed_subprotocol_header_is_400() -> None:
    error = validation_error(make_request(add=[("Sec-WebSocket-Protocol", "chat room")]))
    assert error.status_code == 400
    assert "Sec-WebSocket-Protocol" in str(error)


def test_malformed_extensions_header_is_400() -> None:
    error = validation_error(make_request(add=[("Sec-WebSocket-Extensions", "foo;")]))
    assert error.status_code == 400
    assert "Sec-WebSocket-Extensions" in str(error)


# --- server: rejections --------------------------------------------------------------


def test_post_is_405_with_allow() -> None:
    error = validation_error(make_request(method="POST", add=[("Content-Length", "0")]))
    assert error.status_code == 405
    assert error.headers == [("Allow", "GET")]
    status, headers, body = split_response(ServerHandshake().reject_error(error))
    assert status == "HTTP/1.1 405 Method Not Allowed"
    assert headers.get("Allow") == "GET"
    assert body == str(error).encode()


def test_plain_get_is_426_with_upgrade_headers() -> None:
    data = make_request([("Host", "h"), ("Accept", "text/html")])
    server, request = server_request(data)
    assert request is not None
    with pytest.raises(HandshakeError) as info:
        server.validate(request)
    error = info.value
    assert error.status_code == 426
    assert ("Upgrade", "websocket") in error.headers
    assert ("Connection", "Upgrade") in error.headers
    assert ("Sec-WebSocket-Version", "13") in error.headers
    response = server.reject_error(error)
    status, headers, body = split_response(response)
    assert status == "HTTP/1.1 426 Upgrade Required"
    assert headers.get("Upgrade") == "websocket"
    assert headers.get("Connection") == "Upgrade, close"
    assert headers.get("Sec-WebSocket-Version") == "13"
    assert headers.get("Content-Type") == "text/plain; charset=utf-8"
    assert headers.get("Content-Length") == str(len(body))
    assert b"WebSocket endpoint" in body


@pytest.mark.parametrize("versions", [[], ["8"], ["13", "13"], ["13, 8"], ["14"], ["013"]], ids=str)
def test_bad_or_missing_version_is_426(versions: list[str]) -> None:
    add = [("Sec-WebSocket-Version", v) for v in versions]
    error = validation_error(make_request(drop=("sec-websocket-version",), add=add))
    assert error.status_code == 426
    assert error.headers == [("Sec-WebSocket-Version", "13")]


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [KEY, KEY],
        ["not base64!"],
        [base64.b64encode(b"x" * 15).decode()],
        [base64.b64encode(b"x" * 17).decode()],
        ["dGhlIHNhbXBsZSBub25jZQ"],  # no padding
        ["dGhlIHNhbXBsZSBub25jZQ=="[:-1] + "\xe9"],
        [""],
    ],
    ids=["missing", "duplicated", "not-base64", "short", "long", "unpadded", "latin1", "empty"],
)
def test_bad_key_is_400(keys: list[str]) -> None:
    add = [("Sec-WebSocket-Key", k) for k in keys]
    error = validation_error(make_request(drop=("sec-websocket-key",), add=add))
    assert error.status_code == 400
    assert "Sec-WebSocket-Key" in str(error)


def test_http_10_is_400() -> None:
    error = validation_error(make_request(version="1.0"))
    assert error.status_code == 400
    assert "HTTP/1.1" in str(error)


def test_missing_connection_upgrade_is_400() -> None:
    headers = [h for h in UPGRADE_HEADERS if h[0] != "Connection"]
    error = validation_error(make_request([*headers, ("Connection", "keep-alive")]))
    assert error.status_code == 400
    assert "Connection" in str(error)
    assert validation_error(make_request(drop=("connection",))).status_code == 400


def test_missing_host_is_400() -> None:
    server = ServerHandshake()
    server.receive_data(make_request(drop=("host",)))
    with pytest.raises(HandshakeError) as info:
        server.next_request()  # HTTP/1.1 without Host is not even valid HTTP
    assert info.value.status_code == 400
    assert "Host" in str(info.value)
    # A request built by hand is checked too.
    request = Request("GET", "/", "1.1", Headers(UPGRADE_HEADERS[1:]))
    with pytest.raises(HandshakeError) as info:
        ServerHandshake().validate(request)
    assert info.value.status_code == 400
    assert "Host" in str(info.value)


def test_malformed_upgrade_header_is_400() -> None:
    error = validation_error(make_request(drop=("upgrade",), add=[("Upgrade", "web socket")]))
    assert error.status_code == 400


@pytest.mark.parametrize(
    "data",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
        b" GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n",
        b"GET /\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
    ],
)
def test_malformed_http_is_400(data: bytes) -> None:
    server = ServerHandshake()
    server.receive_data(data)
    with pytest.raises(HandshakeError) as info:
        server.next_request()
    assert info.value.status_code == 400
    # h11 is in an error state now (or never saw the data); a response is still possible
    status, headers, body = split_response(server.reject_error(info.value))
    assert status == "HTTP/1.1 400 Bad Request"
    assert headers.get("Connection") == "close"
    assert body == str(info.value).encode()
    with pytest.raises(HandshakeError):  # the error sticks
        server.next_request()


def test_eof_before_complete_head() -> None:
    server = ServerHandshake()
    server.receive_data(make_request()[:-3])
    assert server.next_request() is None
    server.receive_data(b"")
    with pytest.raises(HandshakeError, match=r"^connection closed during handshake$") as info:
        server.next_request()
    assert info.value.status_code == 400
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"more")
    empty = ServerHandshake()
    empty.receive_data(b"")
    with pytest.raises(HandshakeError, match="connection closed"):
        empty.next_request()


def test_long_request_line_is_414_before_crlf() -> None:
    server = ServerHandshake(max_request_line=100)
    data = b"GET /" + b"a" * 200
    for i in range(len(data)):
        server.receive_data(data[i : i + 1])
        if i + 1 <= 100:
            assert server.next_request() is None
        else:
            with pytest.raises(HandshakeError) as info:
                server.next_request()
            assert info.value.status_code == 414
            assert i + 1 == 101
            break
    else:
        pytest.fail("never rejected")


def test_request_line_at_the_limit_is_accepted() -> None:
    request_line = b"GET /" + b"a" * 90 + b" HTTP/1.1"
    data = request_line + b"\r\n" + make_request().partition(b"\r\n")[2]
    _, request = server_request(data, max_request_line=len(request_line))
    assert request is not None
    with pytest.raises(HandshakeError) as info:
        server_request(data, max_request_line=len(request_line) - 1)
    assert info.value.status_code == 414


def test_request_line_at_the_limit_fed_byte_by_byte_is_accepted() -> None:
    # The CR arrives before its LF: it is not part of the line's length.
    request_line = b"GET /" + b"a" * 90 + b" HTTP/1.1"
    data = request_line + b"\r\n" + make_request().partition(b"\r\n")[2]
    server = ServerHandshake(max_request_line=len(request_line))
    request = None
    for i in range(len(data)):
        server.receive_data(data[i : i + 1])
        request = server.next_request()
        if request is not None:
            break
    assert request is not None
    assert request.target == "/" + "a" * 90


def test_huge_header_is_431_before_its_end() -> None:
    server = ServerHandshake(max_header_size=1000)
    server.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ")
    assert server.next_request() is None
    for _ in range(20):
        server.receive_data(b"x" * 100)
        try:
            assert server.next_request() is None
        except HandshakeError as error:
            assert error.status_code == 431
            break
    else:
        pytest.fail("never rejected")


def test_too_many_headers_is_431() -> None:
    many = [(f"X-{i}", "1") for i in range(10)]
    server, request = server_request(make_request(add=many), max_headers=15)
    assert request is not None
    with pytest.raises(HandshakeError) as info:
        server_request(make_request(add=many), max_headers=14)
    assert info.value.status_code == 431
    # detected while the head is still incomplete
    server = ServerHandshake(max_headers=3)
    server.receive_data(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n")
    assert server.next_request() is None
    server.receive_data(b"D: 4\r\n")
    with pytest.raises(HandshakeError) as info:
        server.next_request()
    assert info.value.status_code == 431


def test_big_head_within_limits_is_not_preempted_by_h11() -> None:
    add = [(f"X-{i}", "v" * 900) for i in range(60)]  # about 55 kB of headers
    _, request = server_request(make_request(add=add), max_header_size=100_000)
    assert request is not None
    assert len(request.headers) == 65


# --- server: trailing data and state -------------------------------------------------


def test_trailing_data_after_request_is_kept() -> None:
    server = ServerHandshake()
    server.receive_data(make_request() + FRAME[:3])
    request = server.next_request()
    assert request is not None
    server.receive_data(FRAME[3:])
    server.accept(server.validate(request))
    assert server.trailing_data == FRAME


def test_request_fed_byte_by_byte_then_frames() -> None:
    server = ServerHandshake()
    data = make_request() + FRAME
    results = []
    for i in range(len(data)):
        server.receive_data(data[i : i + 1])
        results.append(server.next_request())
    head_len = len(make_request())
    assert all(r is None for r in results[: head_len - 1])
    assert all(r is results[-1] is not None for r in results[head_len - 1 :])
    assert server.trailing_data == FRAME


def test_response_only_once() -> None:
    server, request = validated(make_request())
    server.accept(request)
    with pytest.raises(LocalProtocolError):
        server.accept(request)
    with pytest.raises(LocalProtocolError):
        server.reject(400)


def test_accept_needs_a_validated_request() -> None:
    server, request = server_request(make_request())
    assert request is not None
    with pytest.raises(LocalProtocolError, match="validate"):
        server.accept(request)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"extra_headers": [("Sec-WebSocket-Accept", "x")]},
        {"extra_headers": [("Connection", "close")]},
        {"extra_headers": [("X-Bad", "a\r\nb")]},
        {"extra_headers": [("Bad Name", "a")]},
        {"extensions": "foo;;"},
    ],
)
def test_accept_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    server, request = validated(make_request())
    with pytest.raises(LocalProtocolError):
        server.accept(request, **kwargs)  # type: ignore[arg-type]


def test_reject_builds_complete_responses() -> None:
    response = ServerHandshake().reject(403, body=b"go away")
    assert response == (
        b"HTTP/1.1 403 Forbidden\r\n"
        b"Connection: close\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 7\r\n"
        b"\r\n"
        b"go away"
    )
    response = ServerHandshake().reject(
        503, headers=[("Retry-After", "5"), ("Content-Type", "text/html")], body=b"<p>"
    )
    status, headers, body = split_response(response)
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert headers.get_all("Content-Type") == ["text/html"]
    assert headers.get("Retry-After") == "5"
    assert body == b"<p>"
    status, headers, body = split_response(ServerHandshake().reject(499))
    assert status == "HTTP/1.1 499 "
    assert headers.get("Content-Length") == "0"
    assert "Content-Type" not in headers
    _, headers, _ = split_response(ServerHandshake().reject(204))
    assert "Content-Length" not in headers


@pytest.mark.parametrize(
    ("status", "kwargs"),
    [
        (101, {}),
        (100, {}),
        (600, {}),
        (204, {"body": b"x"}),
        (400, {"headers": [("Content-Length", "3")]}),
        (400, {"headers": [("Transfer-Encoding", "chunked")]}),
        (400, {"headers": [("Connection", "a b")]}),
    ],
)
def test_reject_refuses_bad_arguments(status: int, kwargs: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        ServerHandshake().reject(status, **kwargs)  # type: ignore[arg-type]


def test_reject_keeps_a_single_connection_close() -> None:
    response = ServerHandshake().reject(400, headers=[("Connection", "Close")])
    _, headers, _ = split_response(response)
    assert headers.get_all("Connection") == ["Close"]


def test_reject_before_any_request() -> None:
    status, _, _ = split_response(ServerHandshake().reject(503))
    assert status == "HTTP/1.1 503 Service Unavailable"


# --- client --------------------------------------------------------------------------


def make_client(**kwargs: object) -> ClientHandshake:
    kwargs.setdefault("key", RAW_KEY)
    return ClientHandshake("server.example.com", "/chat", **kwargs)  # type: ignore[arg-type]


def response_101(*extra: tuple[str, str], accept: str = ACCEPT) -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"]
    lines.append(f"Sec-WebSocket-Accept: {accept}")
    lines += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def client_response(data: bytes, **kwargs: object) -> Response | None:
    client = make_client(**kwargs)
    client.receive_data(data)
    return client.next_response()


def client_error(data: bytes, **kwargs: object) -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        client_response(data, **kwargs)
    return info.value


def test_client_request_bytes() -> None:
    client = make_client(
        subprotocols=["chat", "superchat"],
        extensions="permessage-deflate; client_max_window_bits",
        extra_headers=[("Origin", "http://example.com")],
    )
    assert client.request_bytes() == (
        b"GET /chat HTTP/1.1\r\n"
        b"Host: server.example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: chat, superchat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        b"Origin: http://example.com\r\n"
        b"\r\n"
    )
    assert client.request_headers.get("origin") == "http://example.com"


def test_client_random_key() -> None:
    a = ClientHandshake("h", "/").request_headers.get("Sec-WebSocket-Key")
    b = ClientHandshake("h", "/").request_headers.get("Sec-WebSocket-Key")
    assert a is not None
    assert a != b
    assert len(base64.b64decode(a)) == 16


@pytest.mark.parametrize(
    "kwargs",
    [
        {"key": b"short"},
        {"subprotocols": ["a b"]},
        {"subprotocols": ["a,b"]},
        {"extensions": "x;;"},
        {"extra_headers": [("Host", "other")]},
        {"extra_headers": [("Sec-WebSocket-Key", "x")]},
        {"extra_headers": [("X", "a\r\nb")]},
        {"extra_headers": [("X", "\u20ac")]},
    ],
)
def test_client_refuses_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        make_client(**kwargs)


@pytest.mark.parametrize("target", ["", "/a b", "/caf\xe9"])
def test_client_refuses_bad_target(target: str) -> None:
    with pytest.raises(LocalProtocolError):
        ClientHandshake("h", target)


def test_client_accepts_valid_101() -> None:
    response = client_response(response_101())
    assert response is not None
    assert response.status_code == 101
    assert response.subprotocol is None
    assert response.extensions == []
    assert response.headers.get("Sec-WebSocket-Accept") == ACCEPT


def test_client_accepts_tokens_in_any_case() -> None:
    data = response_101().replace(b"Upgrade: websocket", b"upgrade: WebSocket")
    data = data.replace(b"Connection: Upgrade", b"connection: keep-alive, UPGRADE")
    assert client_response(data) is not None


def test_client_waits_for_the_complete_head() -> None:
    client = make_client()
    data = response_101()
    client.receive_data(data[:-1])
    assert client.next_response() is None
    client.receive_data(data[-1:])
    response = client.next_response()
    assert response is not None
    assert client.next_response() is response


def test_client_trailing_data_in_same_chunk_as_101() -> None:
    client = make_client()
    client.receive_data(response_101() + FRAME[:4])
    assert client.next_response() is not None
    assert client.trailing_data == FRAME[:4]
    client.receive_data(FRAME[4:])
    client.receive_data(b"")
    assert client.trailing_data == FRAME


def test_client_skips_100_continue() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + response_101() + FRAME
    client = make_client()
    client.receive_data(data)
    assert client.next_response() is not None
    assert client.trailing_data == FRAME


def test_client_rejects_bad_accept_key() -> None:
    error = client_error(response_101(accept=accept_key("something else")))
    assert error.status_code == 101
    assert "Sec-WebSocket-Accept" in str(error)
    headers = response_101().replace(b"Sec-WebSocket-Accept", b"X-Accept")
    assert client_error(headers).status_code == 101


def test_client_rejects_missing_upgrade() -> None:
    error = client_error(response_101().replace(b"Upgrade: websocket\r\n", b""))
    assert error.status_code == 101
    assert "Upgrade" in str(error)
    error = client_error(response_101().replace(b"Upgrade: websocket", b"Upgrade: h2c"))
    assert "Upgrade" in str(error)


def test_client_rejects_missing_connection_upgrade() -> None:
    error = client_error(response_101().replace(b"Connection: Upgrade", b"Connection: close"))
    assert error.status_code == 101
    assert "Connection" in str(error)


def test_client_subprotocols() -> None:
    response = client_response(
        response_101(("Sec-WebSocket-Protocol", "superchat")), subprotocols=["chat", "superchat"]
    )
    assert response is not None
    assert response.subprotocol == "superchat"
    # not offered at all, or not among those offered, or several
    error = client_error(response_101(("Sec-WebSocket-Protocol", "chat")))
    assert error.status_code == 101
    assert "subprotocol" in str(error)
    error = client_error(response_101(("Sec-WebSocket-Protocol", "x")), subprotocols=["chat"])
    assert "subprotocol" in str(error)
    error = client_error(response_101(("Sec-WebSocket-Protocol", "a, b")), subprotocols=["a", "b"])
    assert "subprotocol" in str(error)


def test_client_extensions() -> None:
    offer = "permessage-deflate; client_max_window_bits"
    answer = ("Sec-WebSocket-Extensions", 'permessage-deflate; server_max_window_bits="10"')
    response = client_response(response_101(answer), extensions=offer)
    assert response is not None
    assert response.extensions == [("permessage-deflate", [("server_max_window_bits", "10")])]
    error = client_error(response_101(answer))
    assert error.status_code == 101
    assert "extensions" in str(error)
    error = client_error(response_101(("Sec-WebSocket-Extensions", "x;")), extensions=offer)
    assert error.status_code == 101


def test_client_rejection_with_content_length() -> None:
    data = b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\n"
    client = make_client()
    client.receive_data(data + b"go")
    assert client.next_response() is None
    client.receive_data(b" away")
    with pytest.raises(HandshakeRejected) as info:
        client.next_response()
    assert info.value.status_code == 403
    assert info.value.body == b"go away"
    assert ("Content-Type", "text/plain") in info.value.headers
    with pytest.raises(HandshakeRejected):  # the outcome sticks
        client.next_response()


def test_client_rejection_read_until_eof() -> None:
    client = make_client()
    client.receive_data(b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\npart one, ")
    assert client.next_response() is None
    client.receive_data(b"part two")
    assert client.next_response() is None
    client.receive_data(b"")
    with pytest.raises(HandshakeRejected) as info:
        client.next_response()
    assert info.value.status_code == 500
    assert info.value.body == b"part one, part two"


def test_client_rejection_chunked() -> None:
    data = (
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    with pytest.raises(HandshakeRejected) as info:
        client_response(data)
    assert info.value.status_code == 404
    assert info.value.body == b"hello world"


def test_client_rejection_body_is_bounded() -> None:
    data = b"HTTP/1.1 400 Bad\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000
    with pytest.raises(HandshakeRejected) as info:
        client_response(data, max_body_size=1000)
    assert info.value.body == b"x" * 1000


def test_client_rejection_cut_short_keeps_what_arrived() -> None:
    client = make_client()
    client.receive_data(b"HTTP/1.1 401 No\r\nContent-Length: 10\r\n\r\nabc")
    client.receive_data(b"")
    with pytest.raises(HandshakeRejected) as info:
        client.next_response()
    assert info.value.status_code == 401
    assert info.value.body == b"abc"


def test_client_rejection_without_body() -> None:
    with pytest.raises(HandshakeRejected) as info:
        client_response(b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n")
    assert info.value.status_code == 302
    assert info.value.body == b""


def test_client_eof_before_response() -> None:
    client = make_client()
    client.receive_data(b"HTTP/1.1 101 Switching")
    assert client.next_response() is None
    client.receive_data(b"")
    with pytest.raises(HandshakeError, match="connection closed during handshake"):
        client.next_response()
    with pytest.raises(LocalProtocolError):
        client.receive_data(b"x")
    client = make_client()
    client.receive_data(b"")
    with pytest.raises(HandshakeError, match="connection closed"):
        client.next_response()


def test_client_eof_twice_is_harmless() -> None:
    client = make_client()
    client.receive_data(response_101())
    client.receive_data(b"")
    client.receive_data(b"")
    assert client.next_response() is not None
    assert client.trailing_data == b""


def test_client_response_head_too_large() -> None:
    client = make_client(max_header_size=1000)
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n")
    client.receive_data(b"X-Big: " + b"x" * 2000)
    with pytest.raises(HandshakeError, match="max_header_size"):
        client.next_response()


def test_client_malformed_response() -> None:
    error = client_error(b"SSH-2.0-OpenSSH\r\n\r\n")
    assert not isinstance(error, HandshakeRejected)
    assert "not valid HTTP" in str(error)


# --- interoperability with wsproto ---------------------------------------------------


def test_wsproto_client_against_our_server() -> None:
    ws_client = H11Handshake(ConnectionType.CLIENT)
    data = ws_client.send(
        wse.Request(
            host="example.com",
            target="/chat?room=1",
            subprotocols=["chat", "superchat"],
            extensions=[PerMessageDeflate()],
        )
    )
    server = ServerHandshake()
    server.receive_data(data)
    request = server.next_request()
    assert request is not None
    request = server.validate(request)
    assert request.path == "/chat"
    assert request.subprotocols == ["chat", "superchat"]
    assert [name for name, _ in request.extensions] == ["permessage-deflate"]
    response = server.accept(
        request, subprotocol="chat", extensions="permessage-deflate; server_max_window_bits=15"
    )
    ws_client.receive_data(response + FRAME)
    accepted = list(ws_client.events())
    assert len(accepted) == 1
    assert isinstance(accepted[0], wse.AcceptConnection)
    assert accepted[0].subprotocol == "chat"
    assert [e.name for e in accepted[0].extensions] == ["permessage-deflate"]
    connection = ws_client.connection
    assert connection is not None
    messages = list(connection.events())
    assert isinstance(messages[0], wse.TextMessage)
    assert messages[0].data == "hello"


def test_wsproto_client_against_our_rejection() -> None:
    ws_client = H11Handshake(ConnectionType.CLIENT)
    data = ws_client.send(wse.Request(host="example.com", target="/"))
    server = ServerHandshake()
    server.receive_data(data.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"))
    request = server.next_request()
    assert request is not None
    with pytest.raises(HandshakeError) as info:
        server.validate(request)
    ws_client.receive_data(server.reject_error(info.value))
    ws_client.receive_data(b"")
    received = list(ws_client.events())
    assert isinstance(received[0], wse.RejectConnection)
    assert received[0].status_code == 426
    assert (b"sec-websocket-version", b"13") in received[0].headers
    body = b"".join(e.data for e in received if isinstance(e, wse.RejectData))
    assert body == str(info.value).encode()


def test_our_client_against_wsproto_server() -> None:
    client = ClientHandshake(
        "example.com:8080",
        "/chat",
        subprotocols=["chat", "superchat"],
        extensions="permessage-deflate",
        extra_headers=[("Origin", "http://example.com")],
    )
    ws_server = H11Handshake(ConnectionType.SERVER)
    ws_server.receive_data(client.request_bytes())
    (ws_request,) = ws_server.events()
    assert isinstance(ws_request, wse.Request)
    assert ws_request.host == "example.com:8080"
    assert ws_request.target == "/chat"
    assert ws_request.subprotocols == ["chat", "superchat"]
    assert ws_request.extensions == ["permessage-deflate"]
    assert (b"origin", b"http://example.com") in ws_request.extra_headers
    data = ws_server.send(
        wse.AcceptConnection(subprotocol="superchat", extensions=[PerMessageDeflate()])
    )
    client.receive_data(data + FRAME)
    response = client.next_response()
    assert response is not None
    assert response.subprotocol == "superchat"
    assert [name for name, _ in response.extensions] == ["permessage-deflate"]
    assert client.trailing_data == FRAME


def test_our_client_against_wsproto_rejection() -> None:
    client = make_client()
    ws_server = H11Handshake(ConnectionType.SERVER)
    ws_server.receive_data(client.request_bytes())
    list(ws_server.events())
    data = ws_server.send(
        wse.RejectConnection(status_code=403, headers=[(b"content-length", b"4")], has_body=True)
    )
    data += ws_server.send(wse.RejectData(data=b"nope"))
    client.receive_data(data)
    with pytest.raises(HandshakeRejected) as info:
        client.next_response()
    assert info.value.status_code == 403
    assert info.value.body == b"nope"


# --- chunking ------------------------------------------------------------------------


FULL_REQUEST = make_request(
    add=[
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Extensions", 'permessage-deflate; client_max_window_bits="15", x'),
        ("Origin", "http://example.com"),
    ]
)


def feed_in_chunks(data: bytes, cuts: list[int]) -> tuple[Request, bytes, bytes]:
    server = ServerHandshake()
    request = None
    start = 0
    # b"" would mean end of file, so every chunk is non-empty
    for end in [*sorted(c for c in set(cuts) if 0 < c < len(data)), len(data)]:
        server.receive_data(data[start:end])
        start = end
        request = server.next_request() or request
    assert request is not None
    request = server.validate(request)
    return request, server.accept(request, subprotocol="chat"), server.trailing_data


@given(st.lists(st.integers(min_value=0, max_value=len(FULL_REQUEST) + len(FRAME)), max_size=20))
def test_server_chunking_does_not_matter(cuts: list[int]) -> None:
    expected = feed_in_chunks(FULL_REQUEST + FRAME, [])
    assert feed_in_chunks(FULL_REQUEST + FRAME, cuts) == expected
    assert expected[2] == FRAME


RESPONSE = response_101(("Sec-WebSocket-Protocol", "chat"))


@given(st.lists(st.integers(min_value=0, max_value=len(RESPONSE) + len(FRAME)), max_size=20))
def test_client_chunking_does_not_matter(cuts: list[int]) -> None:
    client = make_client(subprotocols=["chat"])
    data = RESPONSE + FRAME
    start = 0
    response = None
    for end in [*sorted(c for c in set(cuts) if 0 < c < len(data)), len(data)]:
        client.receive_data(data[start:end])
        start = end
        response = client.next_response() or response
    assert response is not None
    assert response.subprotocol == "chat"
    assert client.trailing_data == FRAME


@given(
    st.lists(st.integers(min_value=1, max_value=len(FULL_REQUEST) - 1), max_size=30),
    st.booleans(),
    st.integers(min_value=5, max_value=12),
)
def test_limits_do_not_depend_on_chunking(cuts: list[int], bare_lf: bool, max_headers: int) -> None:
    data = FULL_REQUEST.replace(b"\r\n", b"\n") if bare_lf else FULL_REQUEST
    header_count = data.count(b"\n") - 2  # the request line and the blank line

    def run(chunk_ends: list[int]) -> int | Request:
        server = ServerHandshake(max_headers=max_headers)
        start = 0
        try:
            for end in chunk_ends:
                server.receive_data(data[start:end])
                start = end
                request = server.next_request()
                if request is not None:
                    return request
        except HandshakeError as error:
            return error.status_code
        raise AssertionError("incomplete")

    whole = run([len(data)])
    assert run([*sorted(set(cuts)), len(data)]) == whole
    if header_count > max_headers:
        assert whole == 431
    else:
        assert isinstance(whole, Request)
        assert whole.headers.get("Origin") == "http://example.com"


def test_client_refuses_an_http_1_0_101() -> None:
    """The upgrade exists only in HTTP/1.1 (RFC 6455 §4.1, §4.2.2)."""
    error = client_error(response_101().replace(b"HTTP/1.1 101", b"HTTP/1.0 101"))
    assert "HTTP/1.0 101" in str(error)
