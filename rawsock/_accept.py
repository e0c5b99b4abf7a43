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

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Unpack

import trio

from ._clock import LivenessClock
from ._connection import WebSocket, finish
from ._direct_socket import send_without_waiting
from ._http import (
    HEAD_READ_SIZE,
    HTTPResponse,
    Pending,
    connection_log,
    linger,
    render_response,
)
from ._options import ServerOptions
from ._settings import ServerSettings
from ._upgrade_policy import decide_upgrade
from .sansio._deflate import DeflateParameters
from .sansio._errors import ConnectionClosed, HandshakeError, LocalProtocolError
from .sansio._handshake import ServerHandshake
from .sansio._handshake_parts import Request
from .sansio._protocol import Role

__all__ = ["accept", "accept_with", "checked_settings", "serve_stream"]

logger = logging.getLogger("rawsock.server")


Log = logging.LoggerAdapter[logging.Logger]
Handler = Callable[[WebSocket], Awaitable[Any]]


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
    result = await decide_upgrade(request, handshake.validate, settings)
    if isinstance(result, HTTPResponse):
        return result
    data = handshake.accept(
        result.request,
        subprotocol=result.subprotocol,
        extensions=result.extensions,
        extra_headers=settings.extra_headers,
    )
    log.debug("%s %s: 101 (subprotocol %s)", request.method, request.target, result.subprotocol)
    return _Upgrade(data, result.request, result.subprotocol, result.agreed)


def _rejection(handshake: ServerHandshake, error: HandshakeError) -> bytes:
    """The response for ``error``; 500 if its status or headers cannot be sent."""
    try:
        return handshake.reject_error(error)
    except LocalProtocolError:
        logger.exception("cannot send HTTP %s; answering 500", error.status_code)
        return handshake.reject(500, body=b"Internal server error.")


async def checked_settings(
    stream: trio.abc.Stream, options: Mapping[str, object], caller: str
) -> ServerSettings:
    """The settings of ``options`` for ``caller``; ``stream`` is closed when they fail.

    Raises:
        TypeError: an unknown option, or an option of the wrong type.
        ValueError: an option out of range.
    """
    try:
        return ServerSettings.from_options(options, caller)
    except (TypeError, ValueError):
        await trio.aclose_forcefully(stream)
        raise


async def accept(stream: trio.abc.Stream, **options: Unpack[ServerOptions]) -> WebSocket:
    """Run the server side of the opening handshake on ``stream`` (RFC 6455 §4.2).

    The request goes through the checks of :class:`rawsock.ServerOptions`, in the order
    given there.

    Args:
        stream: a connected ``trio.abc.Stream`` (TCP, TLS, Unix socket, in-memory...).
            It is closed whenever ``accept`` raises.
        **options: the server options, described with their defaults and ranges in
            :class:`rawsock.ServerOptions` and :class:`rawsock.ConnectionOptions`.

    Returns:
        The open :class:`WebSocket`.

    Raises:
        TypeError: an unknown option, or an option of the wrong type (before anything is
            read).
        ValueError: an option out of range (before anything is read).
        HandshakeError: no WebSocket came of it: the request was refused or answered
            by ``handle_request`` (``status_code`` is the status sent, the stream is
            closed), or it did not arrive within ``open_timeout`` (408, nothing sent).
    """
    settings = await checked_settings(stream, options, "accept")
    return await accept_with(stream, settings, connection_log(logger))


async def accept_with(
    stream: trio.abc.Stream,
    settings: ServerSettings,
    log: Log,
    pending: Pending | None = None,
    clock: LivenessClock | None = None,
) -> WebSocket:
    """:func:`accept` with its options in ``settings``, logging to ``log``.

    Args:
        stream: the connection.
        settings: the options.
        log: the connection's logger.
        pending: lets a server interrupt the handshake when it shuts down.
        clock: the server's timers and background tasks (``None``: the connection's own).

    Returns:
        The open :class:`WebSocket`.

    Raises:
        HandshakeError: as :func:`accept` does; 503 when interrupted by ``pending``.
    """
    handshake = settings.new_handshake()
    # One scope for the whole handshake: its deadline is open_timeout, and a server
    # shutting down cancels it (through ``pending``) until the answer is being sent.
    scope = pending.scope if pending is not None else trio.CancelScope()
    scope.deadline = trio.current_time() + settings.deadline
    received = 0
    answering = False  # the answer is being sent: a shutdown no longer interrupts
    try:
        with scope:
            try:
                while (request := handshake.next_request()) is None:
                    data = await stream.receive_some(HEAD_READ_SIZE)
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
                answering = _may_answer(pending)
                if answering:
                    await stream.send_all(_rejection(handshake, error))
                    raise
            else:
                answering = _may_answer(pending)
                if answering:
                    if isinstance(answer, _Answer):
                        await stream.send_all(answer.data)
                        raise answer.error
                    # (the request's receive was this call's checkpoint)
                    sent = send_without_waiting(stream, answer.data)
                    if sent < len(answer.data):
                        await stream.send_all(memoryview(answer.data)[sent:])
        if not answering and pending is not None and pending.stopping:
            # Shutting down: a client that sent nothing yet is only disconnected; one
            # whose handshake was under way (the 101 made, not sent) gets a 503.
            if received:
                with trio.move_on_after(settings.deadline):
                    body = b"The server is shutting down.\n"
                    await stream.send_all(settings.new_handshake().reject(503, body=body))
                    await linger(stream)
            raise HandshakeError("the server is shutting down", 503)
        if scope.cancelled_caught:
            message = f"the opening handshake timed out after {settings.deadline:g} s"
            raise HandshakeError(f"{message} (open_timeout)", 408)
        assert isinstance(answer, _Upgrade)
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
        request_headers=answer.request.headers.compact(),
        response_headers=handshake.response_headers.compact(),
        subprotocol=answer.subprotocol,
        initial_data=handshake.trailing_data,
        clock=clock,
    )


def _may_answer(pending: Pending | None) -> bool:
    """Whether no server shutdown came first; if so, the answer goes out uninterrupted."""
    if pending is None:
        return True
    pending.interruptible = False
    return not pending.stopping


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
        await finish(ws)
        reason = f" {ws.close_reason}" if ws.close_reason else ""
        log.info("closed: %s%s", ws.close_code, reason)


def log_refusal(log: Log, error: HandshakeError) -> None:
    """Log a failed opening handshake: INFO with the status answered, or DEBUG for a
    connection that closed before sending anything (port probes, TCP health checks)."""
    if isinstance(error, _NoRequest):
        log.debug("%s", error)
    else:
        log.info("HTTP %s: %s", error.status_code, error)


async def serve_stream(
    handler: Handler, stream: trio.abc.Stream, **options: Unpack[ServerOptions]
) -> None:
    """Serve one connection on ``stream``: handshake, handler, close.

    Call it to serve WebSocket connections from a custom listener. Never raises for a
    failed handshake or a failing handler (both are logged).

    Args:
        handler: ``async def handler(ws: WebSocket)``.
        stream: the connection; it is closed when this returns or raises.
        **options: the server options, as for :func:`accept`: see
            :class:`rawsock.ServerOptions` and :class:`rawsock.ConnectionOptions`.

    Raises:
        TypeError: an unknown option, or an option of the wrong type.
        ValueError: an option out of range.
    """
    settings = await checked_settings(stream, options, "serve_stream")
    log = connection_log(logger)
    try:
        ws = await accept_with(stream, settings, log)
    except HandshakeError as error:
        log_refusal(log, error)
        return
    await run_handler(handler, ws, log)
