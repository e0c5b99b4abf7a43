"""The write side of one connection: frames never interleave (RFC 6455 §5.4).

Two locks, both :class:`~rawsock._write_lock.WriteLock` (free to take, FIFO to wait):
the *writers'* lock is held for each write to the stream, so bytes of two frames never
mix; the *message* lock is held for a whole data message, so the fragments of a
streamed message are not interleaved with another data message, while control frames
(pings, pongs, a close), which take only the writers' lock, still go out between them
(§5.4: "control frames MAY be injected in the middle of a fragmented message").

A write cancelled or failed in the middle may have put part of a frame on the wire,
which can never be completed: the connection is then aborted (``Endpoint.abort``).
Replies the core queued on its own (pongs, close echoes) are written shielded from
cancellation once taken from the outbox, within ``close_timeout``, so cancelling a
receiver cannot lose them or cut them in half.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol as TypingProtocol

import trio

from ._direct_socket import DirectSocketStream
from ._write_lock import WriteLock
from .sansio._errors import ConnectionClosed
from .sansio._protocol import Protocol, Role, State

__all__ = ["Writer"]

_TRANSPORT_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)


class Endpoint(TypingProtocol):
    """What the writer needs from its connection."""

    def closed_error(self) -> ConnectionClosed | None:
        """A fresh ``ConnectionClosed`` once the connection is closed, else ``None``."""

    def closing_error(self) -> ConnectionClosed:
        """The ``ConnectionClosed`` for a send on a connection that is not open."""

    def transport_lost(self, error: BaseException) -> None:
        """A write failed because the transport broke or was closed."""

    async def abort(self) -> None:
        """Close the transport at once (a frame may be cut)."""


class Writer:
    """Writes one connection's frames (see the module docstring).

    Args:
        stream: the stream to write.
        protocol: the core, which encodes the frames.
        endpoint: the connection.
        close_timeout: the bound on writing the core's own replies.
    """

    __slots__ = (
        "_close_timeout", "_direct", "_endpoint", "_lock", "_message_lock", "_protocol", "_stream",
    )

    def __init__(
        self,
        stream: trio.abc.SendStream,
        protocol: Protocol,
        endpoint: Endpoint,
        close_timeout: float,
    ) -> None:
        self._stream = stream
        # A server's socket, which can write without a checkpoint of its own.
        self._direct = stream if type(stream) is DirectSocketStream else None
        self._protocol = protocol
        self._endpoint = endpoint
        self._close_timeout = close_timeout
        self._lock = WriteLock()  # one writer on the stream at a time
        self._message_lock = WriteLock()  # one data message (maybe fragmented) at a time

    @property
    def lock(self) -> WriteLock:
        """The writers' lock (held for each write)."""
        return self._lock

    @property
    def message_lock(self) -> WriteLock:
        """The data messages' lock (held for a whole message)."""
        return self._message_lock

    async def send_data(
        self, message: str | bytes | bytearray | memoryview, compress: bool | None
    ) -> None:
        """Write one whole data message (``WebSocket.send``), as :meth:`send_message` does.

        When neither lock is held, the common case, both are taken at once after one
        cancellation point, and a server's socket is written directly: the same
        checkpoints as ``send_all`` (a cancellation point before anything is encoded, a
        schedule point after), without the locks' and the stream's duplicates.
        """
        protocol = self._protocol
        message_lock = self._message_lock
        lock = self._lock
        if message_lock.locked or lock.locked:

            def encode() -> bytes:
                protocol.send(message, compress=compress)
                return protocol.data_to_send()

            await self.send_message(encode)
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        message_lock.acquire_nowait()  # (free: nothing ran since they were checked)
        lock.acquire_nowait()
        try:
            if protocol.state is not State.OPEN:
                raise self._endpoint.closing_error()
            protocol.send(message, compress=compress)
            buffers = protocol.buffers_to_send()
            if len(buffers) == 1:
                data = buffers[0]
                direct = self._direct
                if direct is None:
                    await self.write(data)
                    return
                sent = self._send_now(direct, data)
                if sent == len(data):
                    await trio.lowlevel.cancel_shielded_checkpoint()
                else:
                    with memoryview(data) as view, view[sent:] as rest:
                        await self.write(rest)
            else:  # a large payload, apart from its header
                for buffer in buffers:
                    await self.write(buffer)
        finally:
            lock.release()
            message_lock.release()

    def _send_now(self, stream: DirectSocketStream, data: bytes | bytearray) -> int:
        """Write what the socket takes at once; the bytes written (as :meth:`write`
        on failure)."""
        try:
            return stream.send_nowait(data)
        except _TRANSPORT_ERRORS as error:
            self._endpoint.transport_lost(error)
            closed = self._endpoint.closed_error()
            assert closed is not None
            raise closed from error

    async def send_message(self, encode: Callable[[], bytes]) -> None:
        """Write a data message: ``encode()`` runs holding both locks, once OPEN is checked."""
        message_lock = self._message_lock
        await message_lock.acquire()
        try:
            await self.send_fragment(encode)
        finally:
            message_lock.release()

    async def send_fragment(self, encode: Callable[[], bytes]) -> None:
        """Write what ``encode()`` returns, holding the writers' lock, if still OPEN.

        Raises:
            ConnectionClosed: the connection is not open.
        """
        lock = self._lock
        await lock.acquire()
        try:
            if self._protocol.state is not State.OPEN:
                raise self._endpoint.closing_error()
            await self.write(encode())
        finally:
            lock.release()

    async def send_frame(self, frame: bytes) -> None:
        """Write one complete, already encoded data frame (for ``Broadcaster``)."""
        protocol = self._protocol
        await self.send_message(lambda: protocol.data_to_send() + frame)

    def sharing_key(self) -> tuple[int, ...] | None:
        """What makes two connections' frames identical (``()``: plain), or None if unique."""
        protocol = self._protocol
        if protocol.role is Role.CLIENT:
            return None  # every client frame has its own mask
        deflate = protocol.deflate
        if deflate is None:
            return ()
        if not deflate.parameters.server_no_context_takeover:
            return None  # each compressor carries its own history
        return (*deflate.send_settings, deflate.threshold)

    async def write(
        self, data: bytes | bytearray | memoryview, *, raise_closed: bool = True
    ) -> None:
        """Write ``data`` (the caller holds the writers' lock).

        Raises:
            ConnectionClosed: the transport broke (unless ``raise_closed`` is false).
        """
        try:
            await self._stream.send_all(data)
        except _TRANSPORT_ERRORS as error:
            self._endpoint.transport_lost(error)
            if raise_closed:
                closed = self._endpoint.closed_error()
                assert closed is not None
                raise closed from error
        except BaseException:
            # Cancelled (or worse) in the middle of send_all: part of a frame may be on
            # the wire and can never be completed, so this stream must not be used again.
            await self._endpoint.abort()
            raise

    async def flush_replies(self) -> None:
        """Write what the core queued by itself (pongs, close replies); see module doc."""
        async with self._lock:
            data = self._protocol.data_to_send()
            if not data:
                return
            # Shielded from the caller's cancellation, bounded by its own deadline.
            deadline = trio.current_time() + self._close_timeout
            with trio.CancelScope(shield=True, deadline=deadline) as scope:
                await self.write(data, raise_closed=False)
            if scope.cancelled_caught:  # the peer reads nothing at all
                await self._endpoint.abort()
