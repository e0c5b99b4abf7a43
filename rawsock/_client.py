"""WebSocket clients on Trio: :func:`connect` (RFC 6455 §4.1), over TCP, TLS or a Stream."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import trio

from ._connection import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_RECEIVE_BUFFER,
    READ_SIZE,
    WebSocket,
)
from .sansio._client_handshake import ClientHandshake
from .sansio._deflate import DEFAULT_COMPRESSION, PerMessageDeflate
from .sansio._errors import HandshakeError
from .sansio._protocol import DEFAULT_MAX_MESSAGE_SIZE, Protocol, Role

__all__ = ["WebSocketURL", "connect", "parse_url"]

#: Seconds allowed for TCP connect, TLS and the opening handshake together.
DEFAULT_OPEN_TIMEOUT = 10.0


@dataclass(frozen=True)
class WebSocketURL:
    """A parsed ``ws://`` or ``wss://`` URL (RFC 6455 §3)."""

    secure: bool
    host: str
    port: int
    target: str  # path and query, "/" at least

    @property
    def host_header(self) -> str:
        """The ``Host`` header value: the port only when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str) -> WebSocketURL:
    """Parse a WebSocket URL (RFC 6455 §3).

    Raises:
        ValueError: not a ``ws``/``wss`` URL, no host, a bad port, or a fragment
            (§3: "Fragment identifiers ... MUST NOT be used on these URIs").
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"not a WebSocket URL (scheme must be ws or wss): {url!r}")
    if parts.fragment or url.endswith("#"):
        raise ValueError(f"WebSocket URLs cannot have a fragment: {url!r}")
    if not parts.hostname:
        raise ValueError(f"WebSocket URL has no host: {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"WebSocket URL has an invalid port: {url!r}") from None
    secure = parts.scheme == "wss"
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return WebSocketURL(secure, parts.hostname, port or (443 if secure else 80), target)


@asynccontextmanager
async def connect(
    url: str,
    *,
    subprotocols: Sequence[str] = (),
    extra_headers: Sequence[tuple[str, str]] = (),
    ssl_context: ssl.SSLContext | None = None,
    stream: trio.abc.Stream | None = None,
    compression: PerMessageDeflate | None = DEFAULT_COMPRESSION,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    max_frame_size: int | None = None,
    receive_buffer: int = DEFAULT_RECEIVE_BUFFER,
    open_timeout: float | None = DEFAULT_OPEN_TIMEOUT,
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ping_interval: float | None = DEFAULT_PING_INTERVAL,
    ping_timeout: float | None = DEFAULT_PING_TIMEOUT,
) -> AsyncIterator[WebSocket]:
    """Open a WebSocket connection; closes it when the block exits.

    ::

        async with rawsock.connect("ws://127.0.0.1:8000/") as ws:
            await ws.send("hello")
            print(await ws.receive())

    Args:
        url: ``ws://host[:port]/path?query`` or ``wss://...``.
        subprotocols: subprotocols to offer, in order of preference.
        extra_headers: more request headers (``Origin``, ``Authorization``, cookies...).
        ssl_context: for ``wss://``; by default ``ssl.create_default_context()``.
        stream: an already connected ``trio.abc.Stream`` to run the connection over
            (the URL then only gives the Host header and path; no TLS is added). The
            connection owns it from then on and closes it, also when the handshake fails.
        compression: permessage-deflate settings to offer (RFC 7692); ``None`` turns
            compression off.
        max_message_size: largest message accepted (1009 beyond); ``None``: no limit.
        max_frame_size: largest frame accepted (1009 beyond); default: the message limit.
        receive_buffer: bytes of unconsumed messages held before reading stops.
        open_timeout: seconds for connecting and the opening handshake; ``None``: none.
        close_timeout: seconds to wait for the closing handshake.
        ping_interval: seconds between keepalive pings; ``None`` turns keepalive off.
        ping_timeout: seconds to wait for a keepalive pong before closing with 1011;
            ``None``: wait forever.

    Raises:
        ValueError: the URL is not a valid WebSocket URL.
        OSError: the TCP connection could not be made.
        HandshakeRejected: the server answered with an HTTP error (status, headers, body).
        HandshakeError: the server's 101 response broke RFC 6455 §4.1, the connection
            dropped during the handshake, or ``open_timeout`` passed (status 408).
    """
    ws = await _open(
        parse_url(url),
        subprotocols=subprotocols,
        extra_headers=extra_headers,
        ssl_context=ssl_context,
        stream=stream,
        open_timeout=open_timeout,
        compression=compression,
        max_message_size=max_message_size,
        max_frame_size=max_frame_size,
        close_timeout=close_timeout,
        receive_buffer=receive_buffer,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )
    try:
        yield ws
    finally:
        await ws.aclose()


async def _open(
    target: WebSocketURL,
    *,
    subprotocols: Sequence[str],
    extra_headers: Sequence[tuple[str, str]],
    ssl_context: ssl.SSLContext | None,
    stream: trio.abc.Stream | None,
    open_timeout: float | None,
    compression: PerMessageDeflate | None,
    max_message_size: int | None,
    max_frame_size: int | None,
    close_timeout: float,
    receive_buffer: int,
    ping_interval: float | None,
    ping_timeout: float | None,
) -> WebSocket:
    handshake = ClientHandshake(
        target.host_header,
        target.target,
        subprotocols=subprotocols,
        extensions=compression.offer() if compression else None,
        extra_headers=extra_headers,
    )
    try:
        with trio.fail_after(open_timeout if open_timeout is not None else float("inf")):
            if stream is None:
                stream = await trio.open_tcp_stream(target.host, target.port)
                if target.secure:
                    stream = trio.SSLStream(
                        stream,
                        ssl_context or ssl.create_default_context(),
                        server_hostname=target.host,
                        https_compatible=True,
                    )
            await stream.send_all(handshake.request_bytes())
            while (response := handshake.next_response()) is None:
                handshake.receive_data(await stream.receive_some(READ_SIZE))
            agreed = compression.accept_response(response.extensions) if compression else None
    except trio.TooSlowError:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise HandshakeError("the opening handshake timed out", 408) from None
    except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise HandshakeError(
            "the connection broke during the opening handshake", 0
        ) from error
    except BaseException:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise
    protocol = Protocol(
        Role.CLIENT,
        max_message_size=max_message_size,
        max_frame_size=max_frame_size,
        deflate=compression.codec(agreed, client=True) if compression and agreed else None,
    )
    return WebSocket(
        stream,
        protocol,
        path=target.target,
        request_headers=handshake.request_headers,
        response_headers=response.headers,
        subprotocol=response.subprotocol,
        close_timeout=close_timeout,
        receive_buffer=receive_buffer,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        initial_data=handshake.trailing_data,
    )
