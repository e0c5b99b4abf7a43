"""WebSocket servers on Trio: :func:`serve` on TCP listeners, :func:`accept` on any Stream.

Each connection runs in its own task: the opening handshake (RFC 6455 §4.2) under the
open timeout, then the handler. A handler that raises is logged and its connection
closed with 1011 (§7.4.1 "Internal Error"); the server keeps serving. When the handler
returns, the connection is closed normally (1000) if it is still open.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from ._connection import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_RECEIVE_BUFFER,
    READ_SIZE,
    WebSocket,
)
from .sansio._deflate import DEFAULT_COMPRESSION, PerMessageDeflate
from .sansio._errors import ConnectionClosed, HandshakeError
from .sansio._handshake import ServerHandshake
from .sansio._protocol import DEFAULT_MAX_MESSAGE_SIZE, Protocol, Role

__all__ = ["DEFAULT_OPEN_TIMEOUT", "Server", "accept", "serve"]

logger = logging.getLogger("rawsock.server")

#: Seconds a client has to complete its opening handshake.
DEFAULT_OPEN_TIMEOUT = 10.0

Handler = Callable[[WebSocket], Awaitable[Any]]


@dataclass(frozen=True)
class Server:
    """What :func:`serve` reports through ``task_status``: where it listens.

    Attributes:
        listeners: the ``trio.SocketListener`` objects accepting connections.
    """

    listeners: list[trio.SocketListener]

    @property
    def port(self) -> int:
        """The port the (first) listener is bound to; useful after binding port 0."""
        return int(self.listeners[0].socket.getsockname()[1])


async def accept(
    stream: trio.abc.Stream,
    *,
    subprotocols: Sequence[str] = (),
    extra_headers: Sequence[tuple[str, str]] = (),
    compression: PerMessageDeflate | None = DEFAULT_COMPRESSION,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    max_frame_size: int | None = None,
    receive_buffer: int = DEFAULT_RECEIVE_BUFFER,
    open_timeout: float | None = DEFAULT_OPEN_TIMEOUT,
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ping_interval: float | None = DEFAULT_PING_INTERVAL,
    ping_timeout: float | None = DEFAULT_PING_TIMEOUT,
    max_request_line: int = 8192,
    max_header_size: int = 16384,
    max_headers: int = 128,
) -> WebSocket:
    """Run the server side of the opening handshake on ``stream`` (RFC 6455 §4.2).

    Args:
        stream: a connected ``trio.abc.Stream`` (TCP, TLS, in-memory...).
        subprotocols: subprotocols we support, in order of preference; the first one
            the client also offers is selected (§4.2.2 item 4).
        extra_headers: more headers for the 101 response.
        compression: permessage-deflate settings (RFC 7692), used when the client
            offers it; ``None`` turns compression off.
        max_message_size: largest message accepted (1009 beyond); ``None``: no limit.
        max_frame_size: largest frame accepted (1009 beyond); default: the message limit.
        receive_buffer: bytes of unconsumed messages held before reading stops.
        open_timeout: seconds the client has to send its request; ``None``: no limit.
        close_timeout: seconds to wait for the closing handshake.
        ping_interval: seconds between keepalive pings; ``None`` turns keepalive off.
        ping_timeout: seconds to wait for a keepalive pong before closing with 1011;
            ``None``: wait forever.
        max_request_line: longest request line accepted (414 beyond).
        max_header_size: largest request head accepted (431 beyond).
        max_headers: most header lines accepted (431 beyond).

    Returns:
        The open :class:`WebSocket`.

    Raises:
        HandshakeError: the request was rejected (the HTTP error response was sent and
            the stream closed), or it did not arrive within ``open_timeout`` (408).
    """
    handshake = ServerHandshake(
        max_request_line=max_request_line,
        max_header_size=max_header_size,
        max_headers=max_headers,
    )
    try:
        with trio.fail_after(open_timeout if open_timeout is not None else float("inf")):
            try:
                while (request := handshake.next_request()) is None:
                    handshake.receive_data(await stream.receive_some(READ_SIZE))
                request = handshake.validate(request)
                subprotocol = next((p for p in subprotocols if p in request.subprotocols), None)
                agreed = compression.accept_offer(request.extensions) if compression else None
                response = handshake.accept(
                    request,
                    subprotocol=subprotocol,
                    extensions=agreed[0] if agreed else None,
                    extra_headers=extra_headers,
                )
                await stream.send_all(response)
            except HandshakeError as error:
                await stream.send_all(handshake.reject_error(error))
                raise
    except trio.TooSlowError:
        await trio.aclose_forcefully(stream)
        raise HandshakeError("the opening handshake timed out", 408) from None
    except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
        await trio.aclose_forcefully(stream)
        raise HandshakeError("the connection broke during the opening handshake") from error
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    protocol = Protocol(
        Role.SERVER,
        max_message_size=max_message_size,
        max_frame_size=max_frame_size,
        deflate=compression.codec(agreed[1], client=False) if compression and agreed else None,
    )
    return WebSocket(
        stream,
        protocol,
        path=request.target,
        request_headers=request.headers,
        response_headers=handshake.response_headers,
        subprotocol=subprotocol,
        close_timeout=close_timeout,
        receive_buffer=receive_buffer,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        initial_data=handshake.trailing_data,
    )


async def serve_stream(handler: Handler, stream: trio.abc.Stream, **options: Any) -> None:
    """Serve one connection on ``stream``: handshake, handler, close.

    This is what :func:`serve` runs for each accepted connection; call it yourself to
    serve WebSocket connections from a custom listener. Never raises for a failed
    handshake or a failing handler (both are logged); ``options`` are those of
    :func:`accept`.
    """
    try:
        ws = await accept(stream, **options)
    except HandshakeError as error:
        logger.info("handshake failed: %s (HTTP %s)", error, error.status_code)
        return
    try:
        await handler(ws)
    except ConnectionClosed:
        pass  # the peer went away; nothing more to do
    except Exception:
        logger.exception("connection handler failed; closing the connection with 1011")
        await ws.aclose(1011, "internal error")
    finally:
        await ws.aclose()


async def serve(
    handler: Handler,
    host: str | None,
    port: int,
    *,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Serve WebSocket connections on TCP until cancelled.

    Use it with ``nursery.start`` to learn the bound port::

        server = await nursery.start(rawsock.serve, handler, "127.0.0.1", 0)
        print(server.port)

    Args:
        handler: ``async def handler(ws: WebSocket)``, run in its own task for each
            connection.
        host: the address to bind (``None``: all interfaces).
        port: the port (0: any free one).
        options: passed to :func:`accept` for each connection.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    async with trio.open_nursery() as nursery:
        server = Server(listeners)
        await nursery.start(
            partial(trio.serve_listeners, partial(serve_stream, handler, **options), listeners)
        )
        task_status.started(server)
