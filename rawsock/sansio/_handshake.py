"""The server side of the opening handshake (RFC 6455 §4.2).

h11 parses the HTTP/1.1 it does not parse itself (see below); what both roles share is in
``_handshake_parts.py``, the client side in ``_client_handshake.py``.

Theory of operation: the server's ``receive_data`` only buffers. ``next_request`` first
checks the size limits on the raw buffered bytes, so a peer that never ends a line is
stopped as soon as a limit is passed, then finds the blank line ending the request head
and parses exactly that head: a head in the shape browsers and client libraries send
(HTTP/1.1, CRLF line ends, one Host, no framing headers) with h11's own grammar for it,
in two regular expressions; any other head with a fresh h11 connection, which says what
is wrong with it. ``tests/sansio/test_request_parsing.py`` and the handshake fuzz
harness check that both ways give what h11 gives. Bytes after the head are
kept as ``trailing_data`` (a client may send frames right behind its request).
``validate`` applies §4.2.1; ``accept`` and ``reject`` write the response themselves, so
a rejection can be sent even after h11 failed on the request.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from collections.abc import Sequence

import h11

from ._errors import HandshakeError, LocalProtocolError
from ._extension_header import parse_extensions
from ._handshake_parts import (
    SERVER_RESERVED,
    UPGRADE_HEADERS,
    VERSION_HEADER,
    Request,
    accept_key,
    check_extra_headers,
    parse_header,
    render_http_response,
)
from ._headers import Headers, parse_token_list, parse_upgrade_list

__all__ = ["ServerHandshake"]

_BLANK_LINE = re.compile(rb"\n\r?\n")
# A request starts with a method (a token), or with a line end h11 reports.
_FIRST_BYTES = frozenset((string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~\r\n").encode())
# The request heads every browser and client library sends, in h11's own grammar for
# them (RFC 7230 §3.1.1, §3.2): HTTP/1.1, CRLF line ends, no obs-fold. Such a head is
# parsed here with two regular expressions; h11 parses every other head.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_SIMPLE_REQUEST_LINE = re.compile(rb"(%s) ([\x21-\x7e]+) HTTP/1\.1" % _TOKEN)
_FIELD_VCHAR = rb"[^\x00\t\n\x0b\x0c\r ]"
_SIMPLE_HEADER_LINE = re.compile(
    rb"(%s):[ \t]*((?:%s+(?:[ \t]+%s+)*)?)[ \t]*" % (_TOKEN, _FIELD_VCHAR, _FIELD_VCHAR)
)
# Headers whose checks h11 makes itself (framing, RFC 7230 §3.3; Host, §5.4).
_FOR_H11 = frozenset((b"content-length", b"transfer-encoding", b"host"))


class ServerHandshake:
    """The server side of the opening handshake (RFC 6455 §4.2).

    Args:
        max_request_line: the longest request line accepted, in bytes (else 414).
        max_header_size: the most bytes of header lines accepted (else 431).
        max_headers: the most header lines accepted (else 431).
    """

    def __init__(
        self, *, max_request_line: int = 8192, max_header_size: int = 16384, max_headers: int = 128
    ) -> None:
        self._limits = (max_request_line, max_header_size, max_headers)
        self._buffer = bytearray()
        self._eof = False
        self._head_end: int | None = None
        self._line_end = -1  # where the request line ends, once known
        self._scanned = 0  # bytes already scanned for line ends
        self._header_lines = 0  # header line ends seen so far
        self._request: Request | None = None
        self._error: HandshakeError | None = None
        self._response_headers: Headers | None = None

    def receive_data(self, data: bytes | bytearray) -> None:
        """Add bytes from the client.

        Args:
            data: the bytes received; ``b""`` means end of file.

        Raises:
            LocalProtocolError: data after end of file.
        """
        if data and self._eof:
            raise LocalProtocolError("data received after end of file")
        self._buffer += data
        self._eof = self._eof or not data

    @property
    def trailing_data(self) -> bytes:
        """Every byte received after the request head (the client's first frames)."""
        return b"" if self._head_end is None else bytes(self._buffer[self._head_end :])

    def next_request(self) -> Request | None:
        """Parse the request head once it is complete (RFC 7230 §3).

        Returns:
            ``None`` while the head is incomplete, then the request (WebSocket fields
            not filled yet: see :meth:`validate`), the same one on later calls.

        Raises:
            HandshakeError: 414 for a request line over ``max_request_line``; 431 for
                too many or too large header lines; 400 for malformed HTTP or end of
                file before the head is complete.
        """
        if self._error is not None:
            raise self._error
        if self._request is None:
            try:
                head_end = self._find_head_end()
                if head_end is None:
                    if self._eof:
                        raise HandshakeError("connection closed during handshake", 400)
                    return None
                self._request = self._parse_head(head_end)
                self._head_end = head_end
            except HandshakeError as exc:
                self._error = exc
                raise
        return self._request

    def _find_head_end(self) -> int | None:
        """Check the limits on the raw bytes; return where the head ends, if it does.

        Each call scans only the bytes earlier calls have not seen, so a head that
        arrives byte by byte still costs linear time.
        """
        max_line, max_size, max_count = self._limits
        buf = self._buffer
        if buf and buf[0] not in _FIRST_BYTES:
            raise HandshakeError("This is not an HTTP request.", 400)
        if self._line_end < 0:
            self._line_end = buf.find(b"\n", self._scanned)
            self._scanned = len(buf) if self._line_end < 0 else self._line_end + 1
        line_end = self._line_end
        line_len = len(buf) if line_end < 0 else line_end
        if line_len > 0 and buf[line_len - 1] == 0x0D:  # the CR of a CRLF, maybe cut
            line_len -= 1
        if line_len > max_line:
            raise HandshakeError("The request line is too long.", 414)
        if line_end < 0:
            return None
        if line_len == 0:  # no request line: h11 says so
            return line_end + 1
        start = self._scanned
        match = _BLANK_LINE.search(buf, max(line_end, start - 2))
        end = len(buf) if match is None else match.end()
        if end - line_end - 1 > max_size:
            raise HandshakeError("The request header fields are too large.", 431)
        last_line_end = len(buf) if match is None else match.start() + 1
        self._header_lines += buf.count(b"\n", start, last_line_end)
        self._scanned = max(start, last_line_end)
        if self._header_lines > max_count:
            raise HandshakeError("The request has too many header fields.", 431)
        return None if match is None else end

    def _parse_head(self, head_end: int) -> Request:
        head = bytes(self._buffer[:head_end])
        simple = _parse_simple_head(head)
        if simple is not None:
            return simple
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=head_end + 1)
        conn.receive_data(head)
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise HandshakeError(f"The request is not valid HTTP: {exc}.", 400) from exc
        if not isinstance(event, h11.Request):  # pragma: no cover - h11 has the whole head
            raise HandshakeError("The request is not valid HTTP.", 400)
        return Request(
            method=event.method.decode("ascii"),
            target=event.target.decode("latin-1"),
            http_version=event.http_version.decode("ascii"),
            headers=Headers.from_raw(event.headers.raw_items()),
        )

    def validate(self, request: Request) -> Request:
        """Check that ``request`` is a WebSocket upgrade (RFC 6455 §4.2.1, §4.2.2).

        Args:
            request: a request from :meth:`next_request`.

        Returns:
            The request with its WebSocket fields filled in.

        Raises:
            HandshakeError: 405 (with ``Allow``) for a method other than GET; 426 (with
                the upgrade headers) without ``Upgrade: websocket`` or with a
                ``Sec-WebSocket-Version`` other than 13; 400 for any other violation.
                The message is a sentence fit for the response body.
        """
        headers = request.headers
        if request.method != "GET":
            raise HandshakeError("Only GET can open a WebSocket.", 405, [("Allow", "GET")])
        if request.http_version != "1.1":
            raise HandshakeError("A WebSocket handshake needs HTTP/1.1.", 400)
        upgrade = parse_header(parse_upgrade_list, headers, "Upgrade", 400)
        if "websocket" not in (p.lower() for p in upgrade):
            message = "This is a WebSocket endpoint: it only accepts WebSocket upgrades."
            raise HandshakeError(message, 426, [*UPGRADE_HEADERS, VERSION_HEADER])
        connection = parse_header(parse_token_list, headers, "Connection", 400)
        if "upgrade" not in (t.lower() for t in connection):
            raise HandshakeError("The Connection header must contain Upgrade.", 400)
        hosts = headers.get_all("Host")
        if len(hosts) != 1 or not hosts[0]:
            raise HandshakeError("The request needs exactly one Host header.", 400)
        if headers.get_all("Sec-WebSocket-Version") != ["13"]:
            raise HandshakeError("Only WebSocket version 13 is supported.", 426, [VERSION_HEADER])
        keys = headers.get_all("Sec-WebSocket-Key")
        try:
            raw_key = base64.b64decode(keys[0], validate=True) if len(keys) == 1 else b""
        except (binascii.Error, ValueError):
            raw_key = b""
        if len(raw_key) != 16:
            message = "The request needs one Sec-WebSocket-Key: 16 bytes in base64."
            raise HandshakeError(message, 400)
        return Request(  # (dataclasses.replace() would cost more than the rest here)
            request.method,
            request.target,
            request.http_version,
            headers,
            key=keys[0],
            subprotocols=parse_header(parse_token_list, headers, "Sec-WebSocket-Protocol", 400),
            extensions=parse_header(parse_extensions, headers, "Sec-WebSocket-Extensions", 400),
            host=hosts[0],
            origin=headers.get("Origin"),
        )

    @property
    def response_headers(self) -> Headers:
        """The headers of the response produced by :meth:`accept` or :meth:`reject`."""
        return self._response_headers or Headers()

    def _respond(self, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
        if self._response_headers is not None:
            raise LocalProtocolError("a response has already been produced")
        data = render_http_response(status, headers, body)
        self._response_headers = Headers(headers)
        return data

    def accept(
        self,
        request: Request,
        *,
        subprotocol: str | None = None,
        extensions: str | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        """Accept the upgrade: the 101 Switching Protocols response (RFC 6455 §4.2.2).

        Args:
            request: the request :meth:`validate` returned.
            subprotocol: the selected subprotocol, one the client offered.
            extensions: the ``Sec-WebSocket-Extensions`` value to send (§9.1).
            extra_headers: more ``(name, value)`` headers.

        Returns:
            The response bytes; frames may follow them at once.

        Raises:
            LocalProtocolError: the request was not validated, the subprotocol was not
                offered, a header is malformed or reserved, or a response was produced.
        """
        if self._error is not None or request.key is None:
            raise LocalProtocolError("accept() needs a request that validate() returned")
        headers = [*UPGRADE_HEADERS, ("Sec-WebSocket-Accept", accept_key(request.key))]
        if subprotocol is not None:
            if subprotocol not in request.subprotocols:
                raise LocalProtocolError(f"the client did not offer subprotocol {subprotocol!r}")
            headers.append(("Sec-WebSocket-Protocol", subprotocol))
        if extensions:
            try:
                parse_extensions([extensions])
            except ValueError as exc:
                raise LocalProtocolError(str(exc)) from None
            headers.append(("Sec-WebSocket-Extensions", extensions))
        check_extra_headers(extra_headers, SERVER_RESERVED)
        return self._respond(101, [*headers, *extra_headers])

    def reject(
        self, status_code: int, *, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> bytes:
        """Refuse the upgrade with a complete HTTP/1.1 response (RFC 6455 §4.2.2).

        Adds ``Content-Length``, ``Connection: close`` (keeping the tokens of any
        ``Connection`` in ``headers``) and, with a body and no ``Content-Type`` in
        ``headers``, ``Content-Type: text/plain; charset=utf-8``. Works whatever state
        parsing the request ended in.

        Args:
            status_code: 200 to 599.
            headers: more ``(name, value)`` headers.
            body: the response body.

        Returns:
            The response bytes; close the connection after sending them.

        Raises:
            LocalProtocolError: a status outside 200-599, a body with 204 or 304, a
                framing or malformed header, or a response already produced.
        """
        if not 200 <= status_code <= 599 or (body and status_code in (204, 304)):
            raise LocalProtocolError(f"cannot reject with status {status_code} and this body")
        check_extra_headers(headers, frozenset({"content-length", "transfer-encoding"}))
        out = [(n, v) for n, v in headers if n.lower() != "connection"]
        try:
            tokens = parse_token_list(v for n, v in headers if n.lower() == "connection")
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None
        if "close" not in (t.lower() for t in tokens):
            tokens.append("close")
        out.append(("Connection", ", ".join(tokens)))
        if body and "content-type" not in (n.lower() for n, _ in out):
            out.append(("Content-Type", "text/plain; charset=utf-8"))
        if status_code not in (204, 304):
            out.append(("Content-Length", str(len(body))))
        return self._respond(status_code, out, body)

    def reject_error(self, error: HandshakeError) -> bytes:
        """Render a :class:`HandshakeError` with :meth:`reject` (RFC 6455 §4.2.2).

        Args:
            error: the error; its status, its headers and its message as the body.

        Returns:
            The response bytes.

        Raises:
            LocalProtocolError: as :meth:`reject` does.
        """
        return self.reject(error.status_code, headers=error.headers, body=str(error).encode())


def _parse_simple_head(head: bytes) -> Request | None:
    """The request of a head in the common shape (see ``_SIMPLE_REQUEST_LINE``), parsed
    as h11 would parse it; ``None`` for any other head, which h11 then parses.

    ``None`` too with a ``Content-Length`` or ``Transfer-Encoding`` header, or without
    exactly one ``Host``: h11 checks those and says what is wrong.
    """
    if not head.endswith(b"\r\n\r\n") or head.count(b"\n") != head.count(b"\r\n"):
        return None
    lines = head[:-4].split(b"\r\n")
    request_line = _SIMPLE_REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        return None
    items = []
    hosts = 0
    for line in lines[1:]:
        field = _SIMPLE_HEADER_LINE.fullmatch(line)
        if field is None:
            return None
        name = field[1]
        lowered = name.lower()
        if lowered in _FOR_H11:
            if lowered != b"host" or hosts:
                return None
            hosts = 1
        items.append((name, field[2]))
    if not hosts:
        return None
    return Request(
        method=request_line[1].decode("ascii"),
        target=request_line[2].decode("ascii"),
        http_version="1.1",
        headers=Headers.from_raw(items),
    )
