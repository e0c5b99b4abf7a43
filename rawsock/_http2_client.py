"""The client side of WebSockets over HTTP/2 (RFC 8441), and the connections it shares.

``connect(url, http2=True)`` (or ``"auto"``) opens a ``wss://`` WebSocket as a stream of
an HTTP/2 connection: the TLS handshake offers ALPN ``h2`` and ``http/1.1``; once the
server's SETTINGS allow extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441
§3), the request is a CONNECT with ``:protocol`` ``websocket`` (§4), and a 200 opens it
(§5). With ``"auto"``, a server that chooses HTTP/1.1 in ALPN gets the HTTP/1.1 upgrade
on the same TLS connection, and one that speaks HTTP/2 without allowing WebSockets on
it gets a new connection that offers only HTTP/1.1.

Connections are shared: within one Trio run, ``connect`` calls to the same host, port
and ``ssl_context`` (and proxy) open their WebSockets on one HTTP/2 connection while it
has room for another stream (the server's SETTINGS_MAX_CONCURRENT_STREAMS), and that
connection closes when its last WebSocket does. The pool lives in a ``trio.lowlevel
.RunVar``, so each ``trio.run`` has its own and nothing outlives the run.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from ._accept import Log
from ._clock import LivenessClock
from ._connection import WebSocket
from ._http2_connection import HTTP2Connection
from ._http2_limits import MAX_RESPONSE_BODY
from ._http2_optional import ALPN_PROTOCOLS, tls_context
from ._http2_request import response_of, websocket_request
from ._http2_stream import HTTP2Stream
from ._options import DEFAULT_MAX_HEADER_SIZE
from ._settings import ClientSettings
from .sansio._errors import HandshakeError, HandshakeRejected
from .sansio._extension_header import parse_extensions
from .sansio._handshake_parts import parse_header
from .sansio._protocol import Role

__all__ = ["NoHTTP2", "open_over_http2"]

_Key = tuple[str, int, ssl.SSLContext | None, str | bool | None]
Connect = Callable[[], Awaitable[trio.abc.Stream]]


@dataclass
class _Pool:
    """The HTTP/2 connections of one Trio run, by origin."""

    connections: dict[_Key, list[HTTP2Connection]] = field(default_factory=dict)
    locks: dict[_Key, trio.Lock] = field(default_factory=dict)

    def usable(self, key: _Key) -> HTTP2Connection | None:
        for connection in self.connections.get(key, []):
            if connection.accepting_streams and connection.has_room():
                return connection
        return None

    def add(self, key: _Key, connection: HTTP2Connection) -> None:
        self.connections.setdefault(key, []).append(connection)

    def remove(self, key: _Key, connection: HTTP2Connection) -> None:
        kept = [c for c in self.connections.get(key, []) if c is not connection]
        if kept:
            self.connections[key] = kept
        else:
            self.connections.pop(key, None)
            lock = self.locks.get(key)
            if lock is not None and not lock.locked() and not lock.statistics().tasks_waiting:
                del self.locks[key]


_POOL: trio.lowlevel.RunVar[_Pool] = trio.lowlevel.RunVar("rawsock_http2_pool")


def _pool() -> _Pool:
    try:
        return _POOL.get()
    except LookupError:
        pool = _Pool()
        _POOL.set(pool)
        return pool


class NoHTTP2(HandshakeError):
    """The server does not carry WebSockets over HTTP/2: ``stream`` (if not ``None``)
    is the TLS connection on which it chose HTTP/1.1, for the HTTP/1.1 upgrade."""

    def __init__(self, message: str, stream: trio.abc.Stream | None) -> None:
        super().__init__(message, 0)
        self.stream = stream


async def open_over_http2(
    settings: ClientSettings,
    log: Log,
    *,
    host: str,
    port: int,
    authority: str,
    target: str,
    connect: Connect,
    clock: LivenessClock | None,
) -> WebSocket:
    """Open a WebSocket as a stream of a (shared) HTTP/2 connection to ``host:port``.

    Args:
        settings: the client's options.
        log: the connection's logger.
        host: the server's name (TLS's server name, part of the pool's key).
        port: the server's port.
        authority: ``:authority`` (the ``Host`` of HTTP/1.1).
        target: ``:path``: the path and query.
        connect: opens the TCP connection (directly or through a proxy).
        clock: the caller's timers and background tasks.

    Raises:
        NoHTTP2: the server chose HTTP/1.1, or does not allow WebSockets over HTTP/2.
        HandshakeRejected: the server answered with a status other than 200.
        HandshakeError: the connection or the stream failed during the handshake.
    """
    pool = _pool()
    key: _Key = (host, port, settings.ssl_context, settings.proxy)
    lock = pool.locks.setdefault(key, trio.Lock())
    compression = settings.compression
    offer = compression.offer() if compression else None
    headers, request_headers = websocket_request(
        authority,
        target,
        subprotocols=settings.subprotocols,
        extensions=offer,
        extra_headers=settings.extra_headers,
    )
    async with lock:
        connection = pool.usable(key)
        if connection is None:
            connection = await _new_connection(host, settings, connect)
            pool.add(key, connection)
            log.debug("HTTP/2 connection to %s:%d open", host, port)
        stream = connection.open_stream(headers)
    stream.on_close = _closer(pool, key, connection)
    try:
        await connection.flush()
        await connection.wait_for(lambda: bool(stream.headers) or _ended(stream), stream.lot)
        if not stream.headers:
            raise HandshakeError("the HTTP/2 stream ended before the server answered", 0)
        status, response_headers = response_of(
            stream.headers, subprotocols=settings.subprotocols, offered_extensions=bool(offer)
        )
        if status != 200:
            raise HandshakeRejected(status, response_headers.raw, await _body(stream))
        extensions = parse_header(
            parse_extensions, response_headers, "Sec-WebSocket-Extensions", 200
        )
        agreed = compression.accept_response(extensions) if compression else None
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    subprotocol = response_headers.get("Sec-WebSocket-Protocol")
    log.info("open: wss://%s%s over HTTP/2 (subprotocol %s)", authority, target, subprotocol)
    return settings.open_websocket(
        stream,
        Role.CLIENT,
        agreed,
        path=target,
        request_headers=request_headers,
        response_headers=response_headers.compact(),
        subprotocol=subprotocol,
        initial_data=b"",
        clock=clock,
        http_version="2",
    )


def _ended(stream: HTTP2Stream) -> bool:
    return stream.remote_ended or stream.reset_code is not None or stream.broken


async def _body(stream: HTTP2Stream) -> bytes:
    """The start of a refusal's body (at most ``MAX_RESPONSE_BODY`` bytes)."""
    body = bytearray()
    try:
        while len(body) < MAX_RESPONSE_BODY and (data := await stream.receive_some()):
            body += data
    except trio.BrokenResourceError:
        pass
    return bytes(body[:MAX_RESPONSE_BODY])


async def _new_connection(host: str, settings: ClientSettings, connect: Connect) -> HTTP2Connection:
    """A new HTTP/2 connection whose server allows WebSockets on it (RFC 8441 §3).

    Raises:
        NoHTTP2: the server chose HTTP/1.1 (the TLS stream goes with the error), or
            speaks HTTP/2 without SETTINGS_ENABLE_CONNECT_PROTOCOL.
    """
    transport = await connect()
    context = tls_context(settings.ssl_context, ALPN_PROTOCOLS)
    tls = trio.SSLStream(transport, context, server_hostname=host, https_compatible=True)
    try:
        await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tls)
        raise
    if tls.selected_alpn_protocol() != "h2":
        raise NoHTTP2("the server chose HTTP/1.1 in the TLS handshake (ALPN)", tls)
    connection = HTTP2Connection(tls, client=True, max_header_list_size=DEFAULT_MAX_HEADER_SIZE)
    try:
        await connection.start()
        await connection.wait_for(lambda: connection.settings_received)
        if connection.failure is not None:
            raise HandshakeError("the HTTP/2 connection failed", 0) from connection.failure
        if not connection.remote_settings.enable_connect_protocol:
            message = "the server does not allow WebSockets over HTTP/2"
            raise NoHTTP2(f"{message} (no SETTINGS_ENABLE_CONNECT_PROTOCOL)", None)
    except BaseException:
        with trio.CancelScope(shield=True):
            await connection.aclose()
        raise
    return connection


def _closer(
    pool: _Pool, key: _Key, connection: HTTP2Connection
) -> Callable[[HTTP2Stream], Awaitable[None]]:
    async def closed(stream: HTTP2Stream) -> None:
        if not connection.streams:  # its last WebSocket: the connection goes too
            pool.remove(key, connection)
            with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                await connection.aclose()

    return closed
