"""One HTTP/2 stream as a ``trio.abc.Stream``: the transport of one WebSocket (RFC 8441 §5).

A :class:`WebSocket` runs over it exactly as over TCP: its frames are the DATA of the
stream, END_STREAM is the end of the stream (``receive_some`` returns ``b""``, as at a
TCP FIN), and a stream reset or a failure of the connection is a broken transport
(``trio.BrokenResourceError``, so the WebSocket ends with 1006).

Received data waits here until ``receive_some`` takes it; only then is its flow-control
window given back to the peer (RFC 9113 §5.2), so a stream holds at most
``STREAM_WINDOW`` bytes however slow its application is, and a slow stream never holds
up the others on the same connection. Sending waits for the peer's window, reading the
connection meanwhile (see ``_http2_connection.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from ._http2_limits import STREAM_WINDOW

if TYPE_CHECKING:
    from ._http2_connection import Header, HTTP2Connection

__all__ = ["HTTP2Stream"]

#: Consumed bytes given back in one WINDOW_UPDATE (fewer, smaller updates cost more).
_GIVE_BACK = STREAM_WINDOW // 8


class HTTP2Stream(trio.abc.HalfCloseableStream):
    """A stream of an :class:`HTTP2Connection`, opened by either side.

    Attributes:
        stream_id: the HTTP/2 stream identifier.
        headers: the request's headers (server) or the response's (client, once received).
        remote_ended: the peer ended its side (END_STREAM).
        reset_code: the error code of a RST_STREAM from the peer, once received.
        local_ended: our side is ended (END_STREAM sent or queued).
    """

    def __init__(self, connection: HTTP2Connection, stream_id: int, headers: list[Header]) -> None:
        self._connection = connection
        self.stream_id = stream_id
        self.headers = headers
        self.remote_ended = False
        self.reset_code: int | None = None
        self.local_ended = False
        #: Called once when the stream is closed (the client's pool uses it).
        self.on_close: Callable[[HTTP2Stream], Awaitable[None]] | None = None
        #: Asked when data is sent: whether it is the last (the WebSocket's close frame
        #: went with it), so that END_STREAM goes on its last DATA frame.
        self.is_last_data: Callable[[], bool] | None = None
        #: Where this stream's tasks wait while another reads the connection.
        self.lot = trio.lowlevel.ParkingLot()
        self._chunks: deque[bytes] = deque()
        self._consumed = 0  # bytes taken by receive_some, not yet given back
        self._closed = False
        self._sending = False

    # -- fed by the connection -----------------------------------------------------------

    def deliver(self, data: bytes, flow_controlled_length: int) -> None:
        """Keep received DATA; padding is given back at once (it is never consumed)."""
        if data:
            self._chunks.append(data)
        self._consumed += flow_controlled_length - len(data)

    @property
    def broken(self) -> bool:
        """Whether the stream was reset or its connection ended."""
        return self._broken() is not None

    def _broken(self) -> trio.BrokenResourceError | None:
        if self.reset_code is not None:
            return trio.BrokenResourceError(f"the peer reset the HTTP/2 stream ({self.reset_code})")
        if self._connection.failure is not None:
            error = trio.BrokenResourceError("the HTTP/2 connection ended")
            error.__cause__ = self._connection.failure
            return error
        return None

    # -- receiving -----------------------------------------------------------------------

    def _readable(self) -> bool:
        return bool(self._chunks) or self.remote_ended or self._broken() is not None or self._closed

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Data of the stream; ``b""`` once the peer ended it (END_STREAM).

        Raises:
            trio.BrokenResourceError: the stream was reset or the connection ended.
            trio.ClosedResourceError: this stream was closed.
        """
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._closed:
            raise trio.ClosedResourceError("the HTTP/2 stream is closed")
        waited = await self._connection.wait_for(self._readable, self.lot)
        if self._closed:
            raise trio.ClosedResourceError("the HTTP/2 stream is closed")
        if self._chunks:
            data = self._take(max_bytes)
            if self._consumed >= _GIVE_BACK and not self.remote_ended:
                self._connection.give_back(self.stream_id, self._consumed)
                self._consumed = 0
                await self._connection.flush(wait=False)
            elif not waited:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        broken = self._broken()
        if broken is not None and not self.remote_ended:
            raise broken
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return b""

    def _take(self, max_bytes: int | None) -> bytes:
        limit = max_bytes if max_bytes is not None else 1 << 62
        chunk = self._chunks.popleft()
        if len(chunk) > limit:
            self._chunks.appendleft(chunk[limit:])
            chunk = chunk[:limit]
        elif self._chunks and len(self._chunks[0]) + len(chunk) <= limit:
            parts = [chunk]
            size = len(chunk)
            while self._chunks and size + len(self._chunks[0]) <= limit:
                parts.append(self._chunks.popleft())
                size += len(parts[-1])
            chunk = b"".join(parts)
        self._consumed += len(chunk)
        return chunk

    # -- sending -------------------------------------------------------------------------

    def _writable(self) -> bool:
        return (
            self._connection.send_window(self.stream_id) > 0
            or self._broken() is not None
            or self._closed
        )

    def _check_sendable(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the HTTP/2 stream is closed")
        if self.local_ended:
            raise trio.ClosedResourceError("the HTTP/2 stream was ended (send_eof)")
        broken = self._broken()
        if broken is not None:
            raise broken

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data`` as DATA frames, as the peer's flow-control windows allow.

        Raises:
            trio.BrokenResourceError: the stream was reset or the connection ended.
            trio.ClosedResourceError: this stream was closed or ended.
            trio.BusyResourceError: another task is sending on this stream.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this HTTP/2 stream")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            connection = self._connection
            view = memoryview(data).cast("B")
            last = self.is_last_data is not None and self.is_last_data()
            if not view and (self.local_ended or not last):
                return  # (nothing to send: no empty DATA frame)
            while True:
                self._check_sendable()
                window = connection.send_window(self.stream_id)
                if window <= 0 and view:
                    await connection.flush()
                    await connection.wait_for(self._writable, self.lot)
                    continue
                end = last and len(view) <= window
                connection.send_data(self.stream_id, bytes(view[:window]), end=end)
                view = view[window:]
                if end:
                    self.local_ended = True
                if not view:
                    break
            await connection.flush()
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        """Return once the peer's window has room (or the stream is broken)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        await self._connection.wait_for(self._writable, self.lot)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def send_headers(self, headers: list[Header], *, end: bool = False) -> None:
        """Send a HEADERS frame (a response, on a server); ``end`` ends our side too.

        Raises:
            trio.BrokenResourceError: the stream was reset or the connection ended.
            trio.ClosedResourceError: this stream was closed or ended.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_sendable()
        self._connection.send_headers(self.stream_id, headers, end=end)
        self.local_ended = end
        await self._connection.flush()

    async def reset(self, error_code: int) -> None:
        """Close the stream with RST_STREAM ``error_code`` (RFC 9113 §6.4)."""
        await self._close(error_code)

    async def send_eof(self) -> None:
        """End our side of the stream (END_STREAM); receiving goes on."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self.local_ended:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        self._check_sendable()
        self.local_ended = True
        self._connection.half_close(self.stream_id)
        await self._connection.flush()

    async def aclose(self) -> None:
        """Close the stream: END_STREAM (and RST_STREAM NO_ERROR if the peer still sends)."""
        await self._close(None)

    async def _close(self, reset: int | None) -> None:
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        self._chunks.clear()
        self.lot.unpark_all()  # (a task waiting on this stream sees it closed)
        self._connection.end_stream(self, reset=reset)
        try:
            await self._connection.flush()
        finally:
            if self.on_close is not None:
                await self.on_close(self)
