"""Keepalive: periodic pings that close a connection whose peer stopped answering.

Every ``interval`` seconds the connection sends a ping (RFC 6455 §5.5.2) and waits up to
``timeout`` seconds for its pong; without one, the peer is considered dead and the
connection is failed with 1011 (§7.4.1), so a dead peer is noticed within
``interval + timeout``. The measured round trip is kept in ``WebSocket.latency``.

Backpressure: when the application does not consume messages and the receive budget is
full, rawsock stops reading the socket, so the pong may sit unread behind data. That
time is ours, not the peer's: it is not counted against ``timeout``. A ping that cannot
even be written within ``timeout`` (the peer reads nothing at all) aborts the connection
(1006).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from .sansio._errors import ConnectionClosed, RemoteProtocolError

if TYPE_CHECKING:
    from ._connection import WebSocket, _PendingPing

__all__ = ["keep_alive"]


async def keep_alive(ws: WebSocket, interval: float, pong_limit: float | None) -> None:
    """Run the keepalive of ``ws`` until the connection closes (a system task)."""
    with ws._keepalive_scope:
        try:
            while True:
                await trio.sleep(interval)
                limit = float("inf") if pong_limit is None else pong_limit
                with trio.move_on_after(limit) as scope:
                    pending = await ws._send_ping(None)
                if scope.cancelled_caught:  # the peer has not read anything for `timeout`
                    error = RemoteProtocolError("keepalive ping could not be sent", 1011)
                    await ws._fail(error, flush_limit=0)
                    return
                if pong_limit is None:
                    await pending.answered.wait()
                    continue
                if pending.answered.is_set() or await _wait_for_pong(ws, pending, pong_limit):
                    if pending.round_trip is not None:
                        ws.latency = pending.round_trip
                    continue
                error = RemoteProtocolError("keepalive ping timeout: no pong", 1011)
                await ws._fail(error, flush_limit=min(pong_limit, 1.0))
                return
        except (ConnectionClosed, ValueError):
            return  # closed while sending, or (ValueError) a user ping took the payload


async def _wait_for_pong(ws: WebSocket, pending: _PendingPing, limit: float) -> bool:
    """Wait for ``pending`` to be answered within ``limit`` seconds of unpaused time."""
    answered = pending.answered
    ws._urgent += 1
    ws._reader_grace.unpark_all()
    try:
        deadline = trio.current_time() + limit
        paused = ws._paused_time()
        while True:
            with trio.move_on_at(deadline):
                await answered.wait()
                return True
            now_paused = ws._paused_time()
            if now_paused <= paused:
                return False
            deadline += now_paused - paused  # time spent not reading does not count
            paused = now_paused
    finally:
        ws._urgent -= 1
        ws._pings.pop(pending.payload, None)
