"""The Trio WebSocket connection: :class:`WebSocket`, the public face of one connection.

Theory of operation
-------------------
The work is split by concept, one object each, which a
:class:`~rawsock._session.Session` creates and wires together (each is handed the few
callbacks it needs, never another's attributes):

- reading, liveness, the receive budget and the keepalive: :class:`~rawsock._reader.Reader`
  (its module states the invariants of the read baton);
- the received messages, ``receive()`` and ``receive_stream()``:
  :class:`~rawsock._receiving.Receiving` over a :class:`~rawsock._receiving.MessageQueue`;
- writing, with the locks that keep frames from interleaving:
  :class:`~rawsock._sending.Writer`;
- pings waiting for pongs: :class:`~rawsock._pings.PingTracker`;
- routing the core's events and the close sequencing: the session itself.

Cancellation: cancelling ``receive()`` loses nothing (unread bytes stay in the socket or
the core, complete messages stay queued). Cancelling ``send()`` before it starts writing
sends nothing; cancelling it in the middle of ``send_all`` may have written part of a
frame, which can never be completed, so the connection is aborted (the stream is closed,
``ConnectionClosed`` with code 1006 from then on).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable

import trio

from ._clock import LivenessClock
from ._options import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_RECEIVE_BUFFER,
)
from ._receiving import MessageStream
from ._sending import Writer
from ._session import Session
from ._streaming import send_message_stream
from .sansio._errors import ConnectionClosed
from .sansio._headers import Headers
from .sansio._outbox import check_message
from .sansio._protocol import Protocol

__all__ = ["WebSocket", "finish", "writer_of"]


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
        http_version: ``"1.1"`` for a WebSocket opened by an HTTP/1.1 upgrade (RFC 6455
            §4), ``"2"`` for one carried by a stream of an HTTP/2 connection (RFC 8441).
    """

    __slots__ = (
        "_protocol",  # the core
        "_receiving",  # receive() and receive_stream()
        "_session",  # the connection's parts and close sequencing
        "_stream",  # the transport
        "_writer",  # the write side
        "http_version",
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
        http_version: str = "1.1",
    ) -> None:
        if not protocol.chunked:
            raise ValueError("a WebSocket needs a Protocol(chunked=True)")
        self.path = path
        self.request_headers = request_headers
        self.response_headers = response_headers
        self.subprotocol = subprotocol
        self.http_version = http_version
        session = self._session = Session(
            stream,
            protocol,
            close_timeout=close_timeout,
            receive_buffer=receive_buffer,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            initial_data=bytes(initial_data),
            clock=clock,
        )
        self._protocol = protocol
        self._stream = stream
        self._receiving = session.receiving
        self._writer = session.writer

    # -- public API --------------------------------------------------------------------

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed (see ``ConnectionClosed.code``)."""
        closed = self._session.closed
        return None if closed is None else closed.code

    @property
    def close_reason(self) -> str | None:
        """The close reason once the connection is closed."""
        closed = self._session.closed
        return None if closed is None else closed.reason

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (no more messages can be received)."""
        return self._session.closed is not None and not self._session.queue.count

    @property
    def latency(self) -> float | None:
        """Round-trip time in seconds of the last ping answered (keepalive's or ``ping()``'s)."""
        return self._session.pings.latency

    @property
    def pending_bytes(self) -> int:
        """What received messages not yet consumed count against ``receive_buffer``.

        Their payload bytes, plus 64 per message or piece for its Python object, so that
        a flood of empty messages fills the budget too. Reading stops (TCP backpressure)
        while this is at ``receive_buffer`` or more, until ``receive()`` makes room.
        """
        return self._session.queue.size

    @property
    def stream(self) -> trio.abc.Stream:
        """The transport: a ``trio.abc.HalfCloseableStream`` over the socket on a
        server of :func:`rawsock.serve` or :func:`rawsock.serve_unix`, a
        ``trio.SocketStream`` on a client, a ``trio.SSLStream`` over either for TLS, or
        the stream given to :func:`rawsock.accept` or :func:`rawsock.connect`; over
        HTTP/2 (``http_version == "2"``), the stream of the HTTP/2 connection that
        carries this WebSocket.

        For what it tells: the socket streams have a ``socket`` attribute
        (``stream.socket.getpeername()``), an ``SSLStream`` its ``version()``...;
        reading or writing it would corrupt the connection.
        """
        return self._stream

    @property
    def close_timeout(self) -> float:
        """Seconds allowed for the closing handshake (the ``close_timeout`` option)."""
        return self._session.close_timeout

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
        chunk is what one read of the socket brought of the message, its fragments
        joined; a small message that arrived whole comes as one chunk, and so does a
        binary message sent as one frame of at most ``max_message_size`` bytes, once
        it is complete, when the C accelerator unmasks it straight into the message
        (lower ``max_message_size`` to get such frames as their bytes arrive). If the
        iteration stops before the end (``break``, an exception, cancellation of the
        consuming task), the rest of that message is discarded as it arrives, and the
        next ``receive()`` or ``receive_stream()`` starts with the next message;
        cancelling one step of the iteration loses nothing.

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
        session = self._session
        await send_message_stream(session.writer, session.protocol, chunks, text, session.fail)

    def __aiter__(self) -> WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        """Iterate over messages; ends quietly on a normal close (``ok``), else raises."""
        try:
            return await self._receiving.receive()  # (not self.receive(): one call less)
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
            TypeError: ``message`` is neither a ``str`` nor bytes-like (nothing is sent).
            ConnectionClosed: the connection is closed or closing.
        """
        if type(message) is not str and type(message) is not bytes:  # (the common cases)
            check_message(message)
        await self._writer.send_data(message, compress)

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
            TypeError: ``payload`` is not bytes-like (nothing is sent).
            ValueError: a ping with the same payload is already waiting.
            LocalProtocolError: ``payload`` is longer than 125 bytes (§5.5).
        """
        return await self._session.ping(payload)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection: closing handshake (§7.1.2), then the transport.

        Sends a close frame with ``code`` and ``reason`` (if none was sent yet), waits up
        to ``close_timeout`` for the peer's close frame and, on a client, for the server
        to close TCP (§7.1.1), then closes the stream. Messages not yet received are
        discarded, unless another task is inside :meth:`receive` (an ``async for``
        loop, say): it goes on receiving the messages the peer sent before its close
        frame, then gets ``ConnectionClosed``. Always closes, even when cancelled or
        when the peer misbehaves.

        Raises:
            LocalProtocolError: ``code`` may not be sent (RFC 6455 §7.4) or ``reason``
                is longer than 123 bytes in UTF-8; nothing is closed in that case.
        """
        await self._session.close(code, reason)


async def finish(ws: WebSocket) -> None:
    """``ws.aclose()`` for its owner (a server's handler runner, a ``connect`` block),
    which saves the pass through the scheduler when the connection is already closed."""
    if not ws._session.finished:
        await ws._session.close(1000, "")


def writer_of(ws: WebSocket) -> Writer:
    """The write side of ``ws`` (for ``Broadcaster``, which shares encoded frames)."""
    return ws._writer


def when_closed(ws: WebSocket, callback: Callable[[], None]) -> None:
    """Call ``callback()`` once ``ws`` is closed, now if it is (for ``Broadcaster``,
    whose sender tasks wait for messages and must end with their connection)."""
    ws._session.call_when_closed(callback)
