"""Pings waiting for their pongs (RFC 6455 §5.5.2, §5.5.3): the application's, the keepalive's."""

from __future__ import annotations

import struct

import trio

__all__ = ["PendingPing", "PingTracker"]

_COUNTER = struct.Struct("!Q")


class PendingPing:
    """A ping waiting for its pong; ``round_trip`` stays ``None`` if the connection closed."""

    __slots__ = ("answered", "payload", "round_trip", "sent_at")

    def __init__(self, payload: bytes, sent_at: float) -> None:
        self.payload = payload
        self.sent_at = sent_at
        self.answered = trio.Event()
        self.round_trip: float | None = None


class PingTracker:
    """The pings of one connection that wait for a pong, in the order they were sent.

    A pong answers its own ping and every earlier one: §5.5.3 lets a peer answer only
    the most recent ping when several arrive before it could reply.
    """

    __slots__ = ("_count", "_pending", "latency")

    def __init__(self) -> None:
        self._pending: dict[bytes, PendingPing] = {}
        self._count = 0
        self.latency: float | None = None  # round trip of the last ping answered

    def next_payload(self) -> bytes:
        """A payload no waiting ping has: an 8-byte counter."""
        while True:
            self._count += 1
            payload = _COUNTER.pack(self._count)
            if payload not in self._pending:
                return payload

    def check(self, payload: bytes) -> None:
        """Raise ``ValueError`` if a ping with ``payload`` already waits."""
        if payload in self._pending:
            raise ValueError("a ping with this payload is already waiting for its pong")

    def sent(self, payload: bytes) -> PendingPing:
        """Record a ping that was just sent."""
        pending = self._pending[payload] = PendingPing(payload, trio.current_time())
        return pending

    def forget(self, pending: PendingPing) -> None:
        """Stop waiting for ``pending`` (its waiter gave up)."""
        if self._pending.get(pending.payload) is pending:
            del self._pending[pending.payload]

    def pong_received(self, payload: bytes) -> None:
        """Answer the ping with this payload and every earlier one (unsolicited: ignored)."""
        if payload not in self._pending:
            return  # an unsolicited pong (§5.5.3): fine
        now = trio.current_time()
        pending = self._pending
        for key in list(pending):
            ping = pending.pop(key)
            ping.round_trip = now - ping.sent_at
            ping.answered.set()
            if key == payload:
                self.latency = ping.round_trip
                break

    def close(self) -> None:
        """The connection closed: wake every waiter (``round_trip`` stays ``None``)."""
        for ping in self._pending.values():
            ping.answered.set()
        self._pending.clear()
