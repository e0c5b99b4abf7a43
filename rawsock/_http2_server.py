"""The server side of WebSockets over HTTP/2 (RFC 8441): one connection, many streams.

A connection whose TLS handshake chose ALPN ``h2`` comes here instead of to
``_accept.py``. Each request stream is served in its own task, in a nursery that the
connection's task owns:

- an extended CONNECT with ``:protocol`` ``websocket`` (RFC 8441 §4) goes through the
  same checks as an HTTP/1.1 upgrade (``_upgrade_policy.py``); accepted, it is answered
  ``200`` and the stream becomes the WebSocket's transport, served by the same handler;
- any other request goes to ``handle_request`` (a page and its WebSockets share one
  connection); without an answer from it, 400;
- a CONNECT for another protocol, or a plain CONNECT (a tunnel), is answered 501; a
  malformed request (RFC 9113 §8.1.1) is reset with PROTOCOL_ERROR.

The client must send its preface and SETTINGS within ``open_timeout``, each request is
decided within it too (else the stream is reset with CANCEL), and a connection that has
had no open stream for that long is closed (GOAWAY), as browsers expect of idle ones.
A server shutting down sends GOAWAY first (no new streams), then closes each WebSocket
with 1001; the connection closes once its last stream has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
from h2.errors import ErrorCodes

from ._accept import Log
from ._clock import LivenessClock
from ._connection import WebSocket
from ._http import HTTPResponse
from ._http2_connection import HTTP2Connection
from ._http2_request import (
    MalformedRequest,
    UnsupportedConnect,
    refusal_of,
    request_of,
    response_headers,
    validate_websocket,
)
from ._http2_stream import HTTP2Stream
from ._settings import ServerSettings
from ._upgrade_policy import decide_upgrade
from .sansio._errors import HandshakeError
from .sansio._handshake_parts import Request
from .sansio._headers import Headers
from .sansio._protocol import Role

__all__ = ["serve_http2"]

RunWebSocket = Callable[[WebSocket, Log], Awaitable[None]]


async def serve_http2(
    transport: trio.abc.Stream,
    settings: ServerSettings,
    run_websocket: RunWebSocket,
    log: Log,
    *,
    clock: LivenessClock | None = None,
    registry: set[HTTP2Connection] | None = None,
) -> None:
    """Serve one HTTP/2 connection until it ends; ``transport`` is closed on return.

    Args:
        transport: the TLS stream, its handshake done, ALPN ``h2``.
        settings: the server's options.
        run_websocket: runs the handler of each accepted WebSocket.
        log: the connection's logger.
        clock: the server's timers and background tasks.
        registry: the server's set of HTTP/2 connections (for GOAWAY at shutdown).
    """
    connection = HTTP2Connection(
        transport, client=False, max_header_list_size=settings.max_header_size
    )
    if registry is not None:
        registry.add(connection)
    try:
        await connection.start()
        with trio.move_on_after(settings.deadline):  # (a shutdown's GOAWAY ends it too)
            await connection.wait_for(
                lambda: connection.settings_received or connection.goaway_sent is not None
            )
        if not connection.settings_received:
            log.info("HTTP/2: no preface and SETTINGS within open_timeout; closing")
            return
        log.debug("HTTP/2 connection open")
        async with trio.open_nursery() as nursery:
            watchdog = trio.CancelScope()
            nursery.start_soon(_close_when_idle, connection, settings.deadline, log, watchdog)
            while (stream := await connection.next_request()) is not None:
                nursery.start_soon(_serve_stream, stream, settings, run_websocket, log, clock)
            watchdog.cancel()
        if connection.failure is not None:
            log.info("HTTP/2 connection ended: %s", connection.failure)
    finally:
        if registry is not None:
            registry.discard(connection)
        await connection.aclose()


async def _close_when_idle(
    connection: HTTP2Connection, idle_timeout: float, log: Log, scope: trio.CancelScope
) -> None:
    """GOAWAY once the connection has had no stream for ``idle_timeout`` seconds."""
    with scope:
        while True:
            idle_since = connection.idle_since
            now = trio.current_time()
            if idle_since is not None and now >= idle_since + idle_timeout:
                log.debug("HTTP/2 connection idle for %g s (open_timeout): GOAWAY", idle_timeout)
                await connection.goaway()
                return
            await trio.sleep(
                idle_timeout if idle_since is None else idle_since + idle_timeout - now
            )


async def _serve_stream(
    stream: HTTP2Stream,
    settings: ServerSettings,
    run_websocket: RunWebSocket,
    log: Log,
    clock: LivenessClock | None,
) -> None:
    try:
        try:
            request, protocol = request_of(stream.headers)
        except MalformedRequest as error:
            log.info("HTTP/2 stream %d: malformed request (%s)", stream.stream_id, error)
            await stream.reset(ErrorCodes.PROTOCOL_ERROR)
            return
        except UnsupportedConnect:
            await _respond(stream, None, HTTPResponse.text(501, "This server is not a proxy."))
            return
        if protocol is not None and protocol.lower() != "websocket":
            message = f"This server does not speak {protocol!r} over CONNECT."
            await _respond(stream, request, HTTPResponse.text(501, message))
            return
        with trio.move_on_after(settings.deadline) as scope:
            try:
                result = await decide_upgrade(request, validate_websocket, settings)
            except HandshakeError as error:
                result = refusal_of(error)
            except Exception:
                log.exception("handshake callback failed; answering 500")
                result = HTTPResponse.text(500, "Internal server error.")
        if scope.cancelled_caught:
            log.info("HTTP/2 stream %d: not decided within open_timeout", stream.stream_id)
            await stream.reset(ErrorCodes.CANCEL)
            return
        if isinstance(result, HTTPResponse):
            log.info("%s %s (HTTP/2): %d", request.method, request.target, result.status)
            await _respond(stream, request, result)
            return
        answer: list[tuple[str, str]] = []
        if result.subprotocol is not None:
            answer.append(("sec-websocket-protocol", result.subprotocol))
        if result.extensions is not None:
            answer.append(("sec-websocket-extensions", result.extensions))
        answer.extend(settings.extra_headers)
        await stream.send_headers(response_headers(200, answer))
        ws = settings.open_websocket(
            stream,
            Role.SERVER,
            result.agreed,
            path=result.request.target,
            request_headers=result.request.headers.compact(),
            response_headers=Headers(answer),
            subprotocol=result.subprotocol,
            initial_data=b"",
            clock=clock,
            http_version="2",
        )
        await run_websocket(ws, log)
    except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
        log.debug("HTTP/2 stream %d ended: %s", stream.stream_id, error)
    finally:
        await stream.aclose()


async def _respond(stream: HTTP2Stream, request: Request | None, response: HTTPResponse) -> None:
    """Send ``response`` on ``stream`` (no body for ``HEAD``), then end it."""
    body = b"" if request is not None and request.method == "HEAD" else response.body
    headers = response_headers(response.status, response.headers, len(response.body))
    await stream.send_headers(headers, end=not body)
    if body:
        await stream.send_all(body)
        await stream.send_eof()
