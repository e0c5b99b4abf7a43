"""A per-client message rate limit (a token bucket).

Every message a client sends to a room is copied to each member, so one client sending
as fast as it can would flood everyone, and members that cannot keep up would be
disconnected as slow. Each client may send ``per_second`` messages per second on
average, in bursts of up to ``burst``; beyond that its messages are refused with an
error (and dropped), and its connection stays open.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_RATE", "MessageRate", "RateLimit"]


@dataclass(frozen=True)
class RateLimit:
    """How many messages a client may send: ``per_second`` on average, ``burst`` at once."""

    per_second: float
    burst: int


#: The default: 20 messages per second, bursts of 40.
DEFAULT_RATE = RateLimit(per_second=20.0, burst=40)


class MessageRate:
    """One client's bucket. ``allow(now)`` spends a token if there is one."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self._limit = limit
        self._tokens = float(limit.burst)
        self._last = now

    def allow(self, now: float) -> bool:
        """Whether a message at time ``now`` (seconds, monotonic) is within the limit."""
        refill = (now - self._last) * self._limit.per_second
        self._tokens = min(float(self._limit.burst), self._tokens + refill)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
