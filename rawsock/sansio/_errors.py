"""The whole rawsock exception hierarchy.

::

    RawsockError
    ├── ProtocolError
    │   ├── LocalProtocolError    the caller asked for something the RFC or state forbids
    │   └── RemoteProtocolError   the peer broke the protocol; ``.code`` is the close code sent
    ├── HandshakeError            the opening handshake failed; ``.status_code``
    │   └── HandshakeRejected     (client) the server answered with a non-101 response
    └── ConnectionClosed          ``.code``, ``.reason``, ``.ok``

The close code is chosen where an error is raised (RFC 6455 §7.4.1): 1002 for protocol
violations, 1007 for invalid UTF-8, 1009 for a message that is too big.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConnectionClosed",
    "HandshakeError",
    "HandshakeRejected",
    "LocalProtocolError",
    "ProtocolError",
    "RawsockError",
    "RemoteProtocolError",
]

#: Close codes that mean "this connection ended as intended" (RFC 6455 §7.4.1).
NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})


class RawsockError(Exception):
    """Base class of every exception rawsock raises on purpose."""


class ProtocolError(RawsockError):
    """Something broke the WebSocket protocol (RFC 6455)."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something the RFC or the connection state forbids.

    This is a bug in the calling code, for example sending after the close handshake or
    sending a control frame longer than 125 bytes (RFC 6455 §5.5).
    """


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol.

    Attributes:
        code: the close code the connection is failed with (RFC 6455 §7.4.1):
            1002 protocol error, 1007 invalid data, 1009 message too big (1011 when
            the I/O layer gives up on a peer that stopped answering).
        reason: the close reason sent with ``code`` (at most 123 bytes of UTF-8;
            empty by default).
    """

    def __init__(self, message: str, code: int = 1002, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class HandshakeError(RawsockError):
    """The opening handshake (RFC 6455 §4) failed.

    Attributes:
        status_code: on the server, the HTTP status of the rejection sent to the client
            (400, 403, 405, 414, 426, 431, ...). On the client, the status received.
        headers: extra headers that go with the response (for example
            ``Sec-WebSocket-Version: 13`` with a 426).
    """

    def __init__(
        self,
        message: str,
        status_code: int = 400,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = list(headers)


class HandshakeRejected(HandshakeError):
    """(Client) the server answered the upgrade request with something other than 101.

    Attributes:
        status_code: the HTTP status the server sent.
        headers: the response headers, as ``(name, value)`` pairs of ``str``.
        body: the start of the response body (bounded), as ``bytes``.
    """

    def __init__(
        self, status_code: int, headers: Sequence[tuple[str, str]], body: bytes
    ) -> None:
        super().__init__(
            f"server rejected the WebSocket upgrade with HTTP {status_code}",
            status_code,
            headers,
        )
        self.body = body


class ConnectionClosed(RawsockError):
    """The connection is closed; raised by every operation attempted after that.

    Attributes:
        code: the close code of the close frame that started the closing handshake,
            whichever side sent it; 1005 if that frame had no code; 1006 if the
            connection ended without a close frame (RFC 6455 §7.1.5).
        reason: the close reason that went with ``code`` (``""`` if none).
        ok: ``True`` when the connection ended normally: the closing handshake completed
            and the code is 1000, 1001 or 1005.

    ``__cause__`` is set to the error that ended the connection, if any (a
    :class:`RemoteProtocolError`, a transport error, ...).
    """

    def __init__(self, code: int, reason: str = "", *, ok: bool | None = None) -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason
        self.ok = (code in NORMAL_CLOSE_CODES) if ok is None else ok
