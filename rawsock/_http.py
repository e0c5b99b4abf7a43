"""Plain HTTP on the WebSocket endpoint: the response type, the request hook, refusals.

A server may answer a request with an ordinary HTTP response instead of upgrading it
(RFC 6455 §4.2.2 item 2: "the server ... MAY ... send an appropriate HTTP status code").
:class:`HTTPResponse` is that response; :data:`RequestHook` is the shape of the
``handle_request`` callback that sees every request before the upgrade. Also here:
refusing a connection without a reset (a lingering close, RFC 7230 §6.6), handshakes a
shutting-down server interrupts (:class:`Pending`), and connection ids for log records,
shared by the server and the client.
"""

from __future__ import annotations

import html
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import trio

from .sansio._errors import HandshakeError
from .sansio._handshake import ServerHandshake
from .sansio._handshake_parts import Request

__all__ = [
    "HEAD_READ_SIZE",
    "HTTPResponse",
    "Pending",
    "RequestHook",
    "call_hook",
    "connection_log",
    "linger",
    "refuse",
    "render_response",
    "server_log",
]

#: Bytes asked of the stream per read of an HTTP head (the handshake's request or
#: response), and per read while draining a refused client.
HEAD_READ_SIZE = 8 * 1024

_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# The server writes these itself (RFC 7230 §3.3): a response may not set them.
_FRAMING = frozenset({"content-length", "transfer-encoding"})


@dataclass(frozen=True)
class HTTPResponse:
    """An HTTP/1.1 response sent instead of the WebSocket upgrade.

    The server adds ``Content-Length`` and ``Connection: close`` and closes the
    connection after sending it (one response per connection), and it leaves the body
    out when the request was ``HEAD`` (RFC 7231 §4.3.2).

    Attributes:
        status: the status code, 200 to 599 (101 is the server's own answer).
        headers: ``(name, value)`` pairs; ``Content-Type`` defaults to UTF-8 plain text
            when there is a body.
        body: the body bytes.

    Raises:
        ValueError: a status outside 200-599, a body with 204 or 304, or a
            ``Content-Length``/``Transfer-Encoding`` header.
    """

    status: int
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if not 200 <= self.status <= 599:
            raise ValueError(f"a response instead of the upgrade needs 200-599, not {self.status}")
        if self.body and self.status in (204, 304):
            raise ValueError(f"a {self.status} response cannot have a body (RFC 7230 §3.3.3)")
        for name, _ in self.headers:
            if name.lower() in _FRAMING:
                raise ValueError(f"the {name} header is written by the server itself")

    @classmethod
    def text(cls, status: int, text: str, headers: Sequence[tuple[str, str]] = ()) -> HTTPResponse:
        """A response with a UTF-8 plain text body.

        Args:
            status: the status code.
            text: the body; a line end is added when it has none.
            headers: more headers.

        Returns:
            The response.
        """
        body = text if text.endswith("\n") else text + "\n"
        return cls(status, [("Content-Type", _TEXT), *headers], body.encode())

    @classmethod
    def html(
        cls, page: str, status: int = 200, headers: Sequence[tuple[str, str]] = ()
    ) -> HTTPResponse:
        """A response with an HTML page (UTF-8), for example a page that opens a socket.

        Args:
            page: the HTML text.
            status: the status code.
            headers: more headers.

        Returns:
            The response.
        """
        return cls(status, [("Content-Type", _HTML), *headers], page.encode())

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> HTTPResponse:
        """A redirect (RFC 7231 §6.4): ``Location`` and a short HTML body.

        Args:
            location: the new URL (``ws``, ``wss``, ``http`` or ``https``; rawsock's
                client maps the last two to the first two), absolute or relative.
            status: 301, 302, 303, 307 or 308.

        Returns:
            The response.

        Raises:
            ValueError: ``status`` is not a redirect.
        """
        if status not in _REDIRECTS:
            raise ValueError(f"{status} is not a redirect status")
        link = html.escape(location, quote=True)
        page = f'<a href="{link}">Moved here.</a>\n'
        return cls(status, [("Location", location), ("Content-Type", _HTML)], page.encode())


#: ``handle_request``: sees each request before the upgrade; returns a response to send
#: instead (the connection then closes), or ``None`` to go on with the handshake.
RequestHook = Callable[[Request], "Awaitable[HTTPResponse | None] | HTTPResponse | None"]


async def call_hook(hook: RequestHook, request: Request) -> HTTPResponse | None:
    """Call ``hook``, awaiting its result when it is a coroutine function.

    Raises:
        TypeError: it returned something other than an :class:`HTTPResponse` or ``None``.
    """
    result = hook(request)
    if inspect.isawaitable(result):
        result = await result
    if result is not None and not isinstance(result, HTTPResponse):
        raise TypeError(f"handle_request returned {type(result).__name__}, not HTTPResponse")
    return result


def render_response(
    handshake: ServerHandshake, request: Request | None, response: HTTPResponse
) -> bytes:
    """The bytes of ``response`` answering ``request`` (no body for ``HEAD``)."""
    data = handshake.reject(response.status, headers=response.headers, body=response.body)
    if request is not None and request.method == "HEAD" and response.body:
        data = data[: -len(response.body)]
    return data


# -- refusing and closing ----------------------------------------------------------------

#: Seconds spent draining a refused client's bytes, so it reads our answer, not a reset.
LINGER = 1.0


class Pending:
    """A handshake in progress that a server shutting down can interrupt (with 503)."""

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.stopping = False
        #: False once the answer is being sent: a shutdown then lets it finish.
        self.interruptible = True

    def stop(self) -> None:
        """Interrupt the handshake: it answers 503 instead of going on."""
        self.stopping = True
        if self.interruptible:
            self.scope.cancel()


async def linger(stream: trio.abc.Stream) -> None:
    """Half-close, then read and drop what the client still sends, for ``LINGER`` s.

    Closing a TCP socket with unread bytes resets the connection, which can destroy the
    response before the client reads it (RFC 7230 §6.6 describes the same for HTTP).
    """
    with trio.move_on_after(LINGER):
        try:
            if isinstance(stream, trio.abc.HalfCloseableStream):
                await stream.send_eof()
            while await stream.receive_some(HEAD_READ_SIZE):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def refuse(
    stream: trio.abc.Stream,
    handshake: ServerHandshake,
    deadline: float,
    pending: Pending | None = None,
    *,
    status: int = 503,
    message: str = "Too many connections; retry later.",
) -> None:
    """Read the request head (for at most ``deadline`` seconds), answer ``status``, close.

    Used when the server is over ``max_connections`` (503). A client that sent nothing
    when ``pending`` is stopped or the timeout passes is disconnected without an answer.
    Never raises for I/O errors; the stream is closed in any case.
    """
    interrupt = pending.scope if pending is not None else trio.CancelScope()
    received = 0
    try:
        with trio.move_on_after(deadline):
            with interrupt:
                try:
                    while handshake.next_request() is None:
                        data = await stream.receive_some(HEAD_READ_SIZE)
                        received += len(data)
                        handshake.receive_data(data)
                except HandshakeError:
                    pass  # answered with ``status`` all the same
            if received:
                await stream.send_all(handshake.reject(status, body=message.encode()))
                await linger(stream)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


# -- logging ----------------------------------------------------------------------------

_connection_ids = itertools.count(1)


class _ConnectionLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes each message with ``[#id]`` and puts ``conn_id`` in the record.

    Records about no connection in particular (a server starting or stopping) have
    ``conn_id`` ``None`` and no prefix.
    """

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = self.extra or {}
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        conn_id = extra.get("conn_id")
        return (msg if conn_id is None else f"[#{conn_id}] {msg}"), kwargs


def connection_log(logger: logging.Logger) -> logging.LoggerAdapter[logging.Logger]:
    """A logger for one connection: a fresh process-wide id in every record.

    Each record has the attribute ``conn_id`` (an ``int``, for filters and formats such
    as ``%(conn_id)s``) and its message starts with ``[#id]``.
    """
    return _ConnectionLog(logger, {"conn_id": next(_connection_ids)})


def server_log(logger: logging.Logger) -> logging.LoggerAdapter[logging.Logger]:
    """A logger for records about no connection in particular (``conn_id`` is ``None``)."""
    return _ConnectionLog(logger, {"conn_id": None})
