"""The server parses request heads exactly as h11 does (RFC 7230 §3.1.1, §3.2, §5.4).

``ServerHandshake`` parses the common shape of request head itself and gives h11 every
other one; whichever parses it, the request must be the one h11 gives, and a head h11
refuses must be refused (400).
"""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rawsock.sansio._errors import HandshakeError
from rawsock.sansio._handshake import ServerHandshake

Parsed = tuple[str, str, str, list[tuple[str, str]]]

UPGRADE = (
    b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def by_h11(head: bytes) -> Parsed | None:
    """What h11 parses from ``head``; None if it refuses it."""
    server = h11.Connection(h11.SERVER, max_incomplete_event_size=len(head) + 1)
    server.receive_data(head)
    try:
        event = server.next_event()
    except h11.RemoteProtocolError:
        return None
    assert isinstance(event, h11.Request), event
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers.raw_items()]
    return (event.method.decode("ascii"), event.target.decode("latin-1"),
            event.http_version.decode("ascii"), headers)


def by_rawsock(head: bytes) -> Parsed | None:
    """What ``ServerHandshake`` parses from ``head``; None if it answers 400."""
    handshake = ServerHandshake(max_request_line=1 << 20, max_header_size=1 << 20)
    handshake.receive_data(head)
    try:
        request = handshake.next_request()
    except HandshakeError as error:
        assert error.status_code == 400, error
        return None
    assert request is not None, head
    return request.method, request.target, request.http_version, request.headers.raw


def test_an_ordinary_upgrade_is_parsed_as_h11_does() -> None:
    parsed = by_rawsock(UPGRADE)
    assert parsed == by_h11(UPGRADE)
    assert parsed is not None and parsed[:3] == ("GET", "/chat?x=1", "1.1")
    assert parsed[3][0] == ("Host", "example.com")


@pytest.mark.parametrize(
    "head",
    [
        UPGRADE.replace(b"Host: example.com\r\n", b""),  # no Host (h11: 400)
        UPGRADE.replace(b"Host: example.com\r\n", b"Host: a\r\nHost: b\r\n"),  # two
        UPGRADE.replace(b"Upgrade: websocket", b"Upgrade:  websocket \t"),  # OWS
        UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: web\x00socket"),  # NUL
        UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: web\x0bsocket"),  # VT
        UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: web\rsocket"),  # bare CR
        UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: \xe9t\xe9"),  # obs-text
        UPGRADE.replace(b"Upgrade: websocket", b"Upgrade:"),  # empty value
        UPGRADE.replace(b"Upgrade: websocket", b"Upgrade : websocket"),  # space before :
        UPGRADE.replace(b"Upgrade: websocket\r\n", b"Upgrade: web\r\n socket\r\n"),  # fold
        UPGRADE.replace(b"\r\n", b"\n"),  # bare LF line ends
        UPGRADE.replace(b"Connection: Upgrade\r\n", b"Connection: Upgrade\n"),  # one LF
        UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0"),
        UPGRADE.replace(b"HTTP/1.1", b"HTTP/2.0"),
        UPGRADE.replace(b"GET /chat?x=1", b"GET /ch\xe9t"),  # not a vchar
        UPGRADE.replace(b"GET /chat?x=1", b"G(T /chat"),  # not a token
        UPGRADE.replace(b"Host", b"Content-Length: 0\r\nHost"),
        UPGRADE.replace(b"Host", b"Content-Length: 1, 2\r\nHost"),
        UPGRADE.replace(b"Host", b"Transfer-Encoding: gzip\r\nHost"),
        UPGRADE.replace(b"Host", b"hOsT"),  # names keep their case
    ],
)
def test_unusual_heads_are_parsed_or_refused_as_h11_does(head: bytes) -> None:
    assert by_rawsock(head) == by_h11(head)


# Pieces that are valid, borderline or invalid for h11, mostly valid so that many heads
# are parsed, each with one or two odd pieces at random.
def mostly(valid: list[str], odd: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(valid * 12 + odd)


NAMES = mostly(["Upgrade", "X-A", "a!#$%&'*+.^_`|~z"],
               ["Content-Length", "Transfer-Encoding", "hOST", "G T", "X:Y", "", "\xc4"])
VALUES = st.text(alphabet=mostly(list("aZ09 ,;=/\"\x80\xe9\xff"), list("\t\x00\x0b\x0c\r\x7f")),
                 max_size=8)
LINE_ENDS = mostly(["\r\n"] * 4, ["\n", "\r"])


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    method = draw(mostly(["GET", "POST"], ["G(T", ""]))
    target = draw(mostly(["/", "/chat?a=b", "*", "http://h/p"], ["/\xe9", "/a b", ""]))
    version = draw(mostly(["HTTP/1.1"], ["HTTP/1.0", "HTTP/1.10", "http/1.1"]))
    lines = [f"{method} {target} {version}"]
    lines += [
        f"{draw(mostly([''], [' ', chr(9)]))}{name}:{value}"
        for name, value in draw(st.lists(st.tuples(NAMES, VALUES), max_size=6))
    ]
    for _ in range(int(draw(mostly(["1"], ["0", "2"])))):
        lines.insert(draw(st.integers(1, len(lines))), "Host: h")
    text = "".join(line + draw(LINE_ENDS) for line in lines) + draw(LINE_ENDS)
    return text.encode("latin-1") + b"\r\n"  # whatever the last line end, a head ends


@settings(max_examples=1000)
@given(heads())
def test_any_head_is_parsed_or_refused_as_h11_does(head: bytes) -> None:
    handshake = ServerHandshake(max_request_line=1 << 20, max_header_size=1 << 20)
    handshake.receive_data(head)
    try:
        if handshake.next_request() is None:
            return  # the blank line is not where this head ends: not one head
    except HandshakeError:
        pass
    end = len(head) - len(handshake.trailing_data)
    assert by_rawsock(head[:end]) == by_h11(head[:end])
