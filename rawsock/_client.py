"""WebSocket clients on Trio: :func:`connect` (RFC 6455 §4.1).

The transport is TCP, TLS (``wss://``), a Unix-domain socket, an HTTP CONNECT proxy
tunnel (``_proxy.py``) or a given stream. A 3xx answer with a ``Location`` is followed
(RFC 6455 §4.1: "the client MAY ... follow redirects"), at most ``max_redirects``
times, with ``http``/``https`` locations mapped to ``ws``/``wss``. A redirect from
``wss://`` to ``ws://`` is refused, and ``Authorization`` and ``Cookie`` headers are
dropped when a redirect leads to another host or port.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import Unpack
from urllib.parse import urljoin, urlsplit

import trio

from ._clock import LivenessClock
from ._connection import WebSocket, finish
from ._http import HEAD_READ_SIZE, connection_log
from ._http2_optional import tls_context
from ._options import ClientOptions
from ._proxy import open_tunnel, parse_proxy_url, proxy_from_environment
from ._settings import ClientSettings
from .sansio._client_handshake import ClientHandshake
from .sansio._errors import HandshakeError, HandshakeRejected
from .sansio._headers import Headers
from .sansio._protocol import Role

__all__ = ["WebSocketURL", "connect", "open_websocket", "parse_url"]

logger = logging.getLogger("rawsock.client")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIALS = frozenset({"authorization", "cookie"})

Log = logging.LoggerAdapter[logging.Logger]


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

    def __str__(self) -> str:
        return f"{'wss' if self.secure else 'ws'}://{self.host_header}{self.target}"


def parse_url(url: str) -> WebSocketURL:
    """Parse a WebSocket URL (RFC 6455 §3).

    Raises:
        ValueError: not a ``ws``/``wss`` URL, no host, a bad port, or a fragment
            (§3: "Fragment identifiers ... MUST NOT be used on these URIs").
    """
    try:
        parts = urlsplit(url)
    except ValueError as error:  # for instance "Invalid IPv6 URL"
        raise ValueError(f"cannot parse {url!r}: {error}") from None
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


def _not_tls(error: BaseException) -> bool:
    """Whether ``error`` comes from a TLS handshake with a peer that answered in clear."""
    cause = error.__cause__
    return isinstance(cause, ssl.SSLError) and cause.reason in (
        "WRONG_VERSION_NUMBER",
        "HTTP_REQUEST",
        "RECORD_LAYER_FAILURE",
    )


def _redirect_target(current: WebSocketURL, location: str) -> WebSocketURL:
    """Resolve ``Location`` against the current URL; map http(s) to ws(s)."""
    base = f"{'https' if current.secure else 'http'}://{current.host_header}{current.target}"
    url = urljoin(base, location.strip())
    scheme, sep, rest = url.partition("://")
    scheme = {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme.lower())
    return parse_url(scheme + sep + rest)


def connect(
    url: str, *, stream: trio.abc.Stream | None = None, **options: Unpack[ClientOptions]
) -> AbstractAsyncContextManager[WebSocket]:
    """Open a WebSocket connection; closes it when the block exits.

    ::

        async with rawsock.connect("ws://127.0.0.1:8000/") as ws:
            await ws.send("hello")
            print(await ws.receive())

    Args:
        url: ``ws://host[:port]/path?query`` or ``wss://...``.
        stream: an already connected ``trio.abc.Stream`` to run the connection over
            (the URL then only gives the Host header and path; no TLS is added, no
            redirect followed). The connection owns it from the ``async with`` on and
            closes it, also when the handshake fails.
        **options: the client options (``subprotocols``, ``extra_headers``,
            ``ssl_context``, ``proxy``...), described with their defaults and ranges in
            :class:`rawsock.ClientOptions` and :class:`rawsock.ConnectionOptions`.

    Raises:
        TypeError: an unknown option, or an option of the wrong type: raised by the
            call itself, before any I/O (a ``stream`` is then left as it is).
        ValueError: an option out of range, or ``http2=True`` with ``stream`` (raised by
            the call, like ``TypeError``); on entering, the URL (or the proxy URL, or a
            redirect) is not valid, or is a ``ws://`` URL with ``http2=True``.
        ImportError: ``http2`` asked for without the ``h2`` package (raised by the call).
        OSError: the connection (to the server or the proxy) could not be made.
        ProxyError: the proxy refused the tunnel (its status in ``status_code``).
        HandshakeRejected: the server answered with an HTTP error (status, headers, body),
            or with a redirect that was not followed.
        HandshakeError: the server's 101 response broke RFC 6455 §4.1 (or its 200 over
            HTTP/2, RFC 8441 §5), the connection dropped during the handshake,
            ``open_timeout`` passed (status 408), too many redirects, a redirect from
            ``wss`` to ``ws``, or ``http2=True`` with a server that does not allow
            WebSockets over HTTP/2.
    """
    settings = ClientSettings.from_options(options, "connect")
    if stream is not None and settings.http2 is True:
        raise ValueError("http2=True makes its own TLS connection: it cannot use stream")
    return _connection(url, settings, stream)


@asynccontextmanager
async def _connection(
    url: str, settings: ClientSettings, stream: trio.abc.Stream | None
) -> AsyncIterator[WebSocket]:
    # The connection's background work (keepalive, reading while the block does not)
    # runs in this nursery. Its tasks never raise, so any exception comes from the
    # handshake or the block: it is re-raised as it is, outside the nursery, rather
    # than wrapped in an exception group.
    failure: BaseException | None = None
    async with trio.open_nursery() as nursery:
        clock = LivenessClock(nursery)
        try:
            ws = await open_websocket(url, settings, stream=stream, clock=clock)
            try:
                yield ws
            finally:
                await finish(ws)
        except BaseException as error:
            failure = error
        # The reader's task ends with the connection; the clock's when told to, and
        # what is left (a close frame still being written, within its time limit)
        # finishes before the block is over.
        clock.close()
    if failure is not None:
        raise failure


async def open_websocket(
    url: str,
    settings: ClientSettings,
    *,
    stream: trio.abc.Stream | None = None,
    clock: LivenessClock | None = None,
) -> WebSocket:
    """:func:`connect` without the context manager: the caller closes the WebSocket.

    ``clock`` runs the connection's timers and background tasks in the caller's
    nursery; ``None``: the connection runs its own (as system tasks).

    Raises:
        As :func:`connect`.
    """
    target = parse_url(url)
    log = connection_log(logger)
    follow = stream is None and settings.unix_socket_path is None and settings.max_redirects > 0
    for redirects in range(settings.max_redirects + 1):
        try:
            return await _open(target, settings, stream, log, clock)
        except HandshakeRejected as rejected:
            location = Headers(rejected.headers).get("Location")
            if not follow or rejected.status_code not in _REDIRECTS or location is None:
                raise
            if redirects == settings.max_redirects:
                message = f"more than {settings.max_redirects} redirects"
                raise HandshakeError(message, rejected.status_code) from rejected
            new = _redirect_target(target, location)
            if target.secure and not new.secure:
                message = f"refusing to follow a redirect from wss:// to {new}"
                raise HandshakeError(message, rejected.status_code) from rejected
            if (new.host, new.port) != (target.host, target.port):
                kept = [(n, v) for n, v in settings.extra_headers if n.lower() not in _CREDENTIALS]
                settings = replace(settings, extra_headers=kept)
            log.info("redirected (%d) to %s", rejected.status_code, new)
            target = new
    raise AssertionError("unreachable")  # pragma: no cover


async def _transport(target: WebSocketURL, settings: ClientSettings, log: Log) -> trio.abc.Stream:
    """Connect to the server (directly, through a proxy, or over a Unix socket)."""
    if settings.unix_socket_path is not None:
        log.debug("connecting to %s over %s", target, settings.unix_socket_path)
        return await trio.open_unix_socket(settings.unix_socket_path)
    proxy = settings.proxy
    if proxy is True:
        proxy = proxy_from_environment(target.secure, target.host, target.port)
    if isinstance(proxy, str):
        log.debug("connecting to %s through the proxy %s", target, proxy)
        return await open_tunnel(parse_proxy_url(proxy), target.host, target.port)
    log.debug("connecting to %s", target)
    return await trio.open_tcp_stream(target.host, target.port)


async def _over_http2(
    target: WebSocketURL, settings: ClientSettings, log: Log, clock: LivenessClock | None
) -> WebSocket | trio.abc.Stream | None:
    """The WebSocket over HTTP/2; with ``http2="auto"``, the TLS stream on which the
    server chose HTTP/1.1 instead, or ``None`` (a new connection is needed)."""
    from ._http2_client import NoHTTP2, open_over_http2  # noqa: PLC0415 (h2 is optional)

    try:
        return await open_over_http2(
            settings,
            log,
            host=target.host,
            port=target.port,
            authority=target.host_header,
            target=target.target,
            connect=partial(_transport, target, settings, log),
            clock=clock,
        )
    except NoHTTP2 as refusal:
        if settings.http2 is True:
            if refusal.stream is not None:
                await trio.aclose_forcefully(refusal.stream)
            raise HandshakeError(f"{refusal} (http2='auto' would use HTTP/1.1)", 0) from None
        log.info("%s: using HTTP/1.1", refusal)
        return refusal.stream


async def _open(
    target: WebSocketURL,
    settings: ClientSettings,
    stream: trio.abc.Stream | None,
    log: Log,
    clock: LivenessClock | None,
) -> WebSocket:
    compression = settings.compression
    handshake = ClientHandshake(
        target.host_header,
        target.target,
        subprotocols=settings.subprotocols,
        extensions=compression.offer() if compression else None,
        extra_headers=settings.extra_headers,
    )
    if settings.http2 is True and not target.secure:
        raise ValueError(f"http2=True needs a wss:// URL (HTTP/2 is offered by TLS), not {target}")
    try:
        with trio.fail_after(settings.deadline):
            if stream is None and target.secure and settings.http2:
                over_http2 = await _over_http2(target, settings, log, clock)
                if isinstance(over_http2, WebSocket):
                    return over_http2
                stream = over_http2
            if stream is None:
                stream = await _transport(target, settings, log)
                if target.secure:
                    stream = trio.SSLStream(
                        stream,
                        tls_context(settings.ssl_context, ["http/1.1"]),
                        server_hostname=target.host,
                        https_compatible=True,
                    )
            await stream.send_all(handshake.request_bytes())
            while (response := handshake.next_response()) is None:
                handshake.receive_data(await stream.receive_some(HEAD_READ_SIZE))
            agreed = compression.accept_response(response.extensions) if compression else None
    except trio.TooSlowError:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        message = f"the opening handshake timed out after {settings.deadline:g} s (open_timeout)"
        raise HandshakeError(message, 408) from None
    except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        message = "the connection broke during the opening handshake"
        if target.secure and _not_tls(error):
            message += " (the server does not speak TLS: is it a plain ws:// server?)"
        raise HandshakeError(message, 0) from error
    except BaseException:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise
    log.info("open: %s (subprotocol %s)", target, response.subprotocol)
    return settings.open_websocket(
        stream,
        Role.CLIENT,
        agreed,
        path=target.target,
        request_headers=handshake.request_headers.compact(),
        response_headers=response.headers.compact(),
        subprotocol=response.subprotocol,
        initial_data=handshake.trailing_data,
        clock=clock,
    )
