"""The Trio WebSocket connection: one ``trio.abc.Stream`` driven by one core ``Protocol``.

Theory of operation
-------------------
Reading uses a *read baton*: at most one task reads the stream at a time
(``_reader_busy``), and whoever reads feeds the bytes to the core, queues the data
messages, answers control frames and flushes the outbox. Every other task that needs
bytes parks until the current read is done (``_read_done``) and looks again.

- ``receive()`` takes the baton itself when nobody holds it: in a receive loop, the
  bytes go from the socket to the caller with no task switch in between.
- A background task (the *liveness reader*, one per connection) takes the baton only when
  no task has been inside ``receive()`` for ``IDLE_GRACE`` seconds (or at once, when
  ``ping()`` or the close handshake waits for a reply). So pings are answered and the
  peer's close is noticed while the application only sends or does other work. It
  keeps reading until a receiver shows up again, and stops reading while the queued
  messages hold ``receive_buffer`` bytes or more: TCP backpressure then reaches the peer
  and nothing is dropped.

Protocol violations: messages that arrived before a violation are delivered first, and the
connection is failed (close frame with the violation's code, §7.1.7) only when they have
been received, so the application's replies to them still go out before the close frame.

Writing: senders hold ``_send_lock`` while they take the core's outbox and write it, so
frames never interleave. Replies the core queued (pongs, close echoes) go out with the
next write, or with the reader's own flush.

Cancellation: cancelling ``receive()`` loses nothing (unread bytes stay in the socket or
the core, complete messages stay queued). Cancelling ``send()`` before it starts writing
sends nothing; cancelling it in the middle of ``send_all`` may have written part of a
frame, which can never be completed, so the connection is aborted (the stream is closed,
``ConnectionClosed`` with code 1006 from then on).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterable

import trio

from ._keepalive import keep_alive
from ._streaming import ITEM_OVERHEAD, MessageStream, queued_size, send_message_stream
from ._write_lock import WriteLock
from .sansio._close import encode_close_payload
from .sansio._errors import NORMAL_CLOSE_CODES, ConnectionClosed, RemoteProtocolError
from .sansio._events import BinaryMessage, MessageChunk, Pong, TextMessage
from .sansio._headers import Headers
from .sansio._protocol import Protocol, Role, State

__all__ = ["DEFAULT_CLOSE_TIMEOUT", "DEFAULT_RECEIVE_BUFFER", "WebSocket"]

#: Seconds to wait for the peer's half of the closing handshake (and, on a client, for
#: the server to close TCP) before closing the transport anyway.
DEFAULT_CLOSE_TIMEOUT = 10.0
#: Bytes of received, unconsumed messages after which the liveness reader stops reading.
DEFAULT_RECEIVE_BUFFER = 1024 * 1024
#: Bytes asked of the stream per read; doubled while reads come back full of large
#: frames, up to ``MAX_READ_SIZE``, so large messages take fewer reads.
READ_SIZE = 8 * 1024
MAX_READ_SIZE = 256 * 1024
_FEW_EVENTS = 4
#: Seconds without a task in ``receive()`` before the liveness reader starts reading.
IDLE_GRACE = 0.05
#: Keepalive: seconds between pings, and seconds to wait for the pong (see _keepalive.py).
DEFAULT_PING_INTERVAL = 20.0
DEFAULT_PING_TIMEOUT = 20.0

_TRANSPORT_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)
_PING_PAYLOAD = struct.Struct("!Q")


class _PendingPing:
    """A ping waiting for its pong."""

    __slots__ = ("answered", "payload", "round_trip", "sent_at")

    def __init__(self, payload: bytes, sent_at: float) -> None:
        self.payload = payload
        self.sent_at = sent_at
        self.answered = trio.Event()
        self.round_trip: float | None = None


class WebSocket:
    """An open WebSocket connection (RFC 6455), client or server side.

    Obtained from :func:`rawsock.serve` (passed to the handler), :func:`rawsock.accept`
    or :func:`rawsock.connect`; not constructed directly.

    Attributes:
        path: the request target of the opening handshake (path and query).
        request_headers: headers of the opening handshake request.
        response_headers: headers of the opening handshake response.
        subprotocol: the negotiated subprotocol, or ``None``.
        latency: round-trip time in seconds of the last ping answered, or ``None``.
    """

    __slots__ = (
        "_client",
        "_close_timeout",
        "_closed",
        "_closing",
        "_initial_data",
        "_keepalive_scope",
        "_max_message_size",
        "_message_lock",
        "_messages",
        "_partial",
        "_paused_since",
        "_paused_total",
        "_ping_count",
        "_pings",
        "_protocol",
        "_queued",
        "_read_done",
        "_read_size",
        "_reader_busy",
        "_reader_grace",
        "_reader_idle",
        "_reader_scope",
        "_reader_task",
        "_receive_buffer",
        "_receive_count",
        "_receiving",
        "_send_lock",
        "_stream",
        "_transport_closed",
        "_urgent",
        "_violation",
        "latency",
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
    ) -> None:
        self.path = path
        self.request_headers = request_headers
        self.response_headers = response_headers
        self.subprotocol = subprotocol
        self.latency: float | None = None
        self._stream = stream
        self._protocol = protocol
        self._client = protocol.role is Role.CLIENT
        self._close_timeout = close_timeout
        self._receive_buffer = receive_buffer
        self._messages: deque[str | bytes | MessageChunk] = deque()
        self._queued = 0  # size of the queued messages
        self._closed: ConnectionClosed | None = None
        self._closing = False  # aclose() has started: received data is discarded
        self._violation: RemoteProtocolError | None = None  # to fail with, once drained
        self._transport_closed = False
        self._send_lock = WriteLock()  # one writer on the stream at a time
        self._message_lock = WriteLock()  # one data message (maybe fragmented) at a time
        if not protocol.chunked:
            raise ValueError("a WebSocket needs a Protocol(chunked=True)")
        self._max_message_size = protocol.max_message_size  # enforced in receive()
        self._partial: list[str | bytes] | None = None  # receive()'s message in progress
        self._read_size = READ_SIZE
        self._receiving = False
        self._receive_count = 0
        self._reader_busy = False
        self._read_done = trio.lowlevel.ParkingLot()  # readers waiting for a read to end
        self._reader_idle = trio.lowlevel.ParkingLot()  # liveness reader, nothing to do
        self._reader_grace = trio.lowlevel.ParkingLot()  # liveness reader, grace period
        self._urgent = 0  # tasks waiting for a reply (ping, close): read at once
        self._pings: dict[bytes, _PendingPing] = {}
        self._ping_count = 0
        self._reader_scope = trio.CancelScope()
        self._reader_task: trio.lowlevel.Task | None = None
        self._keepalive_scope = trio.CancelScope()
        self._paused_total = 0.0  # seconds the reader stopped because the budget was full
        self._paused_since: float | None = None
        # Bytes that came with the handshake are processed by the first read, which can
        # also send the replies they call for (pongs, a close frame).
        self._initial_data = bytes(initial_data)
        trio.lowlevel.spawn_system_task(
            self._liveness_reader, name=f"rawsock {protocol.role.value} reader"
        )
        if ping_interval is not None:
            trio.lowlevel.spawn_system_task(
                keep_alive, self, ping_interval, ping_timeout, name="rawsock keepalive"
            )

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
        return self._closed is not None and not self._messages

    async def receive(self) -> str | bytes:
        """Receive the next message: ``str`` for text, ``bytes`` for binary (§5.6).

        Messages that arrived before the connection closed are returned first.

        Raises:
            ConnectionClosed: the connection is closed (``.ok`` tells a normal close).
            trio.BusyResourceError: another task is already receiving.
        """
        await self._start_receiving()
        waited = False
        try:
            while True:
                item, waited_now = await self._next_item()
                waited = waited or waited_now
                if not isinstance(item, MessageChunk):
                    self._partial = None  # any abandoned part of a message ends here
                    break
                message = await self._add_part(item)
                if message is not None:
                    item = message
                    break
        finally:
            self._stop_receiving()
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return item

    async def _start_receiving(self) -> None:
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this WebSocket")
        await trio.lowlevel.checkpoint_if_cancelled()
        self._receiving = True
        self._receive_count += 1

    def _stop_receiving(self) -> None:
        self._receiving = False
        if self._reader_idle:
            self._reader_idle.unpark_all()

    async def _next_item(self) -> tuple[str | bytes | MessageChunk, bool]:
        """Pop the next queued message or chunk, waiting if there is none.

        Returns:
            The item, and whether this call had to wait (a checkpoint happened).
        """
        if self._messages:
            item = self._messages.popleft()
            self._queued -= queued_size(item)
            return item, False
        return await self._wait_for_item(), True

    async def _wait_for_item(self) -> str | bytes | MessageChunk:
        """Wait until a message or chunk is queued (reading if nobody else is); pop it."""
        messages = self._messages
        while not messages:
            if self._closed is not None:
                raise self._closed_error()
            if self._violation is not None:
                await self._fail_for_violation()
            elif self._reader_busy:
                await self._read_done.park()
            else:
                await self._read()
        item = messages.popleft()
        self._queued -= queued_size(item)
        return item

    async def _add_part(self, chunk: MessageChunk) -> str | bytes | None:
        """Collect one part of a message for ``receive()``; the message when complete.

        The parts live on the connection, so a cancelled ``receive()`` loses nothing. Parts
        of a message whose start went to an abandoned ``receive_stream()`` are skipped.
        """
        if chunk.first:
            self._partial = []
        elif self._partial is None:
            return None  # the rest of a message that a stream gave up on
        limit = self._max_message_size
        if limit is not None and chunk.size > limit:
            self._partial = None
            error = RemoteProtocolError(
                f"message of at least {chunk.size} bytes exceeds the limit of {limit}", 1009
            )
            await self._fail(error, flush_limit=self._close_timeout)
            raise self._closed_error()
        self._partial.append(chunk.data)
        if not chunk.final:
            return None
        parts, self._partial = self._partial, None
        if isinstance(chunk.data, str):
            return "".join(parts)  # type: ignore[arg-type]
        return b"".join(parts)  # type: ignore[arg-type]

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
        return MessageStream(self, max_size)

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
        """
        await send_message_stream(self, chunks, text)

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

        await self._send_data(encode)

    async def _send_frame(self, frame: bytes) -> None:
        """Write one complete, already encoded data frame (used by ``Broadcaster``)."""
        await self._send_data(lambda: self._protocol.data_to_send() + frame)

    async def _send_data(self, encode: Callable[[], bytes]) -> None:
        """Write a data message: ``encode()`` runs holding both locks, once OPEN is checked.

        The message lock keeps data messages (and the fragments of a streamed one) from
        interleaving; the writers' lock is what control frames take too.
        """
        message_lock = self._message_lock
        await message_lock.acquire()
        try:
            lock = self._send_lock
            await lock.acquire()
            try:
                if self._protocol.state is not State.OPEN:
                    raise self._closed_error()
                await self._write(encode())
            finally:
                lock.release()
        finally:
            message_lock.release()

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
        """
        pending = await self._send_ping(payload)
        self._urgent += 1
        self._reader_grace.unpark_all()
        try:
            await pending.answered.wait()
        finally:
            self._urgent -= 1
            self._pings.pop(pending.payload, None)
        if pending.round_trip is None:  # woken by the connection closing, not by a pong
            raise self._closed_error()
        return pending.round_trip

    async def _send_ping(self, payload: bytes | None) -> _PendingPing:
        if payload is None:
            self._ping_count += 1
            payload = _PING_PAYLOAD.pack(self._ping_count)
        payload = bytes(payload)
        if payload in self._pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        async with self._send_lock:
            if self._protocol.state is not State.OPEN:
                raise self._closed_error()
            await trio.lowlevel.checkpoint_if_cancelled()
            self._protocol.send_ping(payload)
            pending = self._pings[payload] = _PendingPing(payload, trio.current_time())
            await self._write(self._protocol.data_to_send())
        return pending

    def _paused_time(self) -> float:
        """Seconds so far that reading stopped because unconsumed messages filled the budget."""
        since = self._paused_since
        return self._paused_total + (0.0 if since is None else trio.current_time() - since)

    async def _fail(self, error: RemoteProtocolError, flush_limit: float) -> None:
        """Fail the connection for a reason found outside the core (keepalive, ...)."""
        if self._closed is not None:
            return
        self._protocol.fail(error)
        self._set_closed(error)
        try:
            with trio.move_on_after(flush_limit):
                await self._flush_replies()  # the close frame, if the peer still reads
        finally:
            await self._abort_transport()

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
        self._messages.clear()
        self._queued = 0
        self._partial = None
        try:
            with trio.move_on_after(self._close_timeout):
                if self._violation is not None:
                    await self._fail_for_violation()
                if self._protocol.state is State.OPEN and not self._transport_closed:
                    async with self._send_lock:
                        self._protocol.send_close(code, reason)
                        await self._write(self._protocol.data_to_send(), raise_closed=False)
                self._urgent += 1
                try:
                    while self._closed is None or (
                        self._client
                        and not self._protocol.eof_received
                        and not self._transport_closed
                    ):
                        if self._reader_busy:
                            await self._read_done.park()
                        else:
                            await self._read()
                finally:
                    self._urgent -= 1
        finally:
            self._set_closed()
            await self._close_transport()

    # -- reading -----------------------------------------------------------------------

    async def _read(self) -> None:
        """Read once from the stream and process what arrived (holds the read baton)."""
        self._reader_busy = True
        data: bytes | bytearray
        try:
            try:
                if self._initial_data:
                    data, self._initial_data = self._initial_data, b""
                    await trio.lowlevel.checkpoint()
                else:
                    data = await self._stream.receive_some(self._read_size)
            except _TRANSPORT_ERRORS as error:
                self._protocol.receive_data(b"")  # the transport is gone: as good as EOF
                self._set_closed(error)
                return
            events = self._feed(data)
            # Larger reads only while they come back full of few, large frames: a read
            # full of tiny frames is processed without a pause, so it stays small and
            # other connections wait at most one small read's worth of parsing.
            size = self._read_size
            if len(data) == size and events <= _FEW_EVENTS:
                self._read_size = min(size * 2, MAX_READ_SIZE)
            elif size != READ_SIZE:
                self._read_size = READ_SIZE
        finally:
            self._reader_busy = False
            if self._read_done:
                self._read_done.unpark_all()
            if self._reader_idle:
                self._reader_idle.unpark_all()
        await self._flush_replies()

    def _feed(self, data: bytes | bytearray) -> int:
        """Feed received bytes to the core and handle its events; return their number."""
        protocol = self._protocol
        error: RemoteProtocolError | None = None
        try:
            protocol.receive_data(data)
        except RemoteProtocolError as exc:
            error = exc
        events = protocol.events()
        for event in events:
            if isinstance(event, TextMessage | BinaryMessage):
                if not self._closing:
                    self._messages.append(event.data)
                    self._queued += len(event.data) + ITEM_OVERHEAD
            elif isinstance(event, MessageChunk):
                if not self._closing:
                    self._messages.append(event)
                    self._queued += len(event.data) + ITEM_OVERHEAD
            elif isinstance(event, Pong):
                self._pong_received(event.payload)
        if error is not None:
            if self._messages:
                # Deliver what came before the violation first, and let the application
                # answer it; the connection fails when the queue is empty (§7.1.7).
                self._violation = error
            else:
                protocol.fail(error)
        if protocol.state is State.CLOSED:
            self._set_closed(error)
        return len(events)

    async def _fail_for_violation(self) -> None:
        """Fail the connection for a protocol violation found earlier (see ``_feed``)."""
        error = self._violation
        assert error is not None
        self._violation = None
        self._protocol.fail(error)
        self._set_closed(error)
        await self._flush_replies()

    def _pong_received(self, payload: bytes) -> None:
        if payload not in self._pings:
            return  # unsolicited pong (§5.5.3): fine
        now = trio.current_time()
        for key in list(self._pings):
            pending = self._pings.pop(key)
            pending.round_trip = now - pending.sent_at
            pending.answered.set()
            if key == payload:
                self.latency = pending.round_trip
                break

    async def _flush_replies(self) -> None:
        """Write what the core queued by itself (pongs, close replies); maybe close TCP."""
        protocol = self._protocol
        if protocol.has_data_to_send:
            async with self._send_lock:
                data = protocol.data_to_send()
                if data:
                    await self._write(data, raise_closed=False)
        if protocol.close_transport_now:
            await self._close_transport()

    async def _liveness_reader(self) -> None:
        """Background reader: reads only while no task is receiving (see module doc)."""
        self._reader_task = trio.lowlevel.current_task()
        try:
            with self._reader_scope:
                await self._liveness_loop()
        except Exception as error:  # a system task must never raise
            self._set_closed(error)
            await self._abort_transport()

    async def _liveness_loop(self) -> None:
        # While holding, keep reading until a receiver shows up; at the start nobody has
        # received yet, so read at once (the first receive() waits for one read at most).
        holding = True
        while self._closed is None:
            if self._receiving or self._reader_busy or (self._violation and self._messages):
                holding = False
                await self._reader_idle.park()
                continue
            if self._queued >= self._receive_buffer:
                # Budget full: stop reading (TCP backpressure) until receive() makes room.
                # The keepalive does not count this time: a pong may be stuck behind the
                # data we are not reading, and that is our doing, not the peer's.
                holding = False
                self._paused_since = trio.current_time()
                try:
                    await self._reader_idle.park()
                finally:
                    self._paused_total += trio.current_time() - self._paused_since
                    self._paused_since = None
                continue
            if (not holding or self._violation is not None) and not self._urgent:
                count = self._receive_count
                with trio.move_on_after(IDLE_GRACE):
                    await self._reader_grace.park()
                if self._receive_count != count and not self._urgent:
                    continue
                if self._receiving or self._reader_busy or self._closed is not None:
                    continue
            holding = True
            if self._violation is not None:
                await self._fail_for_violation()
            else:
                await self._read()

    # -- writing and closing -------------------------------------------------------------

    async def _write(self, data: bytes, *, raise_closed: bool = True) -> None:
        """Write ``data`` (the caller holds ``_send_lock``)."""
        try:
            await self._stream.send_all(data)
        except _TRANSPORT_ERRORS as error:
            self._set_closed(error)
            if raise_closed:
                raise self._closed_error() from error
        except BaseException:
            # Cancelled (or worse) in the middle of send_all: part of a frame may be on
            # the wire and can never be completed, so this stream must not be used again.
            self._set_closed()
            await self._abort_transport()
            raise

    async def _abort_transport(self) -> None:
        """Close the stream at once, without waiting for anything (also when cancelled)."""
        if not self._transport_closed:
            self._transport_closed = True
            self._reader_scope.cancel()
            await trio.aclose_forcefully(self._stream)

    async def _close_transport(self) -> None:
        """Write what the core still holds (a close frame), then close the stream.

        Waits for a write in progress to finish (it may be the close frame itself), for
        at most ``close_timeout``; closes the stream in any case, also when cancelled.
        """
        if self._transport_closed:
            return
        self._transport_closed = True
        from_reader = trio.lowlevel.current_task() is self._reader_task
        try:
            with trio.move_on_after(self._close_timeout):
                async with self._send_lock:
                    if not from_reader:
                        self._reader_scope.cancel()
                    data = self._protocol.data_to_send()
                    if data:
                        await self._stream.send_all(data)
                    await self._stream.aclose()
        except _TRANSPORT_ERRORS:
            pass
        finally:
            if not from_reader:
                self._reader_scope.cancel()
            await trio.aclose_forcefully(self._stream)
            self._set_closed()

    def _set_closed(self, cause: BaseException | None = None) -> None:
        if self._closed is not None:
            return
        protocol = self._protocol
        code, reason = protocol.close_initiated or (1006, "")
        ok = (
            protocol.failure is None
            and protocol.close_sent is not None
            and protocol.close_received is not None
            and code in NORMAL_CLOSE_CODES
        )
        closed = ConnectionClosed(code, reason, ok=ok)
        closed.__cause__ = cause or protocol.failure
        self._closed = closed
        self._keepalive_scope.cancel()
        for pending in self._pings.values():
            pending.answered.set()
        for lot in (self._read_done, self._reader_idle, self._reader_grace):
            lot.unpark_all()

    def _closed_error(self) -> ConnectionClosed:
        """A fresh ``ConnectionClosed`` describing how the connection ended (or is ending)."""
        closed = self._closed
        if closed is None:
            code, reason = self._protocol.close_initiated or (1006, "")
            return ConnectionClosed(code, reason, ok=False)
        error = ConnectionClosed(closed.code, closed.reason, ok=closed.ok)
        error.__cause__ = closed.__cause__
        return error

