"""One HTTP/2 connection (RFC 9113) that carries WebSockets (RFC 8441), over h2.

Theory of operation
-------------------
h2 is sans-I/O, like rawsock's own core: it turns received bytes into events and
queues the bytes to send. This class adds the I/O, the way a :class:`WebSocket` does
(see ``_reader.py``): *whoever waits reads*. A task that needs something from the peer
(a stream's data, flow-control credit to send, a response, a new request) calls
:meth:`HTTP2Connection.wait_for`; if no other task is reading, it takes the read baton
(``_reading``) and reads, dispatching every event to its stream, until what it waits
for has come; the tasks waiting meanwhile are woken after each read to look again, and
one of them takes the baton when its holder leaves. Nothing reads when nobody waits,
so there is no task per connection.

Writes are h2's queue, sent by whoever holds the write lock, in a loop until the queue
is empty, so frames queued by others while it sends go out in the same pass and a
reader never waits for a writer (:meth:`flush` with ``wait=False``). The transport is
shared by every stream, so a write is never interrupted halfway (that would break the
TLS stream for all of them): it runs shielded from cancellation, bounded by
``WRITE_STALL_TIMEOUT``, after which the connection fails.

Flow control is the backpressure (RFC 9113 §5.2): a stream's window is given back only
as its application consumes the data (``HTTP2Stream.receive_some``), so a slow stream
stops its own peer, while the connection's window is given back as data arrives, so it
never stalls the other streams. A GOAWAY is handled here rather than by h2 (see
``_http2_frames.py``): the streams it does not cancel run to their end.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import cast

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import trio
from h2.errors import ErrorCodes

from ._http2_errors import ConnectionFailed, TransportBroken, stream_errors
from ._http2_frames import CLIENT_PREFACE, FrameSplitter, GoAway, encode_goaway
from ._http2_limits import (
    CONNECTION_WINDOW,
    HEADER_TABLE_SIZE,
    MAX_CONCURRENT_STREAMS,
    READ_SIZE,
    STREAM_WINDOW,
    WRITE_STALL_TIMEOUT,
    FloodGuard,
)
from ._http2_stream import HTTP2Stream

__all__ = ["HTTP2Connection", "Header"]

Header = tuple[bytes, bytes]
_DEFAULT_WINDOW = 65535
_SETTING = h2.settings.SettingCodes


class HTTP2Connection:
    """One HTTP/2 connection over ``transport`` (TLS with ALPN ``h2``), either role.

    Args:
        transport: the connected stream; this object closes it.
        client: the client role (else the server's, which offers extended CONNECT).
        max_header_list_size: the largest header list accepted, in bytes.
    """

    def __init__(
        self, transport: trio.abc.Stream, *, client: bool, max_header_list_size: int
    ) -> None:
        self.transport = transport
        self.client = client
        # A server checks requests itself (``_http2_request.py``), so that a malformed
        # one is a stream error (RFC 9113 §8.1.1), which h2 would make a connection error.
        config = h2.config.H2Configuration(
            client_side=client, header_encoding=None, validate_inbound_headers=client
        )
        self._h2 = h2.connection.H2Connection(config)
        values = {
            _SETTING.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
            _SETTING.HEADER_TABLE_SIZE: HEADER_TABLE_SIZE,
            _SETTING.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            _SETTING.MAX_HEADER_LIST_SIZE: max_header_list_size,
        }
        if client:
            values[_SETTING.ENABLE_PUSH] = 0
        else:
            values[_SETTING.ENABLE_CONNECT_PROTOCOL] = 1
        self._h2.local_settings = h2.settings.Settings(client=client, initial_values=values)
        self._h2.decoder.max_header_list_size = max_header_list_size
        self._splitter = FrameSplitter(0 if client else len(CLIENT_PREFACE))
        now = trio.current_time()
        self._floods = FloodGuard(now)
        self.streams: dict[int, HTTP2Stream] = {}
        #: Requests received and not yet taken by :meth:`next_request` (server).
        self.incoming: deque[HTTP2Stream] = deque()
        #: Why the connection ended, once it has.
        self.failure: ConnectionFailed | None = None
        #: The peer's GOAWAY, once received.
        self.goaway_received: GoAway | None = None
        #: The last stream we still serve after our GOAWAY, once sent.
        self.goaway_sent: int | None = None
        self.settings_received = False
        #: When the last stream closed (``trio.current_time()``); ``None`` while any is open.
        self.idle_since: float | None = now
        self._reading = trio.Lock()
        self._progress = trio.lowlevel.ParkingLot()
        self._writing = trio.Lock()
        self._read_scope = trio.CancelScope()
        self._closed = False

    # -- starting and waiting ------------------------------------------------------------

    async def start(self) -> None:
        """Send the preface and our SETTINGS, and open the connection's window."""
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(CONNECTION_WINDOW - _DEFAULT_WINDOW)
        await self.flush()

    @property
    def remote_settings(self) -> h2.settings.Settings:
        """The peer's SETTINGS (RFC 9113 §6.5.2)."""
        return self._h2.remote_settings

    @property
    def accepting_streams(self) -> bool:
        """Whether new streams may still be opened on this connection."""
        return self.failure is None and self.goaway_received is None and not self._closed

    async def wait_for(
        self, ready: Callable[[], bool], lot: trio.lowlevel.ParkingLot | None = None
    ) -> bool:
        """Return once ``ready()`` or the connection failed, reading when nobody else
        does (see the module docstring).

        Args:
            ready: the condition.
            lot: where to wait while another task reads: a stream's own (woken by what
                concerns that stream), or the connection's (new requests, settings).

        Returns:
            Whether it waited (it is not a checkpoint when ``ready()`` already is).
        """
        waited = False
        lot = lot if lot is not None else self._progress
        while not ready() and self.failure is None:
            waited = True
            if self._reading.locked():
                await lot.park()
                continue
            await self._reading.acquire()
            try:
                # (one scope for the whole turn: wake() interrupts the read in it)
                with trio.CancelScope() as self._read_scope:
                    while not ready() and self.failure is None:
                        self._receive(await self.transport.receive_some(READ_SIZE))
                        await self.flush(wait=False)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
                self.fail(error)
            finally:
                self._reading.release()
                self._hand_off()
        if waited and not self._reading.locked():
            self._hand_off()  # (woken to take the baton, it does not need it: pass it on)
        return waited

    def _hand_off(self) -> None:
        """Wake one task waiting in :meth:`wait_for`, to take the read baton: a stream's
        first, the connection's (which waits for new requests) last."""
        for stream in self.streams.values():
            if stream.lot:  # (a task waits in it)
                stream.lot.unpark()
                return
        self._progress.unpark()

    def wake(self) -> None:
        """Make the tasks waiting in :meth:`wait_for` look at their condition again,
        the reader too (its read is interrupted: a TLS read is safe to interrupt)."""
        self._wake_all()
        self._read_scope.cancel()

    def _wake_all(self) -> None:
        self._progress.unpark_all()
        for stream in self.streams.values():
            stream.lot.unpark_all()

    # -- receiving -----------------------------------------------------------------------

    def _receive(self, data: bytes | bytearray) -> None:
        if not data:
            self.fail(ConnectionFailed("the peer closed the HTTP/2 connection"))
            return
        passed, goaways = self._splitter.feed(data)
        if not self._floods.admits(trio.current_time(), *self._splitter.take_counts()):
            self._calm_down()
            return
        try:
            events = self._h2.receive_data(passed) if passed else []
        except h2.exceptions.ProtocolError as error:  # h2 has queued its GOAWAY
            self.fail(ConnectionFailed(f"HTTP/2 protocol error from the peer: {error}"))
            return
        for event in events:
            self._dispatch(event)
        for goaway in goaways:
            self._goaway(goaway)
        if self._h2.inbound_flow_control_window < CONNECTION_WINDOW // 2:
            self._h2.increment_flow_control_window(
                CONNECTION_WINDOW - self._h2.inbound_flow_control_window
            )

    def _dispatch(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            assert event.stream_id is not None and event.headers is not None
            self._request(event.stream_id, _headers(event.headers))
            self._progress.unpark_all()
            return
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_received = True
            self._wake_all()  # (windows and limits may have changed)
            return
        if isinstance(event, h2.events.ConnectionTerminated):  # (h2's own, after an error)
            self.fail(ConnectionFailed(f"the peer ended the connection ({event.error_code!r})"))
            return
        stream_id = getattr(event, "stream_id", None)
        if not stream_id:  # (the connection's window grew: every sender may go on)
            if isinstance(event, h2.events.WindowUpdated):
                self._wake_all()
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        if isinstance(event, h2.events.DataReceived):
            stream.deliver(event.data, event.flow_controlled_length)
        elif isinstance(event, h2.events.ResponseReceived) and event.headers is not None:
            stream.headers = _headers(event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            stream.remote_ended = True
        elif isinstance(event, h2.events.StreamReset):
            stream.reset_code = int(event.error_code or 0)
        elif not isinstance(event, h2.events.WindowUpdated):
            return
        stream.lot.unpark_all()

    def _request(self, stream_id: int, headers: list[Header]) -> None:
        if self.goaway_sent is not None and stream_id > self.goaway_sent:
            self._h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        stream = HTTP2Stream(self, stream_id, headers)
        self.streams[stream_id] = stream
        self.idle_since = None
        self.incoming.append(stream)

    def _goaway(self, goaway: GoAway) -> None:
        self.goaway_received = goaway
        if goaway.error_code != ErrorCodes.NO_ERROR:
            self.fail(ConnectionFailed(f"the peer sent GOAWAY with error {goaway.error_code}"))
            return
        for stream_id, stream in list(self.streams.items()):
            if self.client and stream_id > goaway.last_stream_id:
                stream.reset_code = ErrorCodes.REFUSED_STREAM
        self._wake_all()

    def _calm_down(self) -> None:
        """The peer sent too many control frames or resets: GOAWAY, and fail."""
        self._h2.close_connection(ErrorCodes.ENHANCE_YOUR_CALM)
        self.fail(ConnectionFailed("the peer sent too many control frames or stream resets"))

    def fail(self, error: BaseException) -> None:
        """End the connection: every stream breaks with ``error`` as the cause."""
        if self.failure is None:
            failure = ConnectionFailed(str(error) or type(error).__name__)
            failure.__cause__ = error
            self.failure = failure
        self._wake_all()

    # -- sending -------------------------------------------------------------------------

    async def flush(self, *, wait: bool = True) -> None:
        """Send what h2 has queued (see the module docstring). With ``wait=False``, return
        at once when a write is in progress: its writer sends this too."""
        if self._writing.locked():
            if not wait:
                return
            await self._writing.acquire()
        else:
            self._writing.acquire_nowait()
        try:
            await self._send_queued()
        finally:
            self._writing.release()

    async def _send_queued(self, extra: bytes = b"") -> None:
        while data := self._h2.data_to_send() + extra:
            extra = b""
            if self._closed or isinstance(self.failure, TransportBroken):
                return
            deadline = trio.current_time() + WRITE_STALL_TIMEOUT
            with trio.CancelScope(shield=True, deadline=deadline) as stall:
                try:
                    await self.transport.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
                    self.fail(TransportBroken(str(error)))
                    return
            if stall.cancelled_caught:
                self.fail(TransportBroken("the peer read nothing for WRITE_STALL_TIMEOUT"))
                return

    def send_headers(self, stream_id: int, headers: Sequence[Header], *, end: bool = False) -> None:
        """Queue a HEADERS frame (call :meth:`flush` after).

        Raises:
            trio.BrokenResourceError: the stream was reset or the connection ended.
        """
        with stream_errors():
            self._h2.send_headers(stream_id, list(headers), end_stream=end)

    def send_window(self, stream_id: int) -> int:
        """The bytes that may be sent on ``stream_id`` now (stream and connection windows)."""
        try:
            window = self._h2.local_flow_control_window(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            return 0
        return min(window, self._h2.max_outbound_frame_size)

    def send_data(self, stream_id: int, data: bytes, *, end: bool = False) -> None:
        """Queue a DATA frame within the window (call :meth:`flush` after).

        Raises:
            trio.BrokenResourceError: the stream was reset or the connection ended.
        """
        with stream_errors():
            self._h2.send_data(stream_id, data, end_stream=end)

    def half_close(self, stream_id: int) -> None:
        """Queue END_STREAM on ``stream_id`` (call :meth:`flush` after).

        Raises:
            trio.BrokenResourceError: the stream was reset or the connection ended.
        """
        with stream_errors():
            self._h2.end_stream(stream_id)

    def give_back(self, stream_id: int, count: int) -> None:
        """Reopen ``count`` bytes of ``stream_id``'s window (its data was consumed)."""
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self._h2.increment_flow_control_window(count, stream_id=stream_id)

    def end_stream(self, stream: HTTP2Stream, *, reset: int | None = None) -> None:
        """Queue the end of ``stream`` (END_STREAM, or RST_STREAM with ``reset``) and forget it."""
        self.streams.pop(stream.stream_id, None)
        if not self.streams:
            self.idle_since = trio.current_time()
        if self.failure is not None or self._closed:
            return
        try:
            if reset is not None:
                self._h2.reset_stream(stream.stream_id, reset)
            else:
                if not stream.local_ended:
                    self._h2.end_stream(stream.stream_id)
                if not stream.remote_ended:  # the peer may stop sending (RFC 9113 §8.1)
                    self._h2.reset_stream(stream.stream_id, ErrorCodes.NO_ERROR)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass
        self._progress.unpark_all()
        if self._finished():
            self.wake()

    def open_stream(self, headers: Sequence[Header]) -> HTTP2Stream:
        """Open a stream with a request (client); call :meth:`flush` after.

        Raises:
            ConnectionFailed: the connection cannot open more streams.
        """
        if not self.accepting_streams:
            raise self.failure or ConnectionFailed("the HTTP/2 connection is closing")
        stream_id = self._h2.get_next_available_stream_id()
        stream = HTTP2Stream(self, stream_id, [])
        self.streams[stream_id] = stream
        self.idle_since = None
        self._h2.send_headers(stream_id, list(headers))
        return stream

    def has_room(self) -> bool:
        """Whether the peer lets one more stream be opened now."""
        limit = self._h2.remote_settings.max_concurrent_streams
        return self._h2.open_outbound_streams < limit

    async def next_request(self) -> HTTP2Stream | None:
        """The next request (server); ``None`` once the connection is done."""
        await self.wait_for(lambda: bool(self.incoming) or self._finished())
        return self.incoming.popleft() if self.incoming and self.failure is None else None

    def _finished(self) -> bool:
        ended = self.goaway_sent is not None or self.goaway_received is not None
        return self._closed or (ended and not self.streams)

    # -- ending --------------------------------------------------------------------------

    async def goaway(self) -> None:
        """Refuse new streams, keep serving the open ones (RFC 9113 §6.8), on a server."""
        if self.goaway_sent is not None or self.failure is not None:
            await trio.lowlevel.checkpoint()
            return
        self.goaway_sent = self._h2.highest_inbound_stream_id
        await self._writing.acquire()
        try:
            await self._send_queued(encode_goaway(self.goaway_sent))
        finally:
            self._writing.release()
        self.wake()

    async def aclose(self) -> None:
        """GOAWAY (unless the connection failed first), then close the transport."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        broken = isinstance(self.failure, TransportBroken)
        try:
            if not broken:
                if self.goaway_sent is None:  # (a second GOAWAY could not name fewer streams)
                    with contextlib.suppress(h2.exceptions.ProtocolError):
                        self._h2.close_connection()
                with trio.move_on_after(1.0):
                    await self.flush()
        finally:
            self._closed = True
            self.fail(ConnectionFailed("the HTTP/2 connection is closed"))
            if broken:
                await trio.aclose_forcefully(self.transport)
            else:  # TLS's close_notify, then the socket (forcefully if it takes long)
                with trio.move_on_after(1.0):
                    await self.transport.aclose()
                await trio.aclose_forcefully(self.transport)


def _headers(headers: Sequence[tuple[bytes | str, bytes | str]]) -> list[Header]:
    """An event's header list: bytes already (``header_encoding=None``)."""
    return cast("list[Header]", list(headers))
