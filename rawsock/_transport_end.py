"""How a connection's stream ends: the last frames written, then closed without a reset.

Theory of operation: closing a TCP socket while the peer's data is unread, or while more
of it arrives, makes the kernel reset the connection, and a peer that is still writing
then loses the close frame we just sent (RFC 6455 §7.1.1). So whenever we close before
the peer's close frame came (a failure, a closing handshake that timed out, a shutdown),
:meth:`TransportEnd.close` first keeps reading and dropping what arrives, bounded in
time and bytes, until the peer's end of stream or, on a server, the client's close
frame (which the core notices with ``Protocol.skim_for_close``). It does not half-close
first: asyncio-based peers close their transport when they see our end of stream, and
then fail the writes they still had to do instead of reading the close frame.
"""

from __future__ import annotations

import trio

from ._direct_socket import send_without_waiting
from ._reader import Reader
from ._write_lock import WriteLock
from .sansio._protocol import Protocol, Role

__all__ = ["LINGER_BYTES", "LINGER_TIME", "TransportEnd"]

#: Before closing, at most these seconds and bytes spent reading what the peer still
#: sends, so that the close frame is not lost to a TCP reset (§7.1.1).
LINGER_TIME = 2.0
LINGER_BYTES = 64 * 1024 * 1024


def _never(data: bytes | bytearray) -> bool:
    return False


class TransportEnd:
    """Closes one connection's stream, once (see the module docstring).

    Args:
        stream: the transport.
        protocol: the core, which holds the last frames to write.
        lock: the connection's write lock (a write in progress finishes first).
        reader: the read side, which reads while we linger.
        close_timeout: seconds for writing the last frames and lingering.
    """

    __slots__ = ("_close_timeout", "_lock", "_protocol", "_reader", "_stream", "closed")

    def __init__(
        self,
        stream: trio.abc.Stream,
        protocol: Protocol,
        lock: WriteLock,
        reader: Reader,
        close_timeout: float,
    ) -> None:
        self._stream = stream
        self._protocol = protocol
        self._lock = lock
        self._reader = reader
        self._close_timeout = close_timeout
        #: The stream is closed, or being closed.
        self.closed = False

    async def abort(self) -> None:
        """Close the stream at once, without waiting for anything (also when cancelled)."""
        if not self.closed:
            self.closed = True
            await trio.aclose_forcefully(self._stream)

    async def close(self) -> None:
        """Write what the core still holds (a close frame), linger if the peer may still
        be sending, then close the stream.

        Waits for a write in progress to finish (it may be the close frame itself); all
        of it within ``close_timeout``. Closes the stream in any case, also when
        cancelled.
        """
        if self.closed:
            return
        self.closed = True
        stream = self._stream
        protocol = self._protocol
        data: bytes | memoryview | None = None
        if (protocol.close_frame_received or protocol.eof_received) and not self._lock.locked:
            # The common end of a clean close: the peer's close frame is here, nobody is
            # writing, and the kernel takes our last frame at once. Then closing is one
            # pass through the scheduler, with no deadline to set. (From here until the
            # lock is taken below, nothing awaits: no other writer can come in between.)
            try:
                data = protocol.data_to_send()
                sent = send_without_waiting(stream, data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await trio.aclose_forcefully(stream)
                return
            if sent == len(data):
                await stream.aclose()
                return
            data = memoryview(data)[sent:]
        done = False
        try:
            with trio.move_on_after(self._close_timeout):
                async with self._lock:
                    if data is None:
                        data = protocol.data_to_send()
                    if data:
                        await stream.send_all(data)
                    if not protocol.close_frame_received and not protocol.eof_received:
                        await self._linger()  # the peer may still be sending
                    await stream.aclose()
                    done = True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            if not done:  # (aclose_forcefully costs two passes through the scheduler)
                await trio.aclose_forcefully(stream)

    async def _linger(self) -> None:
        """Read and drop until the peer closes or answers, for at most ``LINGER_TIME``
        seconds and ``LINGER_BYTES``."""
        protocol = self._protocol
        if protocol.role is Role.SERVER:
            # Once its close frame is here, the client sends nothing more and waits for
            # us to close TCP (§7.1.1).
            done = protocol.skim_for_close
            if done(b""):  # the answer is already here
                return
        else:
            done = _never  # a server closes TCP itself after its close frame
        with trio.move_on_after(LINGER_TIME):
            await self._reader.drain(LINGER_BYTES, done)
