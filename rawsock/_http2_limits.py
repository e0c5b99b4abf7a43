"""What an HTTP/2 peer may make rawsock hold or do, bounded (RFC 9113 §6.5.2, §10.5).

Every size and count an HTTP/2 peer controls has a limit here, each advertised in our
SETTINGS where the protocol has a setting for it, and enforced where it has none:

- concurrent streams: ``MAX_CONCURRENT_STREAMS`` (SETTINGS_MAX_CONCURRENT_STREAMS); a
  peer opening more is a connection error (h2 answers GOAWAY);
- one header list: the server's ``max_header_size`` option, 16 KiB by default
  (SETTINGS_MAX_HEADER_LIST_SIZE, enforced by the HPACK decoder), in at most 64
  CONTINUATION frames (h2's own bound);
- the HPACK dynamic table: ``HEADER_TABLE_SIZE`` (SETTINGS_HEADER_TABLE_SIZE);
- received data: ``STREAM_WINDOW`` per stream (SETTINGS_INITIAL_WINDOW_SIZE), given back
  only as the application consumes it, so a stream buffers at most that much, and
  ``CONNECTION_WINDOW`` for the connection, given back as data arrives (a slow stream
  never stalls the others); frames of at most 16 KiB (SETTINGS_MAX_FRAME_SIZE);
- frames that cost work but carry nothing for the application (PING, SETTINGS,
  PRIORITY, empty DATA), and streams the peer resets (RST_STREAM: the "rapid reset"
  attack, CVE-2023-44487): a :class:`RateBudget` each; a peer that exceeds one gets
  GOAWAY with ENHANCE_YOUR_CALM and the connection closes. (WINDOW_UPDATE is not
  counted: a peer sends one per few KiB it reads, and h2 handles it in constant time.)

h2 makes two of these connection errors where RFC 9113 allows a stream error: a HEADERS
frame beyond the concurrent-stream limit (h2 refuses it before decoding its header
block, which leaves the HPACK state unusable) and a header list over the limit; the
connection then ends with GOAWAY, and its other WebSockets with 1006.
"""

from __future__ import annotations

__all__ = [
    "CONNECTION_WINDOW",
    "CONTROL_FRAMES",
    "HEADER_TABLE_SIZE",
    "MAX_CONCURRENT_STREAMS",
    "MAX_RESPONSE_BODY",
    "PEER_RESETS",
    "READ_SIZE",
    "STREAM_WINDOW",
    "WRITE_STALL_TIMEOUT",
    "FloodGuard",
    "RateBudget",
]

#: Streams a peer may have open at once on one connection.
MAX_CONCURRENT_STREAMS = 100
#: Bytes of the HPACK dynamic table the peer's encoder may use.
HEADER_TABLE_SIZE = 4096
#: Bytes a peer may send on one stream before the application consumes them.
STREAM_WINDOW = 256 * 1024
#: Bytes a peer may send on the whole connection before we acknowledge their arrival.
CONNECTION_WINDOW = 4 * 1024 * 1024
#: Bytes read from the transport at a time.
READ_SIZE = 64 * 1024
#: The most bytes of a refusal's body a client keeps (the rest is dropped).
MAX_RESPONSE_BODY = 64 * 1024
#: Seconds a write on the shared connection may wait for the peer to read before the
#: connection fails (a write is not interrupted halfway: other streams share it).
WRITE_STALL_TIMEOUT = 30.0
#: (burst, per second): control frames (PING, SETTINGS, PRIORITY, empty DATA).
CONTROL_FRAMES = (1000, 200.0)
#: (burst, per second): streams the peer resets (RST_STREAM).
PEER_RESETS = (200, 50.0)


class RateBudget:
    """A token bucket: ``burst`` events at once, refilled at ``rate`` per second.

    Args:
        burst: the most events accepted at once.
        rate: events per second accepted in the long run.
        now: the current time in seconds.
    """

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self._burst = float(burst)
        self._rate = rate
        self._tokens = float(burst)
        self._last = now

    def spend(self, now: float, count: int = 1) -> bool:
        """Take ``count`` tokens at time ``now``; False when the budget is exhausted."""
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate) - count
        return self._tokens >= 0


class FloodGuard:
    """The budgets of one connection: control frames (``CONTROL_FRAMES``) and streams
    the peer resets (``PEER_RESETS``).

    Args:
        now: the current time in seconds.
    """

    __slots__ = ("_controls", "_resets")

    def __init__(self, now: float) -> None:
        self._controls = RateBudget(*CONTROL_FRAMES, now)
        self._resets = RateBudget(*PEER_RESETS, now)

    def admits(self, now: float, controls: int, resets: int) -> bool:
        """Spend ``controls`` and ``resets`` at time ``now``; False once either budget
        is exhausted (the peer is flooding)."""
        return self._controls.spend(now, controls) and self._resets.spend(now, resets)
