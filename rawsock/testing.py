"""Test WebSocket applications without sockets, in virtual time.

::

    import rawsock.testing

    async def echo(ws: rawsock.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    async def test_echo() -> None:
        async with rawsock.testing.connect(echo, "/chat") as ws:
            await ws.send("hello")
            assert await ws.receive() == "hello"

- :func:`connect` runs a handler as :func:`rawsock.serve` runs it (the server options, the
  ``handle_request`` hook, the host, origin and authentication checks, subprotocols,
  compression, 1011 and a log record when it raises) and yields the client's
  :class:`~rawsock.WebSocket`;
- :func:`connection_pair` yields an open ``(client, server)`` pair, for code that takes a
  :class:`~rawsock.WebSocket`;
- :class:`Transport` connects the two in memory, with controls: stop one end reading
  (:meth:`Pipe.pause`), bound the bytes in flight (:attr:`Pipe.limit`), delay them
  (:attr:`Pipe.delay`), cut the connection (:meth:`Transport.cut`). Pass one in, or get
  the one in use with :func:`transport_of`.

Every wait is on Trio's clock: under ``trio.testing.MockClock(autojump_threshold=0)``
keepalive pings, open and close timeouts and delays take no wall time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Unpack

import trio

from ._accept import Handler, accept_with, log_refusal, logger, run_handler
from ._checks import check_header_pairs, check_instance, check_strings
from ._client import connect as open_client
from ._client import parse_url
from ._clock import LivenessClock
from ._connection import WebSocket
from ._http import RequestHook, connection_log
from ._options import SHARED_OPTIONS, ConnectionOptions, SubprotocolSelector, resolve
from ._security import BasicAuth
from ._server import DEFAULT_SHUTDOWN_TIMEOUT
from ._settings import ServerSettings
from ._testing_transport import DEFAULT_LIMIT, MemoryStream, Pipe, Transport
from .sansio._errors import HandshakeError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_LIMIT",
    "Handler",
    "HandlerOptions",
    "MemoryStream",
    "Pipe",
    "Transport",
    "connect",
    "connection_pair",
    "transport_of",
]

#: The ``Host`` header the client of :func:`connect` and :func:`connection_pair` sends.
DEFAULT_HOST = "testserver"

_CALLER = "rawsock.testing.connect"


class HandlerOptions(ConnectionOptions, total=False):
    """The server options of :func:`connect`: those of :class:`rawsock.ServerOptions`,
    with one name changed, since ``subprotocols=`` there is what the client offers.

    Attributes:
        server_subprotocols: the server's ``subprotocols`` option: subprotocols
            supported, in order of preference (a sequence of str).
        select_subprotocol: as in :class:`rawsock.ServerOptions`.
        extra_headers: as in :class:`rawsock.ServerOptions` (the 101's headers).
        handle_request: as in :class:`rawsock.ServerOptions`.
        allowed_hosts: as in :class:`rawsock.ServerOptions`; the client sends
            ``host`` (default :data:`DEFAULT_HOST`).
        origins: as in :class:`rawsock.ServerOptions`; send an ``Origin`` with
            ``headers=``.
        basic_auth: as in :class:`rawsock.ServerOptions`.
        max_request_line: as in :class:`rawsock.ServerOptions`.
        max_header_size: as in :class:`rawsock.ServerOptions`.
        max_headers: as in :class:`rawsock.ServerOptions`.
    """

    server_subprotocols: Sequence[str]
    select_subprotocol: SubprotocolSelector | None
    extra_headers: Sequence[tuple[str, str]]
    handle_request: RequestHook | None
    allowed_hosts: Sequence[str] | None
    origins: Sequence[str | None] | None
    basic_auth: BasicAuth | None
    max_request_line: int
    max_header_size: int
    max_headers: int


def transport_of(ws: WebSocket) -> Transport:
    """The :class:`Transport` under a WebSocket of :func:`connect` or
    :func:`connection_pair` (either side).

    Raises:
        TypeError: ``ws`` is not a WebSocket.
        ValueError: ``ws`` runs over another kind of stream.
    """
    check_instance("ws", ws, WebSocket, "a rawsock.WebSocket")
    stream = ws.stream
    if not isinstance(stream, MemoryStream):
        kind = type(stream).__name__
        raise ValueError(f"this WebSocket runs over a {kind}, not a rawsock.testing.Transport")
    return stream.transport


def _url(host: object, path: object) -> str:
    check_instance("host", host, str, "a str")
    check_instance("path", path, str, "a str")
    assert isinstance(path, str)
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', not {path!r}")
    url = f"ws://{host}{path}"
    try:
        parse_url(url)
    except ValueError as error:
        raise ValueError(f"host and path do not make a WebSocket URL: {error}") from None
    return url


def _client_options(
    options: ConnectionOptions | None,
    headers: object = None,
    subprotocols: object = None,
) -> dict[str, Any]:
    """The keyword arguments of :func:`rawsock.connect` for the test's client."""
    chosen: dict[str, Any] = {}
    if options is not None:
        check_instance("client_options", options, dict, "a dict of ConnectionOptions")
        for name in options:
            if name not in SHARED_OPTIONS:
                raise TypeError(f"client_options got an unknown option {name!r}")
        try:
            resolve(options, SHARED_OPTIONS, "client_options")
        except (TypeError, ValueError) as error:
            raise type(error)(f"client_options: {error}") from None
        chosen.update(options)
    if headers is not None:
        chosen["extra_headers"] = check_header_pairs("headers", headers)
    if subprotocols is not None:
        chosen["subprotocols"] = check_strings("subprotocols", subprotocols)
    return chosen


def connect(
    handler: Handler,
    path: str = "/",
    *,
    headers: Sequence[tuple[str, str]] | None = None,
    subprotocols: Sequence[str] | None = None,
    host: str = DEFAULT_HOST,
    client_options: ConnectionOptions | None = None,
    transport: Transport | None = None,
    **options: Unpack[HandlerOptions],
) -> AbstractAsyncContextManager[WebSocket]:
    """Run ``handler`` for one connection, as :func:`rawsock.serve` would, and yield the
    client's :class:`~rawsock.WebSocket`; in memory, no socket.

    The server side goes through everything a connection to :func:`rawsock.serve` goes
    through, in the same code: the opening handshake with the checks of the options
    (RFC 6455 §4.2), then the handler; a handler that raises is logged on the
    ``rawsock.server`` logger and its connection closed with 1011 (§7.4.1). The client is
    :func:`rawsock.connect`'s, so a refused handshake raises the
    :class:`~rawsock.HandshakeRejected` a real client gets.

    When the block ends, the transport's pauses and delays are lifted, the client closes
    the connection (1000), and the handler is given the server's shutdown timeout (10 s of
    Trio's clock) to return before it is cancelled.

    Args:
        handler: ``async def handler(ws: WebSocket)``, as for :func:`rawsock.serve`.
        path: the request target, path and query (``"/chat?room=1"``).
        headers: more request headers the client sends (``Origin``, ``Authorization``,
            cookies), ``(name, value)`` pairs of str.
        subprotocols: the subprotocols the client offers, in order of preference.
        host: the ``Host`` header the client sends (``allowed_hosts`` checks it).
        client_options: the client's :class:`rawsock.ConnectionOptions`
            (``compression``, ``max_message_size``, ``ping_interval``...).
        transport: the :class:`Transport` to run over, to set its controls before the
            handshake; by default a new one (:func:`transport_of` finds it).
        **options: the server options: see :class:`HandlerOptions` (those of
            :class:`rawsock.ServerOptions`, with ``server_subprotocols`` for the server's
            ``subprotocols``).

    Raises:
        TypeError: an unknown option, or an argument or option of the wrong type (raised
            by the call itself).
        ValueError: an argument or option out of range (raised by the call itself).
        HandshakeRejected: on entering, the server answered with an HTTP error (its
            ``handle_request`` hook's response, 401, 403, 421...).
        HandshakeError: on entering, the opening handshake failed otherwise (a timeout,
            a broken connection).
    """
    check_instance("transport", transport, Transport, "a rawsock.testing.Transport", optional=True)
    url = _url(host, path)
    client = _client_options(client_options, headers, subprotocols)
    server: dict[str, object] = dict(options)
    if "server_subprotocols" in server:
        supported = server.pop("server_subprotocols")
        server["subprotocols"] = check_strings("server_subprotocols", supported)
    elif "subprotocols" in server:  # (only through an untyped **dict)
        raise TypeError(f"{_CALLER}() takes the server's subprotocols as server_subprotocols")
    try:
        settings = ServerSettings.from_options(server, _CALLER)
    except TypeError as error:
        raise TypeError(str(error).replace("'subprotocols'", "'server_subprotocols'")) from None
    return _connection(handler, url, client, settings, transport or Transport())


@asynccontextmanager
async def _connection(
    handler: Handler,
    url: str,
    client_options: dict[str, Any],
    settings: ServerSettings,
    transport: Transport,
) -> AsyncIterator[WebSocket]:
    # As in rawsock.connect: an exception of the block or of the handshake is re-raised
    # as it is, outside the nursery, rather than wrapped in an exception group.
    failure: BaseException | None = None
    async with trio.open_nursery() as nursery:
        clock = LivenessClock(nursery)
        served = trio.Event()
        nursery.start_soon(_serve, handler, transport.server, settings, clock, served)
        try:
            async with open_client(url, stream=transport.client, **client_options) as ws:
                try:
                    yield ws
                finally:
                    transport.release()
        except BaseException as error:
            failure = error
        try:
            with trio.move_on_after(DEFAULT_SHUTDOWN_TIMEOUT) as waiting:
                await served.wait()
            if waiting.cancelled_caught:
                logger.warning(
                    "the handler did not return within %g s of the client's close: cancelling it",
                    DEFAULT_SHUTDOWN_TIMEOUT,
                )
        except BaseException as error:  # cancelled from outside: the nursery is too
            failure = failure or error
        nursery.cancel_scope.cancel()
        clock.close()
    if failure is not None:
        raise failure


async def _serve(
    handler: Handler,
    stream: trio.abc.Stream,
    settings: ServerSettings,
    clock: LivenessClock,
    served: trio.Event,
) -> None:
    """One connection of a server: handshake, handler, close (as ``rawsock.serve``)."""
    log = connection_log(logger)
    try:
        try:
            ws = await accept_with(stream, settings, log, clock=clock)
        except HandshakeError as error:
            log_refusal(log, error)
        else:
            await run_handler(handler, ws, log)
    except Exception:  # a bug, reported as the server reports it
        log.exception("connection task failed")
    finally:
        served.set()


def connection_pair(
    path: str = "/",
    *,
    transport: Transport | None = None,
    **options: Unpack[ConnectionOptions],
) -> AbstractAsyncContextManager[tuple[WebSocket, WebSocket]]:
    """Yield an open ``(client, server)`` pair of WebSockets connected in memory.

    For code that takes a :class:`~rawsock.WebSocket`, on either side. Both ends have the
    same ``options``; for a handler with the server's own options, use :func:`connect`.
    When the block ends, the transport's pauses and delays are lifted and both sides are
    closed (the client first).

    Args:
        path: the request target (``server.path``).
        transport: the :class:`Transport` to run over; by default a new one.
        **options: the :class:`rawsock.ConnectionOptions` of both ends.

    Raises:
        TypeError: an unknown option, or an argument or option of the wrong type (raised
            by the call itself).
        ValueError: an argument or option out of range (raised by the call itself).
    """
    check_instance("transport", transport, Transport, "a rawsock.testing.Transport", optional=True)
    url = _url(DEFAULT_HOST, path)
    for name in options:
        if name not in SHARED_OPTIONS:
            raise TypeError(f"rawsock.testing.connection_pair() got an unknown option {name!r}")
    settings = ServerSettings.from_options(options, "rawsock.testing.connection_pair")
    return _pair(url, dict(options), settings, transport or Transport())


@asynccontextmanager
async def _pair(
    url: str, options: dict[str, Any], settings: ServerSettings, transport: Transport
) -> AsyncIterator[tuple[WebSocket, WebSocket]]:
    failure: BaseException | None = None
    accepted: list[WebSocket] = []
    async with trio.open_nursery() as nursery:
        clock = LivenessClock(nursery)
        ready = trio.Event()

        async def accept() -> None:
            log = connection_log(logger)
            try:
                accepted.append(await accept_with(transport.server, settings, log, clock=clock))
            except HandshakeError as error:  # the client raises its own error
                log_refusal(log, error)
            finally:
                ready.set()

        nursery.start_soon(accept)
        try:
            async with open_client(url, stream=transport.client, **options) as client:
                await ready.wait()
                try:
                    yield client, accepted[0]
                finally:
                    transport.release()
        except BaseException as error:
            failure = error
        for ws in accepted:
            try:
                await ws.aclose()
            except BaseException as error:  # cancelled: it is closed all the same
                failure = failure or error
        clock.close()
    if failure is not None:
        raise failure

