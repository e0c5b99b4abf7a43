"""An in-memory transport with controls, for :mod:`rawsock.testing`.

Theory of operation: a :class:`Transport` is two :class:`Pipe` objects, one per
direction, and two stream ends (:attr:`Transport.client`, :attr:`Transport.server`) that
write to one pipe and read from the other. A pipe holds the bytes written and not read
yet, each write stamped with the time it may be read (now, plus the pipe's ``delay``).
It behaves like one direction of a TCP connection whose socket buffers hold ``limit``
bytes: ``send_all`` waits while the pipe is full, ``receive_some`` waits while it is empty
or :meth:`Pipe.pause` stopped the reading end. :meth:`Transport.cut` breaks both
directions at once, as a connection reset does. Everything waits on Trio's clock, so a
``trio.testing.MockClock`` runs the delays in virtual time.
"""

from __future__ import annotations

from collections import deque

import trio

from ._checks import check_int, check_number

__all__ = ["DEFAULT_LIMIT", "MemoryStream", "Pipe", "Transport"]

#: Bytes one direction holds before the writer's ``send_all`` waits (about what the
#: socket buffers of a loopback TCP connection hold).
DEFAULT_LIMIT = 64 * 1024


class Pipe:
    """One direction of a :class:`Transport`: bytes one end wrote, the other has not read.

    Args:
        limit: bytes held before writes wait (see :attr:`limit`).
        delay: seconds between a write and the moment its bytes can be read.

    Raises:
        TypeError, ValueError: as the :attr:`limit` and :attr:`delay` setters.
    """

    def __init__(self, limit: int | None = DEFAULT_LIMIT, delay: float = 0.0) -> None:
        self._chunks: deque[tuple[float, bytes]] = deque()  # (readable from, data)
        self._buffered = 0
        self._limit: int | None = None
        self._delay = 0.0
        self._paused = False
        self._blocked = False
        self._eof = False  # the writing end is done: the reader gets b"" once empty
        self._writer_gone = False  # the writing end is closed
        self._reader_gone = False  # the reading end is closed: writes fail
        self._broken = False  # cut: both ends fail
        self._changed = trio.lowlevel.ParkingLot()
        self.limit = limit
        self.delay = delay

    @property
    def limit(self) -> int | None:
        """Bytes held before the writer's ``send_all`` waits for the reader (an int >= 1),
        or ``None`` for no limit. A write larger than the room left goes in piece by piece,
        as on a socket. Raising it lets a waiting writer go on at once."""
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        self._limit = check_int("limit", value, 1, optional=True)
        self._changed.unpark_all()

    @property
    def delay(self) -> float:
        """Seconds each write takes to become readable (>= 0; default 0). A change applies
        to the writes that follow; bytes are always read in the order written."""
        return self._delay

    @delay.setter
    def delay(self, value: float) -> None:
        checked = check_number("delay", value, at_least=0)
        assert checked is not None
        self._delay = float(checked)

    @property
    def paused(self) -> bool:
        """Whether the reading end stopped reading (:meth:`pause`)."""
        return self._paused

    @property
    def buffered(self) -> int:
        """Bytes written and not read yet (delayed ones included)."""
        return self._buffered

    @property
    def blocked(self) -> bool:
        """Whether the writer is waiting in ``send_all`` for room under :attr:`limit`."""
        return self._blocked

    def pause(self) -> None:
        """Stop the reading end: its ``receive_some`` waits, written bytes stay here, and
        once :attr:`limit` bytes are held the writer's ``send_all`` waits too (a slow
        consumer, or a peer that went silent)."""
        self._paused = True

    def resume(self) -> None:
        """Let the reading end read again."""
        self._paused = False
        self._changed.unpark_all()

    # -- for the stream ends and the transport (this module) ------------------------------

    def _room(self) -> int:
        if self._limit is None:
            return 1 << 62
        return self._limit - self._buffered

    def _check_writable(self) -> None:
        if self._writer_gone:
            raise trio.ClosedResourceError("this end of the transport is closed")
        if self._broken:
            raise trio.BrokenResourceError("the connection was cut")
        if self._reader_gone:
            raise trio.BrokenResourceError("the other end closed the connection")

    async def _write(self, data: bytes) -> None:
        """Put ``data`` in, waiting for room; raises as a socket's ``send_all`` would."""
        view = memoryview(data)
        while True:
            self._check_writable()
            room = self._room()
            if room > 0:
                piece = bytes(view[:room])
                view = view[room:]
                self._chunks.append((trio.current_time() + self._delay, piece))
                self._buffered += len(piece)
                self._changed.unpark_all()
                if not view:
                    return
            self._blocked = True
            try:
                await self._changed.park()
            finally:
                self._blocked = False

    async def _wait_writable(self) -> None:
        """Wait until a write would not wait (or would fail)."""
        while self._room() <= 0:
            self._check_writable()
            await self._changed.park()

    async def _read(self, max_bytes: int | None) -> bytes:
        """Take up to ``max_bytes`` readable bytes, waiting for some; b"" at the end."""
        while True:
            if self._reader_gone:
                raise trio.ClosedResourceError("this end of the transport is closed")
            if self._broken:
                raise trio.BrokenResourceError("the connection was cut")
            ready_at = self._chunks[0][0] if self._chunks else None
            if not self._paused and ready_at is not None and ready_at <= trio.current_time():
                return self._take(max_bytes)
            if ready_at is None and self._eof:
                return b""
            if self._paused or ready_at is None:
                await self._changed.park()
            else:
                with trio.move_on_at(ready_at):
                    await self._changed.park()

    def _take(self, max_bytes: int | None) -> bytes:
        now = trio.current_time()
        pieces: list[bytes] = []
        size = 0
        limit = max_bytes if max_bytes is not None else self._buffered
        while self._chunks and size < limit and self._chunks[0][0] <= now:
            when, data = self._chunks.popleft()
            if size + len(data) > limit:
                data, rest = data[: limit - size], data[limit - size :]
                self._chunks.appendleft((when, rest))
            pieces.append(data)
            size += len(data)
        self._buffered -= size
        self._changed.unpark_all()
        return b"".join(pieces)

    def _end_of_data(self) -> None:
        """The writing end sent its end of stream."""
        self._eof = True
        self._changed.unpark_all()

    def _writer_closed(self) -> None:
        """The writing end closed: the reader gets b"" after the bytes in flight."""
        self._writer_gone = True
        self._end_of_data()

    def _reader_closed(self) -> None:
        """The reading end closed: what it did not read is dropped, writes fail."""
        self._reader_gone = True
        self._drop()

    def _cut(self) -> None:
        """Break this direction: reads and writes fail from now on."""
        self._broken = True
        self._drop()

    def _drop(self) -> None:
        self._chunks.clear()
        self._buffered = 0
        self._changed.unpark_all()

    def _release(self) -> None:
        """Resume, no delay, and the bytes in flight readable now."""
        now = trio.current_time()
        self._delay = 0.0
        self._chunks = deque((min(when, now), data) for when, data in self._chunks)
        self.resume()


class MemoryStream(trio.abc.HalfCloseableStream):
    """One end of a :class:`Transport`: a ``trio.abc.HalfCloseableStream``.

    Attributes:
        transport: the transport it belongs to.
    """

    def __init__(self, transport: Transport, incoming: Pipe, outgoing: Pipe) -> None:
        self.transport = transport
        self._incoming = incoming
        self._outgoing = outgoing
        self._closed = False
        self._eof_sent = False
        self._sending = False
        self._receiving = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data``, waiting while the pipe holds ``limit`` bytes.

        Raises:
            trio.ClosedResourceError: this end is closed, or sent its end of stream.
            trio.BrokenResourceError: the connection was cut or the other end closed.
            trio.BusyResourceError: another task is sending on this end.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint()
            self._check_open()
            if self._eof_sent:
                raise trio.ClosedResourceError("this end already sent its end of stream")
            if data:
                await self._outgoing._write(bytes(data))
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        """Wait until ``send_all`` would not wait for room.

        Raises:
            trio.ClosedResourceError: this end is closed.
            trio.BusyResourceError: another task is sending on this end.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint()
            self._check_open()
            await self._outgoing._wait_writable()
        finally:
            self._sending = False

    async def send_eof(self) -> None:
        """Send the end of stream: the other end reads b"" after the bytes sent."""
        await trio.lowlevel.checkpoint()
        self._check_open()
        self._eof_sent = True
        self._outgoing._end_of_data()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Read at most ``max_bytes`` (all that is readable when ``None``).

        Returns:
            The bytes, or b"" once the other end sent its end of stream or closed.

        Raises:
            trio.ClosedResourceError: this end is closed.
            trio.BrokenResourceError: the connection was cut.
            trio.BusyResourceError: another task is receiving on this end.
            TypeError, ValueError: ``max_bytes`` is not an int >= 1.
        """
        check_int("max_bytes", max_bytes, 1, optional=True)
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this stream")
        self._receiving = True
        try:
            await trio.lowlevel.checkpoint()
            self._check_open()
            return await self._incoming._read(max_bytes)
        finally:
            self._receiving = False

    async def aclose(self) -> None:
        """Close this end: the other end reads b"" after what was sent, and its writes
        fail from now on. Tasks waiting on this end get ``trio.ClosedResourceError``."""
        if not self._closed:
            self._closed = True
            self._outgoing._writer_closed()
            self._incoming._reader_closed()
        await trio.lowlevel.checkpoint()

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("this end of the transport is closed")


class Transport:
    """An in-memory connection between a client and a server, with controls.

    ::

        import rawsock.testing

        transport = rawsock.testing.Transport(limit=1024)
        transport.to_client.pause()  # the client stops reading
        transport.to_server.delay = 0.5  # the client's bytes take half a second
        transport.cut()  # a connection reset: both ends see it

    Args:
        limit: bytes each direction holds before the writer waits (:attr:`Pipe.limit`).
        delay: seconds each write takes to arrive, both directions (:attr:`Pipe.delay`).

    Attributes:
        to_client: the pipe from the server to the client.
        to_server: the pipe from the client to the server.
        client: the client's end, a ``trio.abc.HalfCloseableStream``.
        server: the server's end.

    Raises:
        TypeError, ValueError: ``limit`` or ``delay`` is out of range or of the wrong type.
    """

    def __init__(self, *, limit: int | None = DEFAULT_LIMIT, delay: float = 0.0) -> None:
        self.to_client = Pipe(limit, delay)
        self.to_server = Pipe(limit, delay)
        self.client = MemoryStream(self, self.to_client, self.to_server)
        self.server = MemoryStream(self, self.to_server, self.to_client)
        self._cut = False

    @property
    def is_cut(self) -> bool:
        """Whether :meth:`cut` was called."""
        return self._cut

    def cut(self) -> None:
        """Break the connection abruptly, as a reset: bytes in flight are lost, and every
        read and write on either end raises ``trio.BrokenResourceError`` (a WebSocket sees
        code 1006). Closing an end still works."""
        self._cut = True
        self.to_client._cut()
        self.to_server._cut()

    def pause(self) -> None:
        """Pause both directions: the peers no longer hear each other, as when a network
        goes silent without a reset (what keepalive timeouts are for)."""
        self.to_client.pause()
        self.to_server.pause()

    def resume(self) -> None:
        """Resume both directions."""
        self.to_client.resume()
        self.to_server.resume()

    def release(self) -> None:
        """Resume both directions and drop their delays, the bytes in flight included
        (what the end of a :func:`rawsock.testing.connect` block does, so that the closing
        handshake is quick)."""
        self.to_client._release()
        self.to_server._release()
