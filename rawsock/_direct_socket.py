"""The server's sockets: Trio streams and listeners over standard-library sockets.

Theory of operation: a :class:`DirectSocketStream` does what ``trio.SocketStream`` over
a ``trio.socket`` does, with the same checkpoints, errors and socket options, in one
layer instead of three: each call tries the non-blocking system call at once and waits
with ``trio.lowlevel.wait_readable`` / ``wait_writable`` only when it would block.
Every call is a checkpoint (``checkpoint_if_cancelled`` before the system call, a
``cancel_shielded_checkpoint`` after one that succeeded at once, as trio's own sockets
do). Errors become stream errors as in trio: ``ClosedResourceError`` for a stream
closed here, ``BrokenResourceError`` for one the peer broke, ``BusyResourceError`` for
two tasks receiving (or sending) at once. Closing calls ``notify_closing`` first, so
that a task waiting on the socket wakes with ``ClosedResourceError``.

A server spends most of a short connection's time in these calls: the opening
handshake, the close frames and the close (``bench/PROFILE.md``). So the last write of
an operation that already passed a checkpoint (the 101 after reading the request, the
close frame before closing) can go out without another pass through the scheduler:
:func:`send_without_waiting` writes what the kernel takes at once, and the caller waits
in ``send_all`` only for the rest.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from typing import Any

import trio

__all__ = ["DirectSocketListener", "DirectSocketStream", "send_without_waiting"]

#: Bytes a receive asks for when the caller does not say.
DEFAULT_RECEIVE_SIZE = 65536
# Errors that mean the socket was closed here (as trio maps them).
_CLOSED_ERRNOS = frozenset({errno.EBADF, errno.ENOTSOCK})
# accept() errors about one connection that went away before it was accepted: skipped,
# as trio's SocketListener does.
_SKIPPED_ACCEPT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ECONNABORTED", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
                 "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH")
    if hasattr(errno, name)
)
_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)
_NOTSENT_LOWAT = 16 * 1024  # what trio.SocketStream sets: less data queued in the kernel


def _stream_error(error: OSError) -> trio.BrokenResourceError | trio.ClosedResourceError:
    if error.errno in _CLOSED_ERRNOS:
        return trio.ClosedResourceError("this socket was already closed")
    return trio.BrokenResourceError(f"socket connection broken: {error}")


class DirectSocketStream(trio.abc.HalfCloseableStream):
    """A connected socket as a Trio stream (see the module docstring).

    Args:
        sock: a connected stream socket; it is made non-blocking, and for TCP gets
            ``TCP_NODELAY`` and ``TCP_NOTSENT_LOWAT`` as with ``trio.SocketStream``.

    Attributes:
        socket: the standard-library socket, for what it tells (``getpeername()``,
            ``getsockname()``, ``family``); do not read or write it directly.
    """

    __slots__ = ("_receiving", "_sending", "_shut_down", "socket")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        if sock.family in _TCP_FAMILIES:
            # (a connection already reset refuses options; its first read says so)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
                lowat = getattr(socket, "TCP_NOTSENT_LOWAT", None)
                if lowat is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, lowat, _NOTSENT_LOWAT)
        self.socket = sock
        self._receiving = False
        self._sending = False
        self._shut_down = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Receive up to ``max_bytes`` (default 64 KiB); ``b""`` at end of stream."""
        if max_bytes is None:
            max_bytes = DEFAULT_RECEIVE_SIZE
        elif max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this stream")
        self._receiving = True
        sock = self.socket
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                data = sock.recv(max_bytes)
            except BlockingIOError:
                while True:
                    await trio.lowlevel.wait_readable(sock)
                    try:
                        return sock.recv(max_bytes)
                    except BlockingIOError:
                        pass
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        except OSError as error:
            raise _stream_error(error) from error
        finally:
            self._receiving = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of ``data``, waiting for room in the socket's buffer as needed."""
        if self._shut_down:
            raise trio.ClosedResourceError("can't send data after sending EOF")
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this stream")
        self._sending = True
        sock = self.socket
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            with memoryview(data) as view:
                if not view:
                    if sock.fileno() == -1:
                        raise trio.ClosedResourceError("socket was already closed")
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    return
                try:
                    sent = sock.send(view)
                except BlockingIOError:
                    sent = 0
                if sent == len(view):
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    return
                while sent < len(view):
                    await trio.lowlevel.wait_writable(sock)
                    try:
                        with view[sent:] as rest:
                            sent += sock.send(rest)
                    except BlockingIOError:
                        pass
        except OSError as error:
            raise _stream_error(error) from error
        finally:
            self._sending = False

    def send_nowait(self, data: bytes | bytearray | memoryview) -> int:
        """Send what the socket's buffer takes now, without waiting and without a
        checkpoint (for a caller whose operation already passed one).

        Returns:
            The number of bytes sent: 0 when the buffer is full.

        Raises:
            trio.ClosedResourceError: the stream was closed, or sent its EOF.
            trio.BrokenResourceError: the peer broke the connection.
            trio.BusyResourceError: another task is sending.
        """
        if self._shut_down:
            raise trio.ClosedResourceError("can't send data after sending EOF")
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this stream")
        if not data:
            return 0
        try:
            return self.socket.send(data)
        except BlockingIOError:
            return 0
        except OSError as error:
            raise _stream_error(error) from error

    async def wait_send_all_might_not_block(self) -> None:
        """Wait until the socket's send buffer has room."""
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this stream")
        if self.socket.fileno() == -1:
            raise trio.ClosedResourceError("socket was already closed")
        self._sending = True
        try:
            await trio.lowlevel.wait_writable(self.socket)
        finally:
            self._sending = False

    async def send_eof(self) -> None:
        """Shut down the sending direction (TCP FIN); a second call does nothing."""
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this stream")
        await trio.lowlevel.checkpoint()
        if self._shut_down:
            return
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError as error:
            raise _stream_error(error) from error
        self._shut_down = True

    async def aclose(self) -> None:
        """Close the socket (tasks waiting on it get ``ClosedResourceError``)."""
        sock = self.socket
        if sock.fileno() != -1:
            trio.lowlevel.notify_closing(sock)
            sock.close()
        await trio.lowlevel.checkpoint()

    def getsockopt(self, level: int, option: int, buffersize: int = 0) -> Any:
        """``socket.getsockopt`` on the underlying socket."""
        if buffersize:
            return self.socket.getsockopt(level, option, buffersize)
        return self.socket.getsockopt(level, option)

    def setsockopt(self, level: int, option: int, value: int | bytes) -> None:
        """``socket.setsockopt`` on the underlying socket."""
        self.socket.setsockopt(level, option, value)


def send_without_waiting(stream: trio.abc.Stream, data: bytes) -> int:
    """How many bytes of ``data`` went out at once, with no checkpoint: what the kernel
    took when ``stream`` is a :class:`DirectSocketStream`, and 0 for any other stream
    (the caller sends the rest with ``send_all``).

    Raises:
        trio.ClosedResourceError, trio.BrokenResourceError, trio.BusyResourceError: as
            :meth:`DirectSocketStream.send_nowait`.
    """
    if type(stream) is DirectSocketStream:
        return stream.send_nowait(data)
    return 0


class DirectSocketListener(trio.abc.Listener[DirectSocketStream]):
    """A listening socket whose connections are :class:`DirectSocketStream` objects.

    Args:
        sock: a bound socket on which ``listen()`` was called; it is made non-blocking.

    Attributes:
        socket: the standard-library listening socket (``getsockname()``...).
    """

    __slots__ = ("socket",)

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.socket = sock

    async def accept(self) -> DirectSocketStream:
        """The next connection.

        Raises:
            trio.ClosedResourceError: the listener was closed.
            OSError: accept() failed (``EMFILE`` and the like: the caller decides).
        """
        sock = self.socket
        if sock.fileno() == -1:
            raise trio.ClosedResourceError("the listener was closed")
        await trio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while True:
            try:
                connection, _ = sock.accept()
            except BlockingIOError:
                pass
            except OSError as error:
                if error.errno in _CLOSED_ERRNOS:
                    raise trio.ClosedResourceError("the listener was closed") from error
                if error.errno not in _SKIPPED_ACCEPT_ERRNOS:
                    raise
            else:
                if not waited:
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return DirectSocketStream(connection)
            await trio.lowlevel.wait_readable(sock)
            waited = True

    async def aclose(self) -> None:
        """Stop listening (a task waiting in :meth:`accept` gets ``ClosedResourceError``)."""
        sock = self.socket
        if sock.fileno() != -1:
            trio.lowlevel.notify_closing(sock)
            sock.close()
        await trio.lowlevel.checkpoint()
