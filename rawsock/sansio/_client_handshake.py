"""The client side of the opening handshake (RFC 6455 §4.1), with h11 parsing HTTP/1.1.

Theory of operation: h11 writes the request and parses the response. A 101 is checked
against §4.1 and whatever followed its head is kept as ``trailing_data`` (frames the
server sent at once). Any other final status has its body read, up to a bound, and is
raised as :class:`HandshakeRejected` so the caller sees status, headers and body.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

import h11

from ._errors import HandshakeError, HandshakeRejected, LocalProtocolError
from ._extension_header import parse_extensions
from ._handshake_parts import (
    CLIENT_RESERVED,
    UPGRADE_HEADERS,
    VERSION_HEADER,
    Response,
    accept_key,
    check_extra_headers,
    parse_header,
)
from ._headers import Headers, encode_header_lines, parse_token_list, parse_upgrade_list

__all__ = ["MAX_INFORMATIONAL", "ClientHandshake"]

#: Informational (1xx) responses skipped before the 101 (100 Continue, 103 Early Hints...);
#: a server sending more is refused, so that an endless stream of them cannot keep a
#: client busy until its timeout.
MAX_INFORMATIONAL = 10


class ClientHandshake:
    """The client side of the opening handshake (RFC 6455 §4.1).

    A :class:`HandshakeError` raised here has ``status_code`` 101 for a 101 response
    that breaks §4.1, and 0 when no complete response head was received.

    Args:
        host: the ``Host`` header value, with the port unless it is the default.
        target: the request target, path and query, for example ``"/chat?room=1"``.
        subprotocols: the subprotocols to offer, in order of preference.
        extensions: the ``Sec-WebSocket-Extensions`` value to offer (§9.1).
        extra_headers: more ``(name, value)`` headers (``Origin``, cookies, ...).
        key: the 16 random bytes of ``Sec-WebSocket-Key`` (default ``os.urandom(16)``).
        max_header_size: the largest response head accepted, in bytes.
        max_body_size: how much of a rejection's body is kept.

    Raises:
        LocalProtocolError: an argument cannot be sent.
    """

    def __init__(
        self,
        host: str,
        target: str,
        *,
        subprotocols: Sequence[str] = (),
        extensions: str | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
        key: bytes | None = None,
        max_header_size: int = 16384,
        max_body_size: int = 65536,
    ) -> None:
        raw_key = os.urandom(16) if key is None else key
        if len(raw_key) != 16:
            raise LocalProtocolError("the Sec-WebSocket-Key must be made of 16 bytes")
        self._key = base64.b64encode(raw_key).decode("ascii")
        self._subprotocols = list(subprotocols)
        self._offered_extensions = bool(extensions)
        self._max_body_size = max_body_size
        self._informational = 0  # 1xx responses skipped
        key_header = ("Sec-WebSocket-Key", self._key)
        headers = [("Host", host), *UPGRADE_HEADERS, key_header, VERSION_HEADER]
        try:
            if subprotocols:
                if parse_token_list(self._subprotocols) != self._subprotocols:
                    raise ValueError("each subprotocol must be a single token")
                headers.append(("Sec-WebSocket-Protocol", ", ".join(self._subprotocols)))
            if extensions:
                parse_extensions([extensions])
                headers.append(("Sec-WebSocket-Extensions", extensions))
            check_extra_headers(extra_headers, CLIENT_RESERVED)
            headers.extend(extra_headers)
            encode_header_lines(headers)
            self._request_headers = Headers(headers)
            raw = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
            self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_header_size)
            request = h11.Request(method="GET", target=target.encode("ascii"), headers=raw)
            self._request = self._conn.send(request) + self._conn.send(h11.EndOfMessage())
        except (ValueError, h11.LocalProtocolError) as exc:
            raise LocalProtocolError(str(exc)) from None
        self._eof = False
        self._status: int | None = None
        self._headers = Headers()
        self._body = bytearray()
        self._response: Response | None = None
        self._error: HandshakeError | None = None
        self._trailing = bytearray()

    def request_bytes(self) -> bytes:
        """The upgrade request to send: a GET with the headers of RFC 6455 §4.1."""
        return self._request

    @property
    def request_headers(self) -> Headers:
        """The headers of the request :meth:`request_bytes` returns."""
        return self._request_headers

    @property
    def trailing_data(self) -> bytes:
        """Every byte received after the 101 response head (the server's first frames)."""
        return bytes(self._trailing)

    def receive_data(self, data: bytes | bytearray) -> None:
        """Add bytes from the server.

        Args:
            data: the bytes received; ``b""`` means end of file.

        Raises:
            LocalProtocolError: data after end of file.
        """
        if self._eof:
            if data:
                raise LocalProtocolError("data received after end of file")
            return
        self._eof = not data
        if self._response is not None:
            self._trailing += data
        else:
            self._conn.receive_data(bytes(data))

    def next_response(self) -> Response | None:
        """Process the response received so far.

        Returns:
            ``None`` until the handshake is decided, then the validated 101 response
            (the same one on later calls).

        Raises:
            HandshakeRejected: the server answered with a final status other than 101;
                it carries the start of the body (up to ``max_body_size`` bytes).
            HandshakeError: a 101 that breaks RFC 6455 §4.1, malformed HTTP, a response
                head over ``max_header_size``, or end of file before a decision.
        """
        if self._error is not None:
            raise self._error
        if self._response is None:
            try:
                self._response = self._advance()
            except HandshakeError as exc:
                self._error = exc
                raise
        return self._response

    def _rejected(self) -> HandshakeRejected:
        body = bytes(self._body[: self._max_body_size])
        return HandshakeRejected(self._status or 0, self._headers.raw, body)

    def _advance(self) -> Response | None:
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                if self._status is not None:  # a rejection whose body was cut short
                    raise self._rejected() from exc
                if exc.error_status_hint == 431:
                    message = "the response head is larger than max_header_size"
                elif self._eof:
                    message = "connection closed during handshake"
                else:
                    message = f"the response is not valid HTTP: {exc}"
                raise HandshakeError(message, 0) from exc
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.InformationalResponse):
                if event.status_code != 101:  # any other 1xx is skipped, a few of them
                    self._informational += 1
                    if self._informational > MAX_INFORMATIONAL:
                        message = f"more than {MAX_INFORMATIONAL} informational (1xx) responses"
                        raise HandshakeError(message, 0)
                    continue
                if event.http_version != b"1.1":  # the upgrade is HTTP/1.1's (§4.1)
                    version = event.http_version.decode("ascii", "replace")
                    message = f"the server answered the upgrade with HTTP/{version} 101"
                    raise HandshakeError(message, 101)
                return self._switch(Headers.from_raw(event.headers.raw_items()))
            elif isinstance(event, h11.Response):
                self._status = event.status_code
                self._headers = Headers.from_raw(event.headers.raw_items())
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) >= self._max_body_size:
                    raise self._rejected()
            elif self._status is None:  # pragma: no cover - h11 raises first
                raise HandshakeError("connection closed during handshake", 0)
            else:  # the end of the rejection's body, or of the connection
                raise self._rejected()

    def _switch(self, headers: Headers) -> Response:
        """Check a 101 response as RFC 6455 §4.1 requires."""
        upgrade = parse_header(parse_upgrade_list, headers, "Upgrade", 101)
        if [p.lower() for p in upgrade] != ["websocket"]:
            raise HandshakeError("the 101 response lacks Upgrade: websocket", 101)
        connection = parse_header(parse_token_list, headers, "Connection", 101)
        if "upgrade" not in (t.lower() for t in connection):
            raise HandshakeError("the 101 response lacks Connection: Upgrade", 101)
        if headers.get_all("Sec-WebSocket-Accept") != [accept_key(self._key)]:
            raise HandshakeError("Sec-WebSocket-Accept does not match the key sent", 101)
        protocols = parse_header(parse_token_list, headers, "Sec-WebSocket-Protocol", 101)
        if len(protocols) > 1 or (protocols and protocols[0] not in self._subprotocols):
            raise HandshakeError(f"the server chose a subprotocol not offered: {protocols}", 101)
        extensions = parse_header(parse_extensions, headers, "Sec-WebSocket-Extensions", 101)
        if extensions and not self._offered_extensions:
            raise HandshakeError("the server chose extensions although none were offered", 101)
        self._trailing += self._conn.trailing_data[0]
        return Response(101, headers, protocols[0] if protocols else None, extensions)
