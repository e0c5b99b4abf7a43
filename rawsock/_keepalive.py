"""Keepalive: one ping, and the wait for its pong, that tell a live peer from a dead one.

Every ``ping_interval`` seconds the connection's reader runs one round: it sends a ping
(RFC 6455 §5.5.2) and waits up to ``ping_timeout`` seconds for the pong. Without one,
the peer is considered dead and the connection is failed with 1011 (§7.4.1), so a dead
peer is noticed within ``ping_interval + ping_timeout``. The round trip becomes
``WebSocket.latency``.

Backpressure: when the application does not consume messages and the receive budget is
full, nobody reads the socket, so the pong may sit unread behind data. That time is
ours, not the peer's: it is not counted against ``ping_timeout``. A ping that cannot
even be written within ``ping_timeout`` (the peer reads nothing at all) aborts the
connection at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import trio

from .sansio._errors import ConnectionClosed, RemoteProtocolError

if TYPE_CHECKING:
    from ._pings import PendingPing

__all__ = ["keepalive_round"]

#: Seconds allowed to send the close frame when a keepalive pong is missing (at most).
_DEAD_PEER_CLOSE_LIMIT = 1.0
#: The close reason sent when the keepalive gives up on the peer.
_REASON = "keepalive ping timeout"


class Reading(Protocol):
    """What a round needs from the connection's reader."""

    @property
    def ended(self) -> bool:
        """The connection closed, or the stream ended: no pong can come any more."""

    async def read_until(self, done: Callable[[], bool], deadline: float) -> bool:
        """Read until ``done()`` holds or ``deadline`` passes; whether it holds."""

    def paused_time(self) -> float:
        """Seconds so far that reading stopped because the receive budget was full."""


class Pinging(Protocol):
    """What a round needs from the connection."""

    async def send_keepalive_ping(self) -> PendingPing:
        """Send a ping (raises ``ConnectionClosed`` once closed)."""

    async def fail(self, error: RemoteProtocolError, flush_limit: float) -> None:
        """Fail the connection with ``error.code``."""


async def keepalive_round(reader: Reading, connection: Pinging, pong_limit: float | None) -> bool:
    """Ping; fail with 1011 if no pong comes within ``pong_limit`` seconds (unpaused).

    Returns:
        Whether the pong came (the next round is then due in ``ping_interval``).
    """
    limit = float("inf") if pong_limit is None else pong_limit
    with trio.move_on_after(limit) as scope:
        try:
            pending = await connection.send_keepalive_ping()
        except ConnectionClosed:
            return False
    if scope.cancelled_caught:  # the peer has not read anything for ping_timeout
        error = RemoteProtocolError(
            f"the keepalive ping could not be sent within ping_timeout ({limit} s): the "
            "peer reads nothing",
            1011,
            _REASON,
        )
        await connection.fail(error, flush_limit=0)
        return False
    answered = pending.answered.is_set
    deadline = trio.current_time() + limit
    paused = reader.paused_time()
    while not await reader.read_until(answered, deadline):
        if reader.ended:
            return False
        now_paused = reader.paused_time()
        if now_paused <= paused:
            error = RemoteProtocolError(
                f"no pong within ping_timeout ({limit} s) of the keepalive ping", 1011, _REASON
            )
            await connection.fail(error, flush_limit=min(limit, _DEAD_PEER_CLOSE_LIMIT))
            return False
        deadline += now_paused - paused  # time spent not reading does not count
        paused = now_paused
    return pending.round_trip is not None
