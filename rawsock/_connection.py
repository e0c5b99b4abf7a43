"""The Trio WebSocket connection: one ``trio.abc.Stream`` driven by one core ``Protocol``.

Theory of operation
-------------------
:class:`WebSocket` is the public face; the work is split by concept, one object each,
which the connection creates and wires together (each is handed the few callbacks it
needs, never the connection's attributes):

- reading, liveness, the receive budget and the keepalive: :class:`~rawsock._reader.Reader`
  (its module states the invariants of the read baton);
- the received messages, ``receive()`` and ``receive_stream()``:
  :class:`~rawsock._receiving.Receiving` over a :class:`~rawsock._receiving.MessageQueue`;
- writing, with the locks that keep frames from interleaving:
  :class:`~rawsock._sending.Writer`;
- pings waiting for pongs: :class:`~rawsock._pings.PingTracker`.

The connection itself implements what those call back: feeding received bytes to the
core and routing its events (``feed``), writing the core's replies (``after_read``), and
the close sequencing below.

Protocol violations: messages that arrived before a violation are delivered first, and
the connection is failed (close frame with the violation's code, §7.1.7) only when they
have been received, so the application's replies to them still go out before the close.

Closing: ``aclose()`` sends a close frame (§7.1.2), reads until the peer's close frame
(and on a client until the server closes TCP, §7.1.1), all within ``close_timeout``,
then closes the stream. Failing the connection sends the close frame with the error's
code within a short limit, then aborts the stream. Once closed, :class:`ConnectionClosed`
tells every caller how it ended; transport errors become code 1006 here, in one place.

Cancellation: cancelling ``receive()`` loses nothing (unread bytes stay in the socket or
the core, complete messages stay queued). Cancelling ``send()`` before it starts writing
sends nothing; cancelling it in the middle of ``send_all`` may have written part of a
frame, which can never be completed, so the connection is aborted (the stream is closed,
``ConnectionClosed`` with code 1006 from then on).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Iterable
from functools import partial

import trio

from ._clock import LivenessClock
from ._options import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_RECEIVE_BUFFER,
)
from ._pings import PendingPing, PingTracker
from ._reader import (
    Reader,
)
from ._receiving import MessageQueue, MessageStream, Receiving
from ._sending import Writer
from ._streaming import send_message_stream
from .sansio._close import encode_close_payload
from .sansio._errors import NORMAL_CLOSE_CODES, ConnectionClosed, RemoteProtocolError
from .sansio._events import BinaryMessage, MessageChunk, Pong, TextMessage
from .sansio._headers import Headers
from .sansio._protocol import Protocol, Role, State

__all__ = ["WebSocket", "writer_of"]

logger = logging.getLogger("rawsock")

#: The name of each role's background task (as ``trio.lowlevel.Task.name``).
_READER_NAMES = {Role.CLIENT: "rawsock client reader", Role.SERVER: "rawsock server reader"}
#: Seconds allowed to send the 1011 close frame when a background task failed.
_BUG_CLOSE_LIMIT = 1.0
#: After failing a connection: at most these seconds and bytes spent reading what the
#: peer still sends, so that the close frame is not lost to a TCP reset (§7.1.1).
_LINGER_TIME = 2.0
_LINGER_BYTES = 64 * 1024 * 1024


class WebSocket(trio.abc.AsyncResource):
    """An open WebSocket connection (RFC 6455), client or server side.

    Obtained from :func:`rawsock.serve` (passed to the handler), :func:`rawsock.accept`
    or :func:`rawsock.connect`; not constructed directly. ``async with ws:`` closes it
    (``aclose()``) when the block ends.

    Attributes:
        path: the request target of the opening handshake (path and query).
        request_headers: headers of the opening handshake request.
        response_headers: headers of the opening handshake response.
        subprotocol: the negotiated subprotocol, or ``None``.
    """

    __slots__ = (
        "_close_timeout",  # seconds for the closing handshake
        "_closed",  # how the connection ended, once it has (ConnectionClosed)
        "_closing",  # aclose() started: received data messages are discarded
        "_pings",  # pings waiting for pongs
        "_protocol",  # the core
        "_queue",  # received messages not consumed yet
        "_reader",  # the read side
        "_receiving",  # receive() and receive_stream()
        "_stream",  # the transport
        "_transport_closed",  # the stream is closed (or being closed)
        "_writer",  # the write side
        "path",
        "request_headers",
        "response_headers",
        "subprotocol",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        protocol: Protocol,
        *,
        path: str,
        request_headers: Headers,
        response_headers: Headers,
        subprotocol: str | None,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        receive_buffer: int = DEFAULT_RECEIVE_BUFFER,
        ping_interval: float | None = DEFAULT_PING_INTERVAL,
        ping_timeout: float | None = DEFAULT_PING_TIMEOUT,
        initial_data: bytes = b"",
        clock: LivenessClock | None = None,
    ) -> None:
        if not protocol.chunked:
            raise ValueError("a WebSocket needs a Protocol(chunked=True)")
        self.path = path
        self.request_headers = request_headers
        self.response_headers = response_headers
        self.subprotocol = subprotocol
        self._stream = stream
        self._protocol = protocol
        self._close_timeout = close_timeout
        self._closed: ConnectionClosed | None = None
        self._closing = False
        self._transport_closed = False
        self._pings = PingTracker()
        self._writer = Writer(stream, protocol, self, close_timeout)
        queue = self._queue = MessageQueue(receive_buffer, self._pause, self._resume)
        # Bytes that came with the handshake are processed by the first read, which can
        # also send the replies they call for (pongs, a close frame).
        self._reader = Reader(
            stream,
            self,
            queue,
            clock if clock is not None else LivenessClock(),
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            initial_data=bytes(initial_data),
            name=_READER_NAMES[protocol.role],
        )
        self._receiving = Receiving(self._reader, queue, self, protocol.max_message_size)

    # -- public API --------------------------------------------------------------------

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed (see ``ConnectionClosed.code``)."""
        return None if self._closed is None else self._closed.code

    @property
    def close_reason(self) -> str | None:
        """The close reason once the connection is closed."""
        return None if self._closed is None else self._closed.reason

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (no more messages can be received)."""
        return self._closed is not None and not self._queue

    @property
    def latency(self) -> float | None:
        """Round-trip time in seconds of the last ping answered (keepalive's or ``ping()``'s)."""
        return self._pings.latency

    @property
    def pending_bytes(self) -> int:
        """What received messages not yet consumed count against ``receive_buffer``.

        Their payload bytes, plus 64 per message or piece for its Python object, so that
        a flood of empty messages fills the budget too. Reading stops (TCP backpressure)
        while this is at ``receive_buffer`` or more, until ``receive()`` makes room.
        """
        return self._queue.size

    @property
    def close_timeout(self) -> float:
        """Seconds allowed for the closing handshake (the ``close_timeout`` option)."""
        return self._close_timeout

    async def receive(self) -> str | bytes:
        """Receive the next message: ``str`` for text, ``bytes`` for binary (§5.6).

        Messages that arrived before the connection closed are returned first.

        Raises:
            ConnectionClosed: the connection is closed (``.ok`` tells a normal close),
                or the message exceeded ``max_message_size`` (code 1009).
            trio.BusyResourceError: another task is already receiving.
        """
        return await self._receiving.receive()

    def receive_stream(self, max_size: int | None = None) -> MessageStream:
        """Receive the next message piece by piece, as its bytes arrive.

        ::

            async for chunk in ws.receive_stream():
                output.write(chunk)

        Chunks are ``str`` for a text message (validated UTF-8, never splitting a
        character) or ``bytes``; a message of any size passes in constant memory. A
        small message that arrived whole comes as one chunk. If the iteration stops
        before the end (``break``, an exception, cancellation of the consuming task),
        the rest of that message is discarded as it arrives, and the next ``receive()``
        or ``receive_stream()`` starts with the next message; cancelling one step of the
        iteration loses nothing.

        Args:
            max_size: the largest message accepted this way (1009 beyond it); ``None``,
                the default, means no limit: ``max_message_size`` does not apply here.
        """
        return self._receiving.stream(max_size)

    async def send_stream(
        self,
        chunks: Iterable[str | bytes] | AsyncIterable[str | bytes],
        *,
        text: bool | None = None,
    ) -> None:
        """Send one message made of ``chunks``, each sent as a fragment (§5.4).

        The message is text if the chunks are ``str`` (or ``text=True``), binary if they
        are ``bytes``; other data messages wait until it is complete, while pings, pongs
        and a close frame from other tasks still go out between fragments. Cancelling it
        midway fails the connection with 1011: a message cut short cannot be completed.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: chunks of both types.
        """
        await send_message_stream(self._writer, self._protocol, chunks, text, self._interrupted)

    def __aiter__(self) -> WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        """Iterate over messages; ends quietly on a normal close (``ok``), else raises."""
        try:
            return await self.receive()
        except ConnectionClosed as closed:
            if closed.ok:
                raise StopAsyncIteration from None
            raise

    async def send(
        self, message: str | bytes | bytearray | memoryview, *, compress: bool | None = None
    ) -> None:
        """Send one message: a ``str`` as text, bytes-like as binary (§5.6).

        Waits while the transport cannot take more (the peer or network is slow).

        Args:
            message: the message.
            compress: with permessage-deflate negotiated, ``False`` sends this message
                uncompressed (for data that is already compressed) and ``True``
                compresses it whatever its size; by default messages of at least the
                ``threshold`` are compressed.

        Raises:
            ConnectionClosed: the connection is closed or closing.
        """
        protocol = self._protocol

        def encode() -> bytes:
            protocol.send(message, compress=compress)
            return protocol.data_to_send()

        await self._writer.send_message(encode)

    async def ping(self, payload: bytes | None = None) -> float:
        """Send a ping (§5.5.2) and wait for the matching pong.

        A pong acknowledges its own ping and every earlier one (§5.5.3 lets a peer answer
        only the most recent). Use ``trio.move_on_after`` to bound the wait.

        Args:
            payload: at most 125 bytes; by default a unique 8-byte counter.

        Returns:
            The round-trip time in seconds (also stored in :attr:`latency`).

        Raises:
            ConnectionClosed: the connection closed before the pong arrived.
            ValueError: a ping with the same payload is already waiting.
            LocalProtocolError: ``payload`` is longer than 125 bytes (§5.5).
        """
        pending = await self._send_ping(payload)
        try:
            await self._reader.read_until(pending.answered.is_set)
            await pending.answered.wait()
        finally:
            self._pings.forget(pending)
        if pending.round_trip is None:  # woken by the connection closing, not by a pong
            raise self._closed_or_closing()
        return pending.round_trip

    async def _send_ping(self, payload: bytes | None) -> PendingPing:
        pings = self._pings
        payload = pings.next_payload() if payload is None else bytes(payload)
        pings.check(payload)
        protocol = self._protocol
        pending: list[PendingPing] = []

        def encode() -> bytes:
            protocol.send_ping(payload)
            pending.append(pings.sent(payload))
            return protocol.data_to_send()

        await self._writer.send_fragment(encode)
        return pending[0]

    async def send_keepalive_ping(self) -> PendingPing:
        """The reader's keepalive ping (see ``ReadSink``)."""
        return await self._send_ping(None)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection: closing handshake (§7.1.2), then the transport.

        Sends a close frame with ``code`` and ``reason`` (if none was sent yet), waits up
        to ``close_timeout`` for the peer's close frame and, on a client, for the server
        to close TCP (§7.1.1), then closes the stream. Messages not yet received are
        discarded. Always closes, even when cancelled or when the peer misbehaves.

        Raises:
            LocalProtocolError: ``code`` may not be sent (RFC 6455 §7.4) or ``reason``
                is longer than 123 bytes in UTF-8; nothing is closed in that case.
        """
        encode_close_payload(code, reason)  # validate before changing anything
        self._closing = True
        self._queue.clear()
        self._receiving.abandon_partial()
        protocol = self._protocol
        client = protocol.role is Role.CLIENT
        try:
            with trio.move_on_after(self._close_timeout):
                await self._reader.run_deferred()  # a violation's code comes first
                if protocol.state is State.OPEN and not self._transport_closed:
                    async with self._writer.lock:
                        protocol.send_close(code, reason)
                        await self._writer.write(protocol.data_to_send(), raise_closed=False)
                # A client waits for the server to close TCP too (§7.1.1), unless the
                # connection failed: the transport is then aborted, not closed.
                await self._reader.read_until(
                    lambda: self._closed is not None
                    and (
                        not client
                        or protocol.eof_received
                        or protocol.failure is not None
                        or self._transport_closed
                    )
                )
        finally:
            self._set_closed()
            await self._close_transport()

    # -- what the reader and the writer call back --------------------------------------

    def feed(self, data: bytes | bytearray) -> int:
        """Feed received bytes to the core and route its events; return their number."""
        protocol = self._protocol
        error: RemoteProtocolError | None = None
        try:
            protocol.receive_data(data)
        except RemoteProtocolError as exc:
            error = exc
        events = protocol.events()
        closing = self._closing
        queue = self._queue
        for event in events:
            if isinstance(event, TextMessage | BinaryMessage):
                if not closing:
                    queue.append(event.data)
            elif isinstance(event, MessageChunk):
                if not closing:
                    queue.append(event)
            elif isinstance(event, Pong):
                self._pings.pong_received(event.payload)
        if error is not None:
            if queue:
                # Deliver what came before the violation first, and let the application
                # answer it; the connection fails when the queue is empty (§7.1.7).
                self._reader.defer_failure(partial(self._fail_for_violation, error))
            else:
                protocol.fail(error)
        if protocol.state is State.CLOSED:
            self._set_closed(error)
        return len(events)

    async def after_read(self) -> None:
        """Write what the core queued by itself (pongs, close replies); maybe close TCP."""
        protocol = self._protocol
        if protocol.has_data_to_send:
            await self._writer.flush_replies()
        if protocol.close_transport_now:
            await self._close_transport()

    def transport_lost(self, error: BaseException) -> None:
        """The transport broke or was closed under us: code 1006 (§7.1.5)."""
        self._protocol.receive_data(b"")  # the transport is gone: as good as EOF
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
            code, reason = self._protocol.close_initiated or (1006, "")
            return ConnectionClosed(code, reason, ok=False)
        return closed

    async def fail(self, error: RemoteProtocolError, flush_limit: float) -> None:
        """Fail the connection for a reason found outside the core (limits, keepalive)."""
        if self._closed is not None:
            return
        self._protocol.fail(error)
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
        self._protocol.fail(error)
        self._set_closed(error)
        await self.after_read()

    async def _interrupted(self, error: RemoteProtocolError, flush_limit: float) -> None:
        """A streamed send stopped midway (see ``_streaming.py``)."""
        await self.fail(error, flush_limit)

    def _pause(self) -> None:
        self._reader.pause()

    def _resume(self) -> None:
        self._reader.resume()

    # -- closing the transport ---------------------------------------------------------

    async def abort(self) -> None:
        """Close the stream at once, without waiting for anything (also when cancelled)."""
        self._set_closed()
        if not self._transport_closed:
            self._transport_closed = True
            await trio.aclose_forcefully(self._stream)

    async def _close_transport(self) -> None:
        """Write what the core still holds (a close frame), then close the stream.

        Waits for a write in progress to finish (it may be the close frame itself), for
        at most ``close_timeout``; closes the stream in any case, also when cancelled.
        """
        if self._transport_closed:
            return
        self._transport_closed = True
        stream = self._stream
        protocol = self._protocol
        try:
            with trio.move_on_after(self._close_timeout):
                async with self._writer.lock:
                    data = protocol.data_to_send()
                    if data:
                        await stream.send_all(data)
                    if protocol.failure is not None and not protocol.eof_received:
                        await self._linger()
                    await stream.aclose()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(self._stream)
            self._set_closed()

    async def _linger(self) -> None:
        """Half-close, then read and drop until the peer closes (bounded in time, bytes).

        After failing the connection the peer may still be sending; closing the socket
        with its data unread makes the kernel reset the connection, and the peer then
        loses our close frame before reading it. RFC 6455 §7.1.1: the closing side
        should rather shut down writing and wait for the peer to close.
        """
        stream = self._stream
        with trio.move_on_after(_LINGER_TIME):
            if isinstance(stream, trio.abc.HalfCloseableStream):
                await stream.send_eof()
            await self._reader.drain(_LINGER_BYTES)

    def _set_closed(self, cause: BaseException | None = None) -> None:
        if self._closed is not None:
            return
        protocol = self._protocol
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
        self._pings.close()
        self._reader.stop()


def writer_of(ws: WebSocket) -> Writer:
    """The write side of ``ws`` (for ``Broadcaster``, which shares encoded frames)."""
    return ws._writer
