"""The sync server: one document, patches applied in arrival order, broadcast to all.

Each connection gets a name (``c1``, ``c2``, ...) and, first, a snapshot of the document.
Its patches are checked, applied and numbered one at a time: between receiving a message
and queueing its broadcast there is no checkpoint, so no other task can apply a patch in
between, and versions go out in the order they were applied. The broadcast goes through
a :class:`rawsock.Broadcaster`: each connection has a bounded queue drained by its own
task, so a slow reader never holds up the others; when its queue is full it is closed
with 1013 (try again later) and may reconnect for a fresh snapshot.

A refused message gets an ``error`` message, to its sender only; the connection stays
open. Only a message over ``max_message_size`` ends the connection (1009, from rawsock).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import trio

import rawsock
from rawsock import HTTPResponse, Request

from .document import Limits, SyncDocument, SyncError
from .protocol import encode_applied_patch, encode_error, encode_snapshot, parse_client_message
from .site import StaticSite

__all__ = [
    "CONNECTION_OPTIONS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_QUEUE",
    "SOCKET_PATH",
    "SyncServer",
]

logger = logging.getLogger("examples.sync")

#: Where the WebSocket endpoint is; every other path is the page's.
SOCKET_PATH = "/ws"
#: Largest message a client may send, in bytes (beyond it: closed with 1009).
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024
#: Bytes of broadcasts waiting for one client before it counts as too slow.
DEFAULT_MAX_QUEUE = 512 * 1024
#: The options of every connection, with the default message size limit
#: (:attr:`SyncServer.connection_options` has the server's own). Each broadcast is
#: compressed without history, so that it is compressed once for everyone.
CONNECTION_OPTIONS: rawsock.ConnectionOptions = {
    "max_message_size": DEFAULT_MAX_MESSAGE_SIZE,
    "compression": rawsock.PerMessageDeflate(server_no_context_takeover=True),
}


class SyncServer:
    """The document and its connections.

    Args:
        limits: what a patch may be, and how large the document may grow.
        site: the page's files.
        max_message_size: largest message a client may send, in bytes.
        max_queue: bytes of broadcasts queued for one client before it is closed.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        site: StaticSite | None = None,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_queue: int = DEFAULT_MAX_QUEUE,
    ) -> None:
        self.limits = limits or Limits()
        self.document = SyncDocument(self.limits)
        self.site = site or StaticSite.load()
        self.max_message_size = max_message_size
        self.max_queue = max_queue
        self._names = (f"c{number}" for number in itertools.count(1))
        self._broadcaster: rawsock.Broadcaster | None = None
        #: The open connections and their names.
        self.clients: dict[rawsock.WebSocket, str] = {}

    @property
    def connection_options(self) -> rawsock.ConnectionOptions:
        """The options of this server's connections: :data:`CONNECTION_OPTIONS` with its
        ``max_message_size``."""
        return {**CONNECTION_OPTIONS, "max_message_size": self.max_message_size}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[trio.Nursery]:
        """Start the broadcast to the connections, without listening: inside the block,
        :meth:`handle_connection` can run, for :func:`rawsock.serve` or any other caller
        (``rawsock.testing.connect``). Yields the nursery of the broadcaster's tasks;
        leaving the block waits for the connections to end.
        """
        try:
            async with trio.open_nursery() as nursery:
                self._broadcaster = rawsock.Broadcaster(
                    nursery, max_queue=self.max_queue, policy="close"
                )
                yield nursery
        finally:
            self._broadcaster = None

    async def run(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[rawsock.Server] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve the page and the WebSocket endpoint until cancelled.

        With ``nursery.start`` it returns the :class:`rawsock.Server` (its ``port``).
        """
        async with self.running() as nursery:
            server = await nursery.start(
                partial(
                    rawsock.serve,
                    self.handle_connection,
                    host,
                    port,
                    handle_request=self.handle_request,
                    **self.connection_options,
                )
            )
            task_status.started(server)

    def handle_request(self, request: Request) -> HTTPResponse | None:
        """Plain HTTP gets the page; an upgrade must be for :data:`SOCKET_PATH`.

        A browser's upgrade must come from a page of this server (``Origin`` equal to
        ``http://`` and the ``Host`` it asked for), so that no other site's page can edit
        the document with the user's browser (cross-site WebSocket hijacking).
        """
        if request.key is None:
            return self.site.respond(request)
        if request.path != SOCKET_PATH:
            return HTTPResponse.text(404, f"The WebSocket endpoint is {SOCKET_PATH}.")
        origins = [origin.lower() for origin in request.headers.get_all("Origin")]
        if origins and origins != [f"http://{request.host}".lower()]:
            return HTTPResponse.text(403, "Only this server's page may connect.")
        return None

    async def handle_connection(self, ws: rawsock.WebSocket) -> None:
        """Send the snapshot, then apply this client's patches until it leaves."""
        broadcaster = self._broadcaster
        assert broadcaster is not None, "handle_connection runs under running()"
        name = next(self._names)
        # Taken and subscribed without a checkpoint in between: every later patch is
        # either in the snapshot or in the broadcasts (perhaps ahead of the snapshot;
        # clients order by version).
        snapshot = encode_snapshot(self.document.version, self.document.tree, name)
        broadcaster.add(ws)
        self.clients[ws] = name
        logger.info("%s joined at version %d", name, self.document.version)
        try:
            await ws.send(snapshot)
            async for message in ws:  # until the connection ends
                refusal = self.handle_message(name, message)
                if refusal is not None:
                    await ws.send(refusal)
        finally:
            broadcaster.remove(ws)
            del self.clients[ws]
            logger.info("%s left (close code %s)", name, ws.close_code)

    def handle_message(self, sender: str, message: str | bytes) -> str | None:
        """Apply one message and broadcast the patch; returns the error to send back.

        Synchronous on purpose: patches are applied and broadcast in the order received.
        """
        assert self._broadcaster is not None, "handle_message runs under running()"
        try:
            request = parse_client_message(message, self.limits)
            try:
                version = self.document.apply(request.path, request.value)
            except SyncError as error:
                error.ref = request.ref
                raise
        except SyncError as error:
            logger.debug("%s: refused: %s", sender, error)
            return encode_error(error.code, error.detail, error.ref)
        broadcast = encode_applied_patch(version, request.path, request.value, sender, request.ref)
        result = self._broadcaster.send(broadcast)
        for slow in result.closed:
            logger.warning("closed %s: it fell behind", self.clients.get(slow, "a client"))
        return None
