"""WebSocket requests and responses in HTTP/2 headers (RFC 8441 §4-5, RFC 9113 §8).

The client side: :func:`websocket_request` is the extended CONNECT, and
:func:`response_of` checks the answer as ``ClientHandshake`` checks a 101.

The server side: the header list of a request becomes a :class:`Request` (its
pseudo-headers turned into the method, the target and a ``Host`` header from
``:authority``), so ``handle_request``, ``allowed_hosts``, ``origins`` and
``basic_auth`` see the same object as over HTTP/1.1; :func:`validate_websocket` is the
HTTP/2 counterpart of ``ServerHandshake.validate``; the answers are header lists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._http import HTTPResponse
from .sansio._errors import HandshakeError, LocalProtocolError
from .sansio._extension_header import parse_extensions
from .sansio._handshake_parts import (
    CLIENT_RESERVED,
    VERSION_HEADER,
    Request,
    check_extra_headers,
    parse_header,
)
from .sansio._headers import Headers, parse_token_list

__all__ = [
    "MalformedRequest",
    "UnsupportedConnect",
    "refusal_of",
    "request_of",
    "response_headers",
    "response_of",
    "validate_websocket",
    "websocket_request",
]

Header = tuple[bytes, bytes]
_PSEUDO = frozenset({":method", ":path", ":scheme", ":authority", ":protocol"})
# Connection-specific headers, which HTTP/2 forbids (RFC 9113 §8.2.2).
_CONNECTION_SPECIFIC = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)


# Characters no field may hold (RFC 9113 §8.2.1): NUL, CR, LF; and spaces at either end.
_BAD_FIELD = re.compile(r"[\x00\r\n]|^[ \t]|[ \t]$")


class MalformedRequest(Exception):
    """A request HTTP/2 calls malformed (RFC 9113 §8.1.1): reset with PROTOCOL_ERROR."""


class UnsupportedConnect(Exception):
    """A CONNECT for something other than a WebSocket: answered 501."""


def request_of(headers: Sequence[Header]) -> tuple[Request, str | None]:
    """The request of an HTTP/2 header list, and its ``:protocol`` (RFC 8441 §4).

    Raises:
        MalformedRequest: a pseudo-header missing, repeated, unknown or misplaced.
    """
    pseudo: dict[str, str] = {}
    fields: list[tuple[str, str]] = []
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if not name or name != name.lower() or _BAD_FIELD.search(name) or _BAD_FIELD.search(value):
            raise MalformedRequest(f"the header field {name!r} is not valid in HTTP/2")
        if name in _CONNECTION_SPECIFIC or (name == "te" and value != "trailers"):
            raise MalformedRequest(f"the connection-specific header {name!r} (RFC 9113 §8.2.2)")
        if name.startswith(":"):
            if name not in _PSEUDO or name in pseudo or fields:
                raise MalformedRequest(f"pseudo-header {name} unknown, repeated or misplaced")
            pseudo[name] = value
        else:
            fields.append((name, value))
    method = pseudo.get(":method")
    protocol = pseudo.get(":protocol")
    if method is None:
        raise MalformedRequest("the request has no :method")
    if method == "CONNECT" and protocol is None:  # a tunnel (RFC 9113 §8.5)
        if ":authority" not in pseudo or ":path" in pseudo or ":scheme" in pseudo:
            raise MalformedRequest("a CONNECT request needs :authority and no :path or :scheme")
        raise UnsupportedConnect("this server is not a proxy")
    if protocol is not None and method != "CONNECT":
        raise MalformedRequest(":protocol is only for CONNECT (RFC 8441 §4)")
    if not pseudo.get(":path") or ":scheme" not in pseudo:
        raise MalformedRequest("the request needs :scheme and :path")
    if ":authority" in pseudo and not any(n == "host" for n, _ in fields):
        fields.insert(0, ("host", pseudo[":authority"]))
    request = Request(method, pseudo[":path"], "2", Headers(fields))
    return request, protocol


def validate_websocket(request: Request) -> Request:
    """Check that ``request`` is an extended CONNECT for a WebSocket (RFC 8441 §5).

    Returns:
        The request with its WebSocket fields filled in (no key: HTTP/2 has none).

    Raises:
        HandshakeError: 400 for a request that is not a WebSocket request, or that asks
            for a WebSocket version other than 13 (with ``Sec-WebSocket-Version: 13``).
    """
    headers = request.headers
    if request.method != "CONNECT":
        message = "This is a WebSocket endpoint: it only accepts WebSocket requests."
        raise HandshakeError(message, 400)
    if headers.get_all("Sec-WebSocket-Version") != ["13"]:
        raise HandshakeError("Only WebSocket version 13 is supported.", 400, [VERSION_HEADER])
    hosts = headers.get_all("Host")
    if len(hosts) != 1 or not hosts[0]:
        raise HandshakeError("The request needs exactly one :authority.", 400)
    return Request(
        request.method,
        request.target,
        request.http_version,
        headers,
        subprotocols=parse_header(parse_token_list, headers, "Sec-WebSocket-Protocol", 400),
        extensions=parse_header(parse_extensions, headers, "Sec-WebSocket-Extensions", 400),
        host=hosts[0],
        origin=headers.get("Origin"),
    )


def response_headers(
    status: int, headers: Sequence[tuple[str, str]], body_length: int | None = None
) -> list[Header]:
    """The header list of a response: ``:status`` first, names in lower case, no
    connection-specific header, and ``content-length`` when ``body_length`` is given."""
    encoded = [(b":status", str(status).encode())]
    for name, value in headers:
        lowered = name.lower()
        if lowered not in _CONNECTION_SPECIFIC:
            encoded.append((lowered.encode("latin-1"), value.encode("latin-1")))
    if body_length is not None:
        encoded.append((b"content-length", str(body_length).encode()))
    return encoded


def refusal_of(error: HandshakeError) -> HTTPResponse:
    """The response for a refused request."""
    status = error.status_code if 200 <= error.status_code <= 599 else 500
    headers = [(n, v) for n, v in error.headers if n.lower() not in _CONNECTION_SPECIFIC]
    return HTTPResponse.text(status, str(error), headers)


# -- the client side ---------------------------------------------------------------------


def websocket_request(
    authority: str,
    target: str,
    *,
    subprotocols: Sequence[str],
    extensions: str | None,
    extra_headers: Sequence[tuple[str, str]],
) -> tuple[list[Header], Headers]:
    """The extended CONNECT of RFC 8441 §4 for a WebSocket at ``target``.

    Returns:
        The header list to send, and the request's headers as a WebSocket shows them.

    Raises:
        LocalProtocolError: a subprotocol that is not a token, or a reserved header.
    """
    headers: list[tuple[str, str]] = [("sec-websocket-version", "13")]
    if subprotocols:
        if parse_token_list(subprotocols) != list(subprotocols):
            raise LocalProtocolError("each subprotocol must be a single token")
        headers.append(("sec-websocket-protocol", ", ".join(subprotocols)))
    if extensions:
        headers.append(("sec-websocket-extensions", extensions))
    check_extra_headers(extra_headers, CLIENT_RESERVED)
    headers.extend((n.lower(), v) for n, v in extra_headers)
    pseudo = [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", b"https"),
        (b":path", target.encode("ascii")),
        (b":authority", authority.encode("ascii")),
    ]
    encoded = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    return pseudo + encoded, Headers([("host", authority), *headers])


def response_of(
    headers: Sequence[Header], *, subprotocols: Sequence[str], offered_extensions: bool
) -> tuple[int, Headers]:
    """The status and headers of a response; a 200 is checked as RFC 8441 §5 says.

    Raises:
        HandshakeError: a 200 that chose a subprotocol or extensions not offered, or a
            response without a valid ``:status``.
    """
    status = b""
    fields: list[tuple[str, str]] = []
    for name, value in headers:
        if name == b":status":
            status = value
        elif not name.startswith(b":"):
            fields.append((name.decode("latin-1"), value.decode("latin-1")))
    if not status.isdigit() or len(status) != 3:
        raise HandshakeError("the HTTP/2 response has no valid :status", 0)
    parsed = Headers(fields)
    code = int(status)
    if code == 200:
        protocols = parse_header(parse_token_list, parsed, "Sec-WebSocket-Protocol", 200)
        if len(protocols) > 1 or (protocols and protocols[0] not in subprotocols):
            raise HandshakeError(f"the server chose a subprotocol not offered: {protocols}", 200)
        chosen = parse_header(parse_extensions, parsed, "Sec-WebSocket-Extensions", 200)
        if chosen and not offered_extensions:
            raise HandshakeError("the server chose extensions although none were offered", 200)
    return code, parsed
