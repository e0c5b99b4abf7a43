"""The server side of the opening handshake on a Trio stream (RFC 6455 §4.2).

Theory of operation: the request head is read under ``open_timeout`` (a client that
never finishes it is dropped without a response), then decided in this order:

1. ``allowed_hosts``: 400 for a missing or malformed ``Host``, 421 for another host;
2. ``handle_request``: any response it returns is sent instead of the upgrade (plain
   HTTP requests reach it too: health checks, redirects, small pages);
3. the WebSocket rules of §4.2.1: 405, 426 (a plain HTTP request), 400;
4. ``origins``: 403; 5. ``basic_auth``: 401 with ``WWW-Authenticate``;
6. the subprotocol (``select_subprotocol`` or the ``subprotocols`` list) and
   permessage-deflate, then 101 Switching Protocols.

An exception raised by a callback becomes 500 (logged with its traceback); a
:class:`HandshakeError` raised by one is sent as its own status. A server shutting
down answers a handshake still in progress with 503 (see ``_server.py``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
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
from ._http import (
    HTTPResponse,
    Pending,
    RequestHook,
    call_hook,
    connection_log,
    linger,
    render_response,
)
from ._security import BasicAuth, check_host, check_origin
from ._settings import DEFAULT_OPEN_TIMEOUT, ConnectionSettings
from .sansio._deflate import DEFAULT_COMPRESSION, DeflateParameters, PerMessageDeflate
from .sansio._errors import ConnectionClosed, HandshakeError, LocalProtocolError
from .sansio._handshake import Request, ServerHandshake
from .sansio._protocol import DEFAULT_MAX_MESSAGE_SIZE, Role

__all__ = ["DEFAULT_OPEN_TIMEOUT", "ServerSettings", "accept", "accept_with", "serve_stream"]

logger = logging.getLogger("rawsock.server")


#: ``select_subprotocol(request, offered)``: the subprotocol to use, one of ``offered``
#: (the client's list, in its order), or ``None`` for none; may be a coroutine function.
SubprotocolSelector = Callable[[Request, list[str]], "Awaitable[str | None] | str | None"]

Log = logging.LoggerAdapter[logging.Logger]
Handler = Callable[[WebSocket], Awaitable[Any]]


@dataclass(frozen=True, kw_only=True)
class ServerSettings(ConnectionSettings):
    """Every option of :func:`accept` (see there); ``serve`` builds one per server."""

    subprotocols: Sequence[str] = ()
    select_subprotocol: SubprotocolSelector | None = None
    extra_headers: Sequence[tuple[str, str]] = ()
    handle_request: RequestHook | None = None
    allowed_hosts: Sequence[str] | None = None
    origins: Sequence[str | None] | None = None
    basic_auth: BasicAuth | None = None
    max_request_line: int = 8192
    max_header_size: int = 16384
    max_headers: int = 128

    def new_handshake(self) -> ServerHandshake:
        """A :class:`ServerHandshake` with these size limits."""
        return ServerHandshake(
            max_request_line=self.max_request_line,
            max_header_size=self.max_header_size,
            max_headers=self.max_headers,
        )


@dataclass(frozen=True)
class _Upgrade:
    data: bytes  # the 101 response
    request: Request
    subprotocol: str | None
    agreed: DeflateParameters | None


@dataclass(frozen=True)
class _Answer:
    data: bytes  # the rendered response
    error: HandshakeError  # what accept() raises once it is sent


class _NoRequest(HandshakeError):
    """The client closed the connection before sending a byte (nothing is answered)."""

    def __init__(self) -> None:
        super().__init__("the client closed the connection without sending a request")


async def _maybe_await(value: Awaitable[str | None] | str | None) -> str | None:
    return await value if inspect.isawaitable(value) else value


async def _decide(
    request: Request, handshake: ServerHandshake, settings: ServerSettings, log: Log
) -> _Upgrade | _Answer:
    """The upgrade, or the rendered response to send instead."""
    result = await _check(request, handshake, settings, log)
    if isinstance(result, _Upgrade):
        return result
    data = render_response(handshake, request, result)
    message = f"{request.method} {request.target} was answered without an upgrade"
    return _Answer(data, HandshakeError(message, result.status, result.headers))


async def _check(
    request: Request, handshake: ServerHandshake, settings: ServerSettings, log: Log
) -> _Upgrade | HTTPResponse:
    """Steps 1 to 6 of the module docstring: the upgrade, or the response instead."""
    if settings.allowed_hosts is not None:
        refusal = check_host(request, settings.allowed_hosts)
        if refusal is not None:
            return refusal
    try:
        validated: Request | None = handshake.validate(request)
        invalid: HandshakeError | None = None
    except HandshakeError as error:
        validated, invalid = None, error
    if settings.handle_request is not None:
        response = await call_hook(settings.handle_request, validated or request)
        if response is not None:
            return response
    if validated is None:
        assert invalid is not None
        raise invalid
    if settings.origins is not None:
        refusal = check_origin(validated, settings.origins)
        if refusal is not None:
            return refusal
    if settings.basic_auth is not None:
        refusal = await settings.basic_auth.check(validated)
        if refusal is not None:
            return refusal
    offered = validated.subprotocols
    if settings.select_subprotocol is not None:
        subprotocol = await _maybe_await(settings.select_subprotocol(validated, list(offered)))
    else:
        subprotocol = next((p for p in settings.subprotocols if p in offered), None)
    compression = settings.compression
    agreed = compression.accept_offer(validated.extensions) if compression else None
    data = handshake.accept(
        validated,
        subprotocol=subprotocol,
        extensions=agreed[0] if agreed else None,
        extra_headers=settings.extra_headers,
    )
    log.debug("%s %s: 101 (subprotocol %s)", request.method, request.target, subprotocol)
    return _Upgrade(data, validated, subprotocol, agreed[1] if agreed else None)


def _rejection(handshake: ServerHandshake, error: HandshakeError) -> bytes:
    """The response for ``error``; 500 if its status or headers cannot be sent."""
    try:
        return handshake.reject_error(error)
    except LocalProtocolError:
        logger.exception("cannot send HTTP %s; answering 500", error.status_code)
        return handshake.reject(500, body=b"Internal server error.")


async def accept(
    stream: trio.abc.Stream,
    *,
    subprotocols: Sequence[str] = (),
    select_subprotocol: SubprotocolSelector | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
    handle_request: RequestHook | None = None,
    allowed_hosts: Sequence[str] | None = None,
    origins: Sequence[str | None] | None = None,
    basic_auth: BasicAuth | None = None,
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

    The request goes through the checks listed in this module's docstring, in order.

    Args:
        stream: a connected ``trio.abc.Stream`` (TCP, TLS, Unix socket, in-memory...).
        subprotocols: subprotocols we support, in order of preference; the first one
            the client also offers is selected (§4.2.2 item 4).
        select_subprotocol: instead of ``subprotocols``: ``f(request, offered)``
            returns one of ``offered`` or ``None``; raise :class:`HandshakeError` in it
            to refuse the connection with that status.
        extra_headers: more headers for the 101 response.
        handle_request: ``f(request)`` (or a coroutine function) called with every
            request before the upgrade, upgrade or not (``request.key`` is ``None``
            when the request is not a valid upgrade); it returns an
            :class:`HTTPResponse` to send instead, or ``None`` to go on.
        allowed_hosts: ``Host`` values served (see :func:`rawsock.check_host`); 421
            for others. ``None``: any.
        origins: ``Origin`` values allowed (``None`` in the list: no ``Origin``); 403
            for others (§10.2). ``None``: no check.
        basic_auth: require HTTP Basic credentials (RFC 7617); 401 without them.
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
        HandshakeError: no WebSocket came of it: the request was refused or answered
            by ``handle_request`` (``status_code`` is the status sent, the stream is
            closed), or it did not arrive within ``open_timeout`` (408, nothing sent).
    """
    settings = ServerSettings(
        subprotocols=subprotocols,
        select_subprotocol=select_subprotocol,
        extra_headers=extra_headers,
        handle_request=handle_request,
        allowed_hosts=allowed_hosts,
        origins=origins,
        basic_auth=basic_auth,
        compression=compression,
        max_message_size=max_message_size,
        max_frame_size=max_frame_size,
        receive_buffer=receive_buffer,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_request_line=max_request_line,
        max_header_size=max_header_size,
        max_headers=max_headers,
    )
    return await accept_with(stream, settings, connection_log(logger))


async def accept_with(
    stream: trio.abc.Stream, settings: ServerSettings, log: Log, pending: Pending | None = None
) -> WebSocket:
    """:func:`accept` with its options in ``settings``, logging to ``log``.

    Args:
        stream: the connection.
        settings: the options.
        log: the connection's logger.
        pending: lets a server interrupt the handshake when it shuts down.

    Returns:
        The open :class:`WebSocket`.

    Raises:
        HandshakeError: as :func:`accept` does; 503 when interrupted by ``pending``.
    """
    handshake = settings.new_handshake()
    interrupt = pending.scope if pending is not None else trio.CancelScope()
    received = 0
    try:
        with trio.fail_after(settings.deadline):
            try:
                with interrupt:
                    while (request := handshake.next_request()) is None:
                        data = await stream.receive_some(READ_SIZE)
                        received += len(data)
                        handshake.receive_data(data)
                    try:
                        answer = await _decide(request, handshake, settings, log)
                    except HandshakeError:
                        raise
                    except Exception as error:
                        log.exception("handshake callback failed; answering 500")
                        raise HandshakeError("Internal server error.", 500) from error
            except HandshakeError as error:
                if not received:  # a port probe or health check: nobody to answer
                    raise _NoRequest from error
                if not (pending is not None and pending.stopping):
                    await stream.send_all(_rejection(handshake, error))
                    raise
            if pending is not None and pending.stopping:
                # Shutting down: a client that sent nothing yet is only disconnected.
                if received:  # (a fresh handshake: the 101 may have been made, not sent)
                    body = b"The server is shutting down.\n"
                    await stream.send_all(settings.new_handshake().reject(503, body=body))
                    await linger(stream)
                raise HandshakeError("the server is shutting down", 503)
            if isinstance(answer, _Answer):
                await stream.send_all(answer.data)
                raise answer.error
            await stream.send_all(answer.data)
    except trio.TooSlowError:
        await trio.aclose_forcefully(stream)
        raise HandshakeError("the opening handshake timed out", 408) from None
    except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
        await trio.aclose_forcefully(stream)
        raise HandshakeError("the connection broke during the opening handshake") from error
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return settings.open_websocket(
        stream,
        Role.SERVER,
        answer.agreed,
        path=answer.request.target,
        request_headers=answer.request.headers,
        response_headers=handshake.response_headers,
        subprotocol=answer.subprotocol,
        initial_data=handshake.trailing_data,
    )


async def run_handler(handler: Handler, ws: WebSocket, log: Log) -> None:
    """Run ``handler``; 1011 if it raises, 1000 when it returns (if still open)."""
    log.info("open: %s", ws.path)
    try:
        await handler(ws)
    except ConnectionClosed:
        pass  # the peer went away; nothing more to do
    except Exception:
        log.exception("connection handler failed; closing the connection with 1011")
        await ws.aclose(1011, "internal error")
    finally:
        await ws.aclose()
        reason = f" {ws.close_reason}" if ws.close_reason else ""
        log.info("closed: %s%s", ws.close_code, reason)


def log_refusal(log: Log, error: HandshakeError) -> None:
    """Log a failed opening handshake: INFO with the status answered, or DEBUG for a
    connection that closed before sending anything (port probes, TCP health checks)."""
    if isinstance(error, _NoRequest):
        log.debug("%s", error)
    else:
        log.info("HTTP %s: %s", error.status_code, error)


async def serve_stream(handler: Handler, stream: trio.abc.Stream, **options: Any) -> None:
    """Serve one connection on ``stream``: handshake, handler, close.

    Call it to serve WebSocket connections from a custom listener. Never raises for a
    failed handshake or a failing handler (both are logged).

    Args:
        handler: ``async def handler(ws: WebSocket)``.
        stream: the connection.
        options: those of :func:`accept`.
    """
    log = connection_log(logger)
    try:
        ws = await accept_with(stream, ServerSettings(**options), log)
    except HandshakeError as error:
        log_refusal(log, error)
        return
    await run_handler(handler, ws, log)
