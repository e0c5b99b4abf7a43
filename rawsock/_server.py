"""WebSocket servers on Trio: :func:`serve` (TCP, TLS), :func:`serve_unix`, :func:`serve_stream`.

Each connection runs in its own task: the opening handshake (RFC 6455 §4.2, see
``_accept.py``) under the open timeout, then the handler. A handler that raises is
logged and its connection closed with 1011 (§7.4.1 "Internal Error"); the server keeps
serving. When the handler returns, the connection is closed normally (1000).

Theory of operation (graceful shutdown): connection tasks live in a nursery inside a
*shielded* cancel scope, hosted by a helper task, so cancelling the serving scope
reaches only the accept loops. The serving task then runs the shutdown under a shield:
close the listeners (new connections are refused), interrupt handshakes in progress
(503), close every open connection with 1001 "going away" (§7.4.1) and wait for the
handlers, all within ``shutdown_timeout``; whatever remains after that deadline is
cancelled. ``Server.aclose()`` runs the same shutdown without any cancellation.
"""

from __future__ import annotations

import contextlib
import errno
import os
import ssl
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import trio

from ._accept import (
    Handler,
    Log,
    accept,
    accept_with,
    log_refusal,
    logger,
    run_handler,
    serve_stream,
)
from ._checks import check_instance, check_int, check_number
from ._clock import LivenessClock
from ._connection import WebSocket
from ._direct_socket import DirectSocketListener
from ._http import Pending, connection_log, refuse, server_log
from ._http2_dispatch import serve_if_http2
from ._http2_optional import offer_alpn, require_h2
from ._listen import open_tcp_listeners
from ._options import ServerOptions
from ._settings import ServerSettings
from .sansio._errors import HandshakeError

if TYPE_CHECKING:
    from ._http2_connection import HTTP2Connection

__all__ = [
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "Server",
    "accept",
    "check_serving",
    "serve",
    "serve_stream",
]

#: Seconds a shutdown waits for close handshakes and handlers before cancelling them.
DEFAULT_SHUTDOWN_TIMEOUT = 10.0
#: The close reason sent with 1001 when the server shuts down.
GOING_AWAY = "server shutting down"

_T = TypeVar("_T")

# accept() failures that mean "out of resources, try again soon" (as trio.serve_listeners).
_ACCEPT_CAPACITY_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_server_log = server_log(logger)


class Server:
    """A running server, as reported by ``nursery.start(rawsock.serve, ...)``.

    Attributes:
        listeners: the listeners accepting connections, each with a ``socket``
            attribute (the listening socket: ``getsockname()``...); under TLS, the
            server wraps them in ``trio.SSLListener``.
    """

    def __init__(
        self,
        handler: Handler,
        listeners: list[DirectSocketListener],
        settings: ServerSettings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int | None = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        unix_path: str | None = None,
        http2: bool = False,
    ) -> None:
        self.listeners = listeners
        self._address: Any = listeners[0].socket.getsockname()
        self._handler = handler
        self._settings = settings
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._shutdown_timeout = shutdown_timeout
        self._unix_path = unix_path
        self._closing = False
        self._stop_requested = trio.Event()
        self._stopped = trio.Event()
        self._hosting_done = trio.Event()
        self._host_scope = trio.CancelScope(shield=True)
        self._tasks = 0  # connection tasks, admitted or being refused
        self._admitted = 0  # connections counted against max_connections
        self._drained = trio.Event()
        self._pending: set[Pending] = set()
        self._open: set[WebSocket] = set()
        self._clock: LivenessClock | None = None  # the connections' timers, once running
        self._http2 = http2 and ssl_context is not None
        self._http2_connections: set[HTTP2Connection] = set()

    @property
    def port(self) -> int:
        """The TCP port of the first listener; useful after binding port 0.

        Raises:
            ValueError: a Unix-socket server has no port.
        """
        if not isinstance(self._address, tuple):
            raise ValueError("a Unix-domain socket server has no port; see .path")
        return int(self._address[1])

    @property
    def path(self) -> str | None:
        """The socket path of :func:`serve_unix` (``None`` for TCP)."""
        return self._unix_path

    @property
    def closing(self) -> bool:
        """Whether the shutdown has started."""
        return self._closing

    @property
    def connections(self) -> int:
        """Connections admitted and not finished yet (handshaking or open)."""
        return self._admitted

    async def aclose(self) -> None:
        """Shut down gracefully and return when done.

        Stops accepting (the listeners are closed), answers handshakes in progress with
        503, closes open connections with 1001 "going away" and waits up to
        ``shutdown_timeout`` for their close handshakes and handlers, then cancels what
        remains; :func:`serve` then returns. Calling it from a handler of this server waits for
        the deadline, since that handler cannot finish first.
        """
        self._stop_requested.set()
        await self._stopped.wait()

    # -- running -------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept connections until cancelled or :meth:`aclose`; then shut down.

        A Ctrl-C (``KeyboardInterrupt``) shuts down the same way and then comes out as
        itself, not wrapped in exception groups by the server's nurseries, so that
        ``except KeyboardInterrupt`` around ``trio.run`` catches it.
        """
        try:
            await self._run(task_status)
        except BaseExceptionGroup as group:
            interrupt = _only_interrupt(group)
            if interrupt is None:
                raise
            raise interrupt from None

    async def _run(self, task_status: trio.TaskStatus[Server]) -> None:
        try:
            async with trio.open_nursery() as nursery:
                connections: trio.Nursery = await nursery.start(self._host)
                self._clock = LivenessClock(connections)
                try:
                    async with trio.open_nursery() as acceptors:
                        for listener in self._wrapped_listeners():
                            acceptors.start_soon(self._accept_loop, listener, connections)
                        task_status.started(self)
                        await self._stop_requested.wait()
                        acceptors.cancel_scope.cancel()
                finally:
                    with trio.CancelScope(shield=True):
                        await self._shutdown()
        finally:
            # (when cancelled, each checkpoint from here on would raise Cancelled)
            if self._unix_path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self._unix_path)
            try:
                with trio.CancelScope(shield=True):
                    for listener in self.listeners:
                        await trio.aclose_forcefully(listener)
            finally:
                self._stopped.set()

    def _wrapped_listeners(self) -> list[trio.abc.Listener[trio.abc.Stream]]:
        if self._ssl_context is None:
            return list(self.listeners)
        return [
            trio.SSLListener(listener, self._ssl_context, https_compatible=True)
            for listener in self.listeners
        ]

    async def _host(self, task_status: trio.TaskStatus[trio.Nursery]) -> None:
        """Own the connection tasks, out of reach of the serving scope's cancellation."""
        with self._host_scope:
            async with trio.open_nursery() as connections:
                task_status.started(connections)
                await self._hosting_done.wait()

    async def _accept_loop(
        self, listener: trio.abc.Listener[trio.abc.Stream], connections: trio.Nursery
    ) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as error:
                if error.errno not in _ACCEPT_CAPACITY_ERRORS:
                    raise
                _server_log.error("accept failed (%s); retrying in 100 ms", error)
                await trio.sleep(0.1)
                continue
            self._tasks += 1
            connections.start_soon(self._serve_connection, stream)

    async def _serve_connection(self, stream: trio.abc.Stream) -> None:
        log = connection_log(logger)
        try:
            if self._closing:
                await trio.aclose_forcefully(stream)
                return
            limit = self._max_connections
            if limit is not None and self._admitted >= limit:
                log.warning("%d connections open (max_connections): answering 503", limit)
                handshake = self._settings.new_handshake()
                deadline = self._settings.deadline
                await self._tracked(partial(refuse, stream, handshake, deadline))
                return
            self._admitted += 1
            try:
                if self._http2 and await serve_if_http2(
                    stream,
                    self._settings,
                    self._serve_open,
                    log,
                    clock=self._clock,
                    registry=self._http2_connections,
                ):
                    return
                accepting = partial(accept_with, stream, self._settings, log, clock=self._clock)
                ws = await self._tracked(accepting)
            except HandshakeError as error:
                log_refusal(log, error)
            else:
                await self._serve_open(ws, log)
            finally:
                self._admitted -= 1
        except Exception:  # a bug: it must not stop the other connections
            log.exception("connection task failed")
        finally:
            self._tasks -= 1
            if self._tasks == 0:
                self._drained.set()

    async def _tracked(self, step: Callable[[Pending], Awaitable[_T]]) -> _T:
        """Run a handshake step that a shutdown interrupts (it then answers 503)."""
        pending = Pending()
        self._pending.add(pending)
        try:
            return await step(pending)
        finally:
            self._pending.discard(pending)

    async def _serve_open(self, ws: WebSocket, log: Log) -> None:
        self._open.add(ws)
        try:
            if self._closing:  # the shutdown began while the 101 was being sent
                await ws.aclose(1001, GOING_AWAY)
                return
            await run_handler(self._handler, ws, log)
        finally:
            self._open.discard(ws)

    async def _shutdown(self) -> None:
        """Stop accepting, 503 to handshakes, 1001 to connections; bounded by the deadline."""
        self._closing = True
        _server_log.info(
            "shutting down: %d open, %d in handshake", len(self._open), len(self._pending)
        )
        with trio.move_on_after(self._shutdown_timeout):
            for listener in self.listeners:
                await trio.aclose_forcefully(listener)
            for pending in list(self._pending):
                pending.stop()
            async with trio.open_nursery() as nursery:
                for connection in list(self._http2_connections):
                    nursery.start_soon(connection.goaway)  # no new streams (RFC 9113 §6.8)
            async with trio.open_nursery() as nursery:
                for ws in list(self._open):
                    nursery.start_soon(ws.aclose, 1001, GOING_AWAY)
            if self._tasks:
                self._drained = trio.Event()  # set when the last connection task ends
                await self._drained.wait()
        if self._tasks:
            _server_log.warning("shutdown_timeout passed: cancelling %d connection(s)", self._tasks)
        self._hosting_done.set()
        self._host_scope.cancel()


def _only_interrupt(group: BaseExceptionGroup[BaseException]) -> KeyboardInterrupt | None:
    """The ``KeyboardInterrupt`` in ``group`` if that is all there is in it."""
    interrupts, rest = group.split(KeyboardInterrupt)
    if rest is not None or interrupts is None:
        return None
    error: BaseException = interrupts
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, KeyboardInterrupt)
    return error


def check_serving(ssl_context: object, max_connections: object, shutdown_timeout: object) -> None:
    """Check the arguments :func:`serve` and :func:`serve_unix` share (TypeError, ValueError)."""
    check_instance("ssl_context", ssl_context, ssl.SSLContext, "an ssl.SSLContext", optional=True)
    check_int("max_connections", max_connections, 1, optional=True)
    check_number("shutdown_timeout", shutdown_timeout, above=0)


async def serve(
    handler: Handler,
    host: str | None,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    max_connections: int | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    backlog: int | None = None,
    reuse_port: bool = False,
    http2: bool = False,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    **options: Unpack[ServerOptions],
) -> None:
    """Serve WebSocket connections on TCP (``wss://`` with ``ssl_context``) until stopped.

    Use it with ``nursery.start`` to get the :class:`Server` (its port, ``aclose()``)::

        server = await nursery.start(rawsock.serve, handler, "127.0.0.1", 0)
        print(server.port)

    Cancelling the scope it runs in is a graceful shutdown, as is ``server.aclose()``:
    no new connections, 503 to handshakes in progress, 1001 "going away" to open
    connections, up to ``shutdown_timeout`` for their handlers, then cancellation.
    Ctrl-C does the same, and ``KeyboardInterrupt`` then comes out of ``trio.run`` as
    itself (``except KeyboardInterrupt`` catches it).

    Args:
        handler: ``async def handler(ws: WebSocket)``, run in its own task for each
            connection.
        host: the address to bind (``None``: all interfaces).
        port: the port (0: any free one).
        ssl_context: serve TLS with this server context (``wss://``); the TLS handshake
            counts against ``open_timeout``.
        max_connections: connections served at once (handshaking or open); a
            connection beyond it has its request read and answered with 503 Service
            Unavailable, then is closed. ``None``: no limit.
        shutdown_timeout: seconds a shutdown waits for close handshakes and handlers
            before cancelling them.
        backlog: the listen backlog, an int >= 1 (default: trio's).
        reuse_port: set ``SO_REUSEPORT``, so that several processes can serve the same
            port and the kernel spreads connections over them (one process per core).
        http2: also serve WebSockets over HTTP/2 (RFC 8441), for clients whose TLS
            handshake chooses ALPN ``h2`` (browsers do), with the same handler and
            options; others get HTTP/1.1. Needs ``ssl_context`` (whose ALPN protocols
            it sets to ``h2`` and ``http/1.1``) and the ``http2`` extra
            (``pip install 'rawsock[http2]'``). See the HTTP/2 page of the docs.
        task_status: for ``nursery.start``, which returns the :class:`Server`.
        **options: the server options, for every connection: see
            :class:`rawsock.ServerOptions` and :class:`rawsock.ConnectionOptions`.

    Raises:
        TypeError: an unknown option, or an argument or option of the wrong type
            (before anything is bound).
        ValueError: an argument or option out of range (before anything is bound):
            ``max_connections`` below 1, ``shutdown_timeout`` not above 0...
        OSError: the address cannot be bound (or ``reuse_port`` is unsupported).
    """
    check_serving(ssl_context, max_connections, shutdown_timeout)
    check_int("backlog", backlog, 1, optional=True)
    check_instance("reuse_port", reuse_port, bool, "a bool")
    check_instance("http2", http2, bool, "a bool")
    settings = ServerSettings.from_options(options, "serve")
    if http2:
        if ssl_context is None:
            raise ValueError("http2=True needs ssl_context: HTTP/2 is offered by TLS ALPN")
        require_h2("http2=True")
        offer_alpn(ssl_context)
    listeners = await open_tcp_listeners(port, host, backlog=backlog, reuse_port=reuse_port)
    server = Server(
        handler,
        listeners,
        settings,
        ssl_context=ssl_context,
        max_connections=max_connections,
        shutdown_timeout=shutdown_timeout,
        http2=http2,
    )
    await server.run(task_status)
