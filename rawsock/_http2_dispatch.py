"""A server's choice between HTTP/2 and HTTP/1.1 on a TLS connection (RFC 9113 §3.2).

The TLS handshake's ALPN (RFC 7301) decides: a client that chose ``h2`` is served by
``_http2_server.py`` (imported only then: it needs the optional ``h2``), any other by
the HTTP/1.1 upgrade of ``_accept.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from ._accept import Log
from ._clock import LivenessClock
from ._connection import WebSocket
from ._settings import ServerSettings

if TYPE_CHECKING:
    from ._http2_connection import HTTP2Connection

__all__ = ["negotiated_protocol", "serve_if_http2"]


async def negotiated_protocol(stream: trio.SSLStream[trio.abc.Stream]) -> str | None:
    """Run the TLS handshake of ``stream``; the ALPN protocol chosen (``None``: none)."""
    await stream.do_handshake()
    protocol: str | None = stream.selected_alpn_protocol()
    return protocol


async def serve_if_http2(
    stream: trio.abc.Stream,
    settings: ServerSettings,
    run_websocket: Callable[[WebSocket, Log], Awaitable[None]],
    log: Log,
    *,
    clock: LivenessClock | None,
    registry: set[HTTP2Connection],
) -> bool:
    """Run the TLS handshake of ``stream``; serve it as HTTP/2 if ALPN chose ``h2``.

    The handshake counts against ``open_timeout``; a failed one closes the stream.

    Returns:
        Whether the connection was served (or closed): False leaves it to HTTP/1.1.
    """
    if not isinstance(stream, trio.SSLStream):
        return False
    protocol: str | None = "(none)"
    with trio.move_on_after(settings.deadline):
        try:
            protocol = await negotiated_protocol(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
            log.info("TLS handshake failed: %s", error.__cause__ or error)
            await trio.aclose_forcefully(stream)
            return True
    if protocol == "(none)":
        log.info("TLS handshake not done within open_timeout; closing")
        await trio.aclose_forcefully(stream)
        return True
    if protocol != "h2":
        return False
    from ._http2_server import serve_http2  # noqa: PLC0415 (h2 is an optional dependency)

    await serve_http2(stream, settings, run_websocket, log, clock=clock, registry=registry)
    return True
