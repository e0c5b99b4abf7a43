"""The inner workings of one connection: what its parts call back, and the close sequencing.

Theory of operation: a :class:`Session` owns the stream and the core ``Protocol`` of one
connection and wires its parts together, handing each the few callbacks it needs:
the :class:`~rawsock._reader.Reader` (read baton, liveness, budget, keepalive) feeds
received bytes to :meth:`Session.feed`, which routes the core's events (messages to the
queue, pongs to the ping tracker); the :class:`~rawsock._sending.Writer` and
:class:`~rawsock._receiving.Receiving` ask it how the connection ended. The public
:class:`~rawsock.WebSocket` is a thin layer over it.

Closing (RFC 6455 §7): :meth:`Session.close` sends a close frame, reads until the peer's
(and, on a client, until the server closes TCP, §7.1.1), within ``close_timeout``, then
closes the stream. :meth:`Session.fail` sends the close frame with the error's code and
closes within a shorter limit. How the stream itself ends, without resetting a peer
that is still sending, is ``_transport_end.py``'s. Transport errors become code 1006
here, in one place.

Protocol violations: messages that arrived before a violation are delivered first, and
the connection is failed (§7.1.7) only when they have been received, so that the
application's replies to them still go out before the close frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import trio

from ._clock import LivenessClock
from ._pings import PendingPing, PingTracker
from ._reader import Reader
from ._receiving import MessageQueue, Receiving
from ._sending import Writer
from ._transport_end import TransportEnd
from .sansio._close import encode_close_payload
from .sansio._errors import NORMAL_CLOSE_CODES, ConnectionClosed, RemoteProtocolError
from .sansio._events import BinaryMessage, MessageChunk, Pong, TextMessage
from .sansio._outbox import check_ping_payload
from .sansio._protocol import Protocol, Role, State

__all__ = ["Session"]

logger = logging.getLogger("rawsock")

#: The name of each role's background task (as ``trio.lowlevel.Task.name``).
_READER_NAMES = {Role.CLIENT: "rawsock client reader", Role.SERVER: "rawsock server reader"}
#: Seconds allowed to send the 1011 close frame when a background task failed.
_BUG_CLOSE_LIMIT = 1.0
#: Pieces of frames the core parses before their events are routed (see ``feed``).
PARSE_BATCH = 256
#: Bytes of replies (pongs) after which parsing waits for them to be written.
_MAX_UNSENT_REPLIES = 64 * 1024


class Session:
    """One connection's parts and close sequencing (see the module docstring).

    Args:
        stream: the transport.
        protocol: the core, ``chunked=True``.
        close_timeout: seconds allowed for the closing handshake.
        receive_buffer: the receive budget, in bytes.
        ping_interval: seconds between keepalive pings (``None``: none).
        ping_timeout: seconds to wait for a keepalive pong (``None``: forever).
        initial_data: bytes that came with the opening handshake.
        clock: the owner's timers and background tasks (``None``: the connection's own).
    """

    __slots__ = (
        "_closed",  # how the connection ended, once it has (ConnectionClosed)
        "_closing",  # close() started: received data messages are discarded
        "_on_close",  # callbacks to run once closed (None: none registered)
        "_own_clock",  # the clock this connection made for itself (no owner), if any
        "_transport",  # closes the stream
        "close_timeout",  # seconds for the closing handshake
        "pings",  # pings waiting for pongs
        "protocol",  # the core
        "queue",  # received messages not consumed yet
        "reader",  # the read side
        "receiving",  # receive() and receive_stream()
        "writer",  # the write side
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        protocol: Protocol,
        *,
        close_timeout: float,
        receive_buffer: int,
        ping_interval: float | None,
        ping_timeout: float | None,
        initial_data: bytes,
        clock: LivenessClock | None,
    ) -> None:
        self.protocol = protocol
        self.close_timeout = close_timeout
        self._closed: ConnectionClosed | None = None
        self._closing = False
        self._on_close: list[Callable[[], None]] | None = None
        self.pings = PingTracker()
        self.writer = Writer(stream, protocol, self, close_timeout)
        queue = self.queue = MessageQueue(receive_buffer, self._pause, self._resume)
        self._own_clock: LivenessClock | None = None
        if clock is None:
            clock = self._own_clock = LivenessClock()
        # Bytes that came with the handshake are processed by the first read, which can
        # also send the replies they call for (pongs, a close frame).
        self.reader = Reader(
            stream,
            self,
            queue,
            clock,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            initial_data=initial_data,
            name=_READER_NAMES[protocol.role],
        )
        self.receiving = Receiving(self.reader, queue, self, protocol.max_message_size)
        self._transport = TransportEnd(
            stream, protocol, self.writer.lock, self.reader, close_timeout
        )

    @property
    def closed(self) -> ConnectionClosed | None:
        """How the connection ended, once it has."""
        return self._closed

    def call_when_closed(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the connection is closed (now, if it is)."""
        if self._closed is not None:
            callback()
        elif self._on_close is None:
            self._on_close = [callback]
        else:
            self._on_close.append(callback)

    @property
    def finished(self) -> bool:
        """Closed, and the transport too: :meth:`close` has nothing left to do."""
        return self._transport.closed and self._closed is not None

    # -- pings -------------------------------------------------------------------------

    async def ping(self, payload: bytes | None) -> float:
        """Ping and wait for the pong (see ``WebSocket.ping``); the round trip."""
        pending = await self.send_ping(payload)
        try:
            await self.reader.read_until(pending.answered.is_set)
            await pending.answered.wait()
        finally:
            self.pings.forget(pending)
        if pending.round_trip is None:  # woken by the connection closing, not by a pong
            raise self._closed_or_closing()
        return pending.round_trip

    async def send_ping(self, payload: bytes | None) -> PendingPing:
        """Send a ping; the pending ping, to wait for its pong."""
        pings = self.pings
        if payload is None:
            payload = pings.next_payload()
        else:
            check_ping_payload(payload)
            payload = bytes(payload)
        pings.check(payload)
        protocol = self.protocol
        pending: list[PendingPing] = []

        def encode() -> bytes:
            protocol.send_ping(payload)
            pending.append(pings.sent(payload))
            return protocol.data_to_send()

        await self.writer.send_fragment(encode)
        return pending[0]

    async def send_keepalive_ping(self) -> PendingPing:
        """The reader's keepalive ping (see ``ReadSink``)."""
        return await self.send_ping(None)

    # -- closing -----------------------------------------------------------------------

    async def close(self, code: int, reason: str) -> None:
        """The closing handshake, then the transport (see ``WebSocket.aclose``)."""
        encode_close_payload(code, reason)  # validate before changing anything
        if self.finished:
            await trio.lowlevel.checkpoint()
            return  # (already closed, the usual case when a handler returns)
        if not self.reader.receiving:
            # Nobody waits for them: what arrives from now on is dropped. (A task that
            # is receiving gets the messages sent before the peer's close frame.)
            self._closing = True
            self.queue.clear()
            self.receiving.abandon_partial()
        protocol = self.protocol
        client = protocol.role is Role.CLIENT
        try:
            with trio.move_on_after(self.close_timeout):
                await self.reader.run_deferred()  # a violation's code comes first
                if protocol.state is State.OPEN and not self._transport.closed:
                    async with self.writer.lock:
                        protocol.send_close(code, reason)
                        await self.writer.write(protocol.data_to_send(), raise_closed=False)
                # A client waits for the server to close TCP too (§7.1.1), unless the
                # connection failed: the transport is then aborted, not closed.
                await self.reader.read_until(
                    lambda: self._closed is not None
                    and (
                        not client
                        or protocol.eof_received
                        or protocol.failure is not None
                        or self._transport.closed
                    )
                )
        finally:
            self._set_closed()
            await self._close_transport()

    # -- what the parts call back -------------------------------------------------------

    def feed(self, data: bytes | bytearray) -> int:
        """Feed received bytes to the core and route its events; the frames parsed.

        The core parses at most :data:`PARSE_BATCH` pieces at a time and its events are
        routed between batches, so a read full of tiny frames never makes more than a
        batch's worth of objects at once. Once the queue is full, or the core holds
        ``_MAX_UNSENT_REPLIES`` bytes of pongs, the rest of the read waits in the core,
        unparsed (:attr:`has_unparsed_input`), until there is room or they are written.
        """
        protocol = self.protocol
        pieces = protocol.pieces_received
        try:
            protocol.receive_data(data, max_pieces=PARSE_BATCH)
            self._route()
            if protocol.has_unparsed_input:
                self._parse_more()
        except RemoteProtocolError as error:
            self._route(error)
        return protocol.pieces_received - pieces

    @property
    def has_unparsed_input(self) -> bool:
        """Received bytes wait in the core for room in the queue, or for the replies
        to what came before them to be written (see :meth:`feed`)."""
        return self.protocol.has_unparsed_input

    def feed_buffered(self) -> int:
        """Parse what :meth:`feed` left in the core, as far as the queue has room."""
        protocol = self.protocol
        pieces = protocol.pieces_received
        try:
            self._parse_more()
        except RemoteProtocolError as error:
            self._route(error)
        return protocol.pieces_received - pieces

    def _parse_more(self) -> None:
        protocol = self.protocol
        queue = self.queue
        while (
            protocol.has_unparsed_input
            and not queue.full
            and protocol.bytes_to_send < _MAX_UNSENT_REPLIES
        ):
            protocol.parse_buffered(max_pieces=PARSE_BATCH)
            self._route()

    def _route(self, error: RemoteProtocolError | None = None) -> None:
        """Route the core's events: messages to the queue, pongs to the ping tracker."""
        protocol = self.protocol
        events = protocol.events()
        closing = self._closing
        queue = self.queue
        for event in events:
            if isinstance(event, (BinaryMessage, TextMessage)):  # (a tuple: faster than |)
                if not closing:
                    queue.append(event.data)
            elif isinstance(event, MessageChunk):
                if not closing:
                    queue.append(event)
            elif isinstance(event, Pong):
                self.pings.pong_received(event.payload)
        if error is not None:
            if queue.count:
                # Deliver what came before the violation first, and let the application
                # answer it; the connection fails when the queue is empty (§7.1.7).
                self.reader.defer_failure(partial(self._fail_for_violation, error))
            else:
                protocol.fail(error)
        if protocol.state is State.CLOSED:
            self._set_closed(error)

    @property
    def replies_pending(self) -> bool:
        """Whether :meth:`after_read` may have work: replies queued, or the core closed."""
        protocol = self.protocol
        return protocol.state is State.CLOSED or protocol.has_data_to_send

    async def after_read(self) -> None:
        """Write what the core queued by itself (pongs, close replies); maybe close TCP."""
        protocol = self.protocol
        if protocol.close_transport_now:
            await self._close_transport()  # which writes the close frame first
        elif protocol.has_data_to_send:
            await self.writer.flush_replies()

    def transport_lost(self, error: BaseException) -> None:
        """The transport broke or was closed under us: code 1006 (§7.1.5)."""
        self.protocol.receive_data(b"")  # the transport is gone: as good as EOF
        self._set_closed(error)

    def closed_error(self) -> ConnectionClosed | None:
        """A fresh ``ConnectionClosed`` describing how the connection ended, or ``None``."""
        closed = self._closed
        if closed is None:
            return None
        error = ConnectionClosed(closed.code, closed.reason, ok=closed.ok)
        error.__cause__ = closed.__cause__
        return error

    def closing_error(self) -> ConnectionClosed:
        """The error for sending on a connection that is not open."""
        return self._closed_or_closing()

    def _closed_or_closing(self) -> ConnectionClosed:
        closed = self.closed_error()
        if closed is None:
            code, reason = self.protocol.close_initiated or (1006, "")
            return ConnectionClosed(code, reason, ok=False)
        return closed

    async def fail(self, error: RemoteProtocolError, flush_limit: float) -> None:
        """Fail the connection for a reason found outside the core (limits, keepalive)."""
        if self._closed is not None:
            return
        self.protocol.fail(error)
        self._set_closed(error)
        try:
            with trio.move_on_after(flush_limit):
                await self._close_transport()  # the close frame, if the peer reads
        finally:
            await self.abort()

    async def background_failed(self, error: Exception) -> None:
        """A background task raised: a bug. Log it; fail only this connection (1011)."""
        logger.error("background task of a connection failed", exc_info=error)
        failure = RemoteProtocolError("internal error", 1011)
        failure.__cause__ = error
        await self.fail(failure, flush_limit=_BUG_CLOSE_LIMIT)

    async def _fail_for_violation(self, error: RemoteProtocolError) -> None:
        """Fail the connection for a protocol violation found earlier (see ``feed``)."""
        if self._closed is not None:
            return
        self.protocol.fail(error)
        self._set_closed(error)
        await self.after_read()

    def _pause(self) -> None:
        self.reader.pause()

    def _resume(self) -> None:
        self.reader.resume()

    # -- closing the transport ---------------------------------------------------------

    async def abort(self) -> None:
        """Close the stream at once, without waiting for anything (also when cancelled)."""
        self._set_closed()
        await self._transport.abort()

    async def _close_transport(self) -> None:
        """Write the last frames, linger if needed, close (see ``_transport_end.py``)."""
        try:
            await self._transport.close()
        finally:
            self._set_closed()

    def _set_closed(self, cause: BaseException | None = None) -> None:
        if self._closed is not None:
            return
        protocol = self.protocol
        code, reason = protocol.close_initiated or (1006, "")
        if protocol.eof_received and protocol.close_received is None and protocol.failure is None:
            code, reason = 1006, ""  # the transport ended without the peer's close (§7.1.5)
        ok = (
            protocol.failure is None
            and protocol.close_sent is not None
            and protocol.close_received is not None
            and code in NORMAL_CLOSE_CODES
        )
        closed = ConnectionClosed(code, reason, ok=ok)
        closed.__cause__ = cause or protocol.failure
        self._closed = closed
        self.pings.close()
        self.reader.stop()
        if self._own_clock is not None:
            self._own_clock.close()  # its task would wait for the keepalive timer
        callbacks, self._on_close = self._on_close, None
        for callback in callbacks or ():
            callback()
