"""The read side of one connection: the read baton, liveness, backpressure and keepalive.

Theory of operation
-------------------
A WebSocket must read its socket for two reasons: to deliver messages to the
application, and to stay alive (answer pings, notice the peer's close, see the keepalive's
pongs, RFC 6455 §5.5) while the application is busy elsewhere. The cheapest way to do
the first is to let ``receive()`` read the socket itself, as ``trio.SSLStream`` does:
bytes go from the socket through the core to the caller with no task switch. The
:class:`Reader` arbitrates between everyone who may read, and owns all the state of it.

Invariants:

1. **One reader at a time.** Whoever reads holds the *baton* (``_busy``). It feeds what
   it read to the connection (:meth:`ReadSink.feed`: the core parses, messages are
   queued, pongs matched), flushes the replies the core queued
   (:meth:`ReadSink.after_read`), and wakes every task parked for the read to end.
2. **The receiver reads first.** The application's receiver (at most one task inside
   ``receive()``, :meth:`enter`/:meth:`leave`) takes the baton whenever it is free and
   it needs bytes, and never waits for room in the receive budget: it is what makes room.
3. **Others read only when they must.** ``ping()``, ``aclose()`` and the keepalive wait
   for an answer with :meth:`read_until`: they read when the baton is free and the budget
   is not full, and park otherwise.
4. **At most one background task, and only when needed.** When no task has entered
   ``receive()`` for :data:`IDLE_GRACE` seconds (the ``GRACE`` timer), or a keepalive
   ping is due (the ``PING`` timer: a round of ``_keepalive.py``), the connection's
   background task starts (:mod:`rawsock._clock` runs the timers). It reads until a
   receiver shows up, the budget is full, a deferred failure waits for the queue to
   drain, or the connection closes, and then ends. An idle connection whose application
   waits in ``receive()`` has no task of its own besides that one.
5. **Backpressure.** When unconsumed messages reach ``receive_buffer``, the queue calls
   :meth:`pause`, and nobody but the receiver reads: TCP backpressure reaches the peer,
   nothing is dropped. The time spent so (:meth:`paused_time`) is ours, not the peer's:
   the keepalive does not count it against ``ping_timeout``.
6. **Violations after messages.** A protocol violation found behind queued messages is
   deferred (:meth:`defer_failure`): those messages are delivered first and the
   application may answer them; the failure runs instead of the next read (§7.1.7).
7. **Cancellation.** Only waiting for bytes (``receive_some``) and parking can be
   cancelled: a cancelled reader loses nothing, the bytes stay in the socket or the core.

The tests that pin this down are in ``tests/trio_layer/test_connection.py`` (liveness,
budget, cancellation, violations), ``test_keepalive.py`` and ``test_reader.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sized

import trio

from ._clock import GRACE, PING, LivenessClock, TimerSlot
from ._keepalive import keepalive_round
from ._read_sink import ReadSink

__all__ = ["IDLE_GRACE", "MAX_READ_SIZE", "READ_SIZE", "Reader"]

#: Bytes asked of the stream per read; doubled while reads come back full of large
#: frames, up to ``MAX_READ_SIZE``, so large messages take fewer reads.
READ_SIZE = 8 * 1024
MAX_READ_SIZE = 256 * 1024
#: A full read of at most this many frames grows the read size.
_FEW_FRAMES = 4
#: Seconds without a task in ``receive()`` before the background task starts reading.
IDLE_GRACE = 0.05

_INF = float("inf")
_TRANSPORT_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)


class Reader:
    """Everyone's way to read one connection's stream (see the module docstring).

    Args:
        stream: the stream to read.
        sink: the connection, which processes what is read.
        queue: the queue of received messages (only its length is looked at).
        clock: the timers and background tasks of the connection's owner.
        ping_interval: seconds between keepalive pings; ``None``: no keepalive.
        ping_timeout: seconds to wait for a keepalive pong; ``None``: forever.
        initial_data: bytes that came with the opening handshake, processed first.
        name: the background task's name.
    """

    __slots__ = (
        "_busy", "_clock", "_deferred", "_eof", "_grace_armed", "_grace_count", "_initial",
        "_name", "_next_ping", "_parked", "_paused_since", "_paused_total", "_ping_due",
        "_ping_interval", "_ping_timeout", "_queue", "_read_size", "_receive_count",
        "_receiving", "_running", "_scope", "_sink", "_slot", "_stopped", "_stream", "_task",
    )

    def __init__(
        self,
        stream: trio.abc.ReceiveStream,
        sink: ReadSink,
        queue: Sized,
        clock: LivenessClock,
        *,
        ping_interval: float | None,
        ping_timeout: float | None,
        initial_data: bytes = b"",
        name: str = "rawsock reader",
    ) -> None:
        self._stream = stream
        self._name = name  # the background task's
        self._sink = sink
        self._queue = queue  # the received messages (its length only)
        self._clock = clock  # the owner's timers and task spawner
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._initial = initial_data  # bytes from the handshake, read before the stream
        self._read_size = READ_SIZE  # bytes asked of the stream per read
        self._busy = False  # a task is reading (holds the baton)
        self._eof = False  # the stream ended or broke: no read will bring anything more
        self._receiving = False  # a task is inside receive()
        self._receive_count = 0  # times a receiver entered (the GRACE timer compares)
        # tasks waiting for a read to end or for room, made when first needed
        self._parked: trio.lowlevel.ParkingLot | None = None
        self._paused_since: float | None = None  # when the budget filled (None: not paused)
        self._paused_total = 0.0  # seconds paused before that
        # a failure to run instead of the next read (invariant 6)
        self._deferred: Callable[[], Awaitable[None]] | None = None
        self._stopped = False  # the connection closed: no more timers or background work
        self._running = False  # the background task is spawned and not finished
        self._task: trio.lowlevel.Task | None = None  # the background task while it runs
        self._scope: trio.CancelScope | None = None  # cancels it when the connection closes
        self._slot = TimerSlot(self)  # this reader's place in the clock
        self._ping_due = False  # the PING timer expired: the background task pings
        self._next_ping = _INF  # when the PING timer expires (inf: none pending)
        self._grace_armed = False  # a GRACE timer is pending
        self._grace_count = 0  # _receive_count when it was set
        now = trio.current_time()
        if ping_interval is not None:
            self._arm_ping(now + ping_interval)
        if initial_data:
            self._start_task()  # frames that came with the 101 are answered at once
        else:
            self._arm_grace(now)

    # -- the receiver ------------------------------------------------------------------

    def enter(self) -> None:
        """A task enters ``receive()``.

        Raises:
            trio.BusyResourceError: another task is already receiving.
        """
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this WebSocket")
        self._receiving = True
        self._receive_count += 1

    @property
    def receiving(self) -> bool:
        """Whether a task is inside ``receive()``."""
        return self._receiving

    def leave(self) -> None:
        """The receiving task leaves ``receive()``."""
        self._receiving = False
        if not (self._grace_armed or self._running or self._stopped):
            self._arm_grace(trio.current_time())

    def read_for_receiver(self) -> Awaitable[bool]:
        """Read once for the receiver, or wait for the read in progress to end (to be
        awaited: the read itself, without a coroutine of its own around it)."""
        return self._park(_INF) if self._busy else self._read(_INF)

    # -- everyone else -----------------------------------------------------------------

    async def read_until(self, done: Callable[[], bool], deadline: float = _INF) -> bool:
        """Read (or let others read) until ``done()`` holds, the stream ends or ``deadline``.

        Returns:
            Whether ``done()`` holds.
        """
        while not done():
            if self._eof:
                return False
            if self._busy or self._paused_since is not None:
                if not await self._park(deadline):
                    return False
            elif not await self._read(deadline):
                return False
        return True

    async def run_deferred(self) -> None:
        """Run the deferred failure now, if there is one (``aclose`` does)."""
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            await deferred()

    def defer_failure(self, fail: Callable[[], Awaitable[None]]) -> None:
        """Run ``fail()`` instead of the next read (invariant 6)."""
        self._deferred = fail

    # -- the receive budget ------------------------------------------------------------

    def pause(self) -> None:
        """The receive budget is full: only the receiver reads from now on."""
        if self._paused_since is None:
            self._paused_since = trio.current_time()

    def resume(self) -> None:
        """The receiver made room in the budget: everyone may read again."""
        since = self._paused_since
        if since is not None:
            self._paused_since = None
            self._paused_total += trio.current_time() - since
            self._wake()

    @property
    def ended(self) -> bool:
        """The connection closed, or the stream ended: nothing more will be read."""
        return self._stopped or self._eof

    def paused_time(self) -> float:
        """Seconds so far that reading stopped because the receive budget was full."""
        since = self._paused_since
        return self._paused_total + (0.0 if since is None else trio.current_time() - since)

    # -- closing -----------------------------------------------------------------------

    async def drain(self, max_bytes: int, done: Callable[[bytes | bytearray], bool]) -> None:
        """Read and drop what the peer still sends until it closes, ``done(data)`` says
        so, or ``max_bytes`` have come.

        For a connection we are closing while the peer may still be sending: closing a
        TCP socket with unread bytes makes the kernel reset the connection, and the
        peer may then lose the close frame before reading it.
        """
        while not self._eof and max_bytes > 0:
            if self._busy:
                await self._park(_INF)
                continue
            self._busy = True
            try:
                data = await self._stream.receive_some(MAX_READ_SIZE)
            except Exception:  # best effort on a connection given up: any error ends it
                data = b""
            finally:
                self._busy = False
                self._wake()
            if not data:
                self._eof = True
            elif done(data):
                return
            max_bytes -= len(data)

    def stop(self) -> None:
        """The connection is closed: no more timers, the background task ends."""
        if self._stopped:
            return
        self._stopped = True
        self._slot.target = None
        scope = self._scope
        if scope is not None and trio.lowlevel.current_task() is not self._task:
            scope.cancel()
        self._wake()

    # -- reading -----------------------------------------------------------------------

    async def _read(self, deadline: float) -> bool:
        """Read once and process it (holding the baton); False if ``deadline`` passed.

        Bytes that an earlier read left in the core (see ``ReadSink.has_unparsed_input``)
        are parsed first, without reading the socket.
        """
        deferred = self._deferred
        if deferred is not None:
            await trio.lowlevel.checkpoint_if_cancelled()  # (a receiver may not have)
            self._deferred = None
            await deferred()
            return True
        self._busy = True
        data: bytes | bytearray
        sink = self._sink
        try:
            if sink.has_unparsed_input:  # bytes read earlier, when the queue was full
                sink.feed_buffered()
                await trio.lowlevel.checkpoint()
            else:
                if self._initial:
                    await trio.lowlevel.checkpoint()  # (before taking them: nothing lost)
                    data, self._initial = self._initial, b""
                else:
                    try:
                        if deadline == _INF:
                            data = await self._stream.receive_some(self._read_size)
                        else:
                            with trio.move_on_at(deadline) as scope:
                                data = await self._stream.receive_some(self._read_size)
                            if scope.cancelled_caught:
                                return False
                    except _TRANSPORT_ERRORS as error:
                        self._eof = True
                        sink.transport_lost(error)
                        return True
                    if not data:
                        self._eof = True
                frames = sink.feed(data)
                # Larger reads only while they come back full of few, large frames: a read
                # full of tiny frames (empty ones, which make no event, included) is
                # processed without a pause, so it stays small and other connections wait
                # at most one small read's worth of parsing.
                size = self._read_size
                if len(data) == size and frames <= _FEW_FRAMES:
                    self._read_size = min(size * 2, MAX_READ_SIZE)
                elif size != READ_SIZE:
                    self._read_size = READ_SIZE
        finally:
            self._busy = False
            self._wake()
        if sink.replies_pending:
            await sink.after_read()
        return True

    async def _park(self, deadline: float) -> bool:
        """Wait for the read in progress to end, or for room; False if ``deadline`` passed."""
        lot = self._parked
        if lot is None:
            lot = self._parked = trio.lowlevel.ParkingLot()
        if deadline == _INF:
            await lot.park()
            return True
        with trio.move_on_at(deadline) as scope:
            await lot.park()
        return not scope.cancelled_caught

    def _wake(self) -> None:
        lot = self._parked
        if lot is not None and lot:
            lot.unpark_all()

    # -- timers and the background task ------------------------------------------------

    def _arm_grace(self, now: float) -> None:
        self._grace_armed = True
        self._grace_count = self._receive_count
        self._clock.call_at(now + IDLE_GRACE, self._slot, GRACE)

    def _arm_next_ping(self) -> None:
        if not self._stopped and self._ping_interval is not None:
            self._arm_ping(trio.current_time() + self._ping_interval)

    def _arm_ping(self, when: float) -> None:
        self._next_ping = when
        self._clock.call_at(when, self._slot, PING)

    def timer_expired(self, kind: int) -> None:
        """A timer expired (called by the clock; see ``rawsock._clock``)."""
        if kind == PING:
            if trio.current_time() < self._next_ping:
                return  # stale: the background task took that ping and set the next
            self._next_ping = _INF
            self._ping_due = True
            if not self._running:
                self._start_task()
            else:
                self._wake()
            return
        self._grace_armed = False
        if self._running or self._receiving:
            return  # someone reads; the receiver sets the timer again when it leaves
        if self._receive_count != self._grace_count:
            self._arm_grace(trio.current_time())  # received within the grace period
        elif self._may_read_in_background():
            self._start_task()

    async def background_failed(self, error: Exception) -> None:
        """A background task of this connection raised (see ``rawsock._clock``)."""
        await self._sink.background_failed(error)

    def _may_read_in_background(self) -> bool:
        return not (
            self._receiving
            or self._paused_since is not None
            or (self._deferred is not None and len(self._queue) > 0)
        )

    def _start_task(self) -> None:
        if self._stopped:
            return
        self._running = True
        self._clock.spawn(self._background, self._slot, name=self._name)

    async def _background(self) -> None:
        """The connection's background task: liveness reading and keepalive rounds."""
        self._task = trio.lowlevel.current_task()
        scope = self._scope = trio.CancelScope()
        try:
            with scope:
                while not self._stopped:
                    if self._ping_due or trio.current_time() >= self._next_ping:
                        self._ping_due = False
                        self._next_ping = _INF
                        if await keepalive_round(self, self._sink, self._ping_timeout):
                            self._arm_next_ping()
                    elif not self._may_read_in_background() or self._eof:
                        break
                    elif self._busy:
                        await self._park(self._next_ping)
                    else:
                        await self._read(self._next_ping)
        finally:
            self._running = False
            self._task = None
            self._scope = None
