"""What both roles of the opening handshake share (RFC 6455 §4).

The :class:`Request` and :class:`Response` records, the accept key (§1.3), the headers
each role writes itself and so refuses as extra headers, header-list parsing that turns
a malformed value into a :class:`HandshakeError`, and the writing of an HTTP/1.1
response head. The server side is in ``_handshake.py``, the client's in
``_client_handshake.py``.
"""

from __future__ import annotations

import base64
import hashlib
import http
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from ._errors import HandshakeError, LocalProtocolError
from ._extension_header import Extension
from ._headers import Headers, encode_header_lines

__all__ = [
    "CLIENT_RESERVED",
    "SERVER_RESERVED",
    "UPGRADE_HEADERS",
    "VERSION_HEADER",
    "WEBSOCKET_GUID",
    "Request",
    "Response",
    "accept_key",
    "check_extra_headers",
    "parse_header",
    "render_http_response",
]

#: Appended to the key before hashing (RFC 6455 §1.3, §4.2.2).
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_T = TypeVar("_T")
#: The headers of both the upgrade request and the 101 (RFC 6455 §4.1, §4.2.2).
UPGRADE_HEADERS = (("Upgrade", "websocket"), ("Connection", "Upgrade"))
#: The only version spoken (RFC 6455 §4.1 item 9, §4.4).
VERSION_HEADER = ("Sec-WebSocket-Version", "13")
# Headers the handshake writes itself, which callers may not pass as extra headers: the
# server's and the client's sets.
_RESERVED = {"upgrade", "connection", "content-length", "transfer-encoding"}
_RESERVED |= {"sec-websocket-protocol", "sec-websocket-extensions"}
SERVER_RESERVED = frozenset(_RESERVED | {"sec-websocket-accept"})
CLIENT_RESERVED = frozenset(_RESERVED | {"host", "sec-websocket-key", "sec-websocket-version"})


def accept_key(key: str) -> str:
    """Compute ``Sec-WebSocket-Accept`` from ``Sec-WebSocket-Key`` (RFC 6455 §1.3, §4.2.2).

    Args:
        key: the key as sent (base64 text).

    Returns:
        base64(SHA-1(key + the WebSocket GUID)).
    """
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("latin-1")).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_header(
    parser: Callable[[Iterable[str]], list[_T]], headers: Headers, name: str, status: int
) -> list[_T]:
    """Parse every ``name`` header line with ``parser``; HandshakeError if malformed."""
    try:
        return parser(headers.get_all(name))
    except ValueError as exc:
        raise HandshakeError(f"Invalid {name} header: {exc}.", status) from None


def check_extra_headers(headers: Sequence[tuple[str, str]], reserved: frozenset[str]) -> None:
    """Refuse extra headers that the handshake writes itself (LocalProtocolError)."""
    for name, _ in headers:
        if name.lower() in reserved:
            raise LocalProtocolError(f"the {name} header is written by the handshake itself")


def render_http_response(
    status: int, headers: Sequence[tuple[str, str]], body: bytes = b""
) -> bytes:
    """Write an HTTP/1.1 response (RFC 7230 §3.1.2); LocalProtocolError if malformed."""
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    try:
        lines = encode_header_lines(headers)
    except ValueError as exc:
        raise LocalProtocolError(str(exc)) from None
    return f"HTTP/1.1 {status} {reason}\r\n".encode("ascii") + lines + b"\r\n" + body


@dataclass(frozen=True)
class Request:
    """A request head (RFC 7230 §3.1.1). :meth:`ServerHandshake.validate` fills the
    WebSocket fields (RFC 6455 §4.2.1): ``key``, ``subprotocols`` (offered, in order),
    ``extensions`` (parsed offers, §9.1), ``host`` and ``origin`` (§10.2).
    """

    method: str
    target: str  # path and query, as sent
    http_version: str
    headers: Headers
    key: str | None = None
    subprotocols: list[str] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    host: str = ""
    origin: str | None = None

    @property
    def path(self) -> str:
        """The target without its query: the /resource name/ (RFC 6455 §3)."""
        if self.target.startswith("/"):
            return self.target.partition("?")[0]
        return urlsplit(self.target).path or "/"  # absolute-form

    @property
    def query(self) -> str:
        """The query part of the target, without ``?`` (empty if none)."""
        return self.target.partition("?")[2]


@dataclass(frozen=True)
class Response:
    """A validated 101 response (RFC 6455 §4.1): the selected ``subprotocol`` (or None)
    and the parsed ``extensions``, which the caller decides whether to accept."""

    status_code: int
    headers: Headers
    subprotocol: str | None = None
    extensions: list[Extension] = field(default_factory=list)
