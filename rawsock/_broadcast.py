"""Broadcast: one message to many connections without waiting for the slowest.

Theory of operation: :meth:`Broadcaster.send` never waits. It encodes the message once
per kind of connection that can share the bytes (servers without compression, or with
compression but without context takeover, send identical frames) and appends it to each
connection's bounded outgoing queue; one sender task per connection drains its queue.
A connection whose queue is full is a slow consumer, and the caller's policy applies:
``"drop"`` skips this message for it, ``"close"`` closes it (1013 "try again later" by
default). ``send`` reports who was dropped or closed.

Connections that must encode their own frames (clients, which mask every frame, and
compression with context takeover, where each compressor has its own state) queue the
message itself, and their sender encodes it with ``WebSocket.send``.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import trio

from ._connection import WebSocket, when_closed, writer_of
from .sansio._errors import ConnectionClosed
from .sansio._frames import RSV1, Opcode, encode_frame
from .sansio._outbox import check_message

__all__ = ["BroadcastResult", "Broadcaster"]

#: Default bound of each connection's outgoing queue, in bytes.
DEFAULT_MAX_QUEUE = 1024 * 1024
_TAIL = b"\x00\x00\xff\xff"


@dataclass
class BroadcastResult:
    """What one :meth:`Broadcaster.send` did with slow consumers."""

    dropped: list[WebSocket] = field(default_factory=list)
    closed: list[WebSocket] = field(default_factory=list)


class _Outbox:
    """One connection's bounded queue of frames (bytes) or messages to encode (str)."""

    __slots__ = ("closed", "items", "size", "wakeup")

    def __init__(self) -> None:
        self.items: deque[tuple[bool, str | bytes]] = deque()  # (prebuilt frame?, data)
        self.size = 0
        self.wakeup = trio.Event()
        self.closed = False  # the connection closed: the sender ends

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()


class Broadcaster:
    """Sends messages to a changing set of connections, each at its own pace.

    ::

        async with trio.open_nursery() as nursery:
            broadcaster = rawsock.Broadcaster(nursery, policy="close")
            broadcaster.add(ws)
            result = broadcaster.send("hello, everyone")   # returns at once

    Args:
        nursery: where the per-connection sender tasks run.
        max_queue: bytes each connection may have waiting before it counts as slow.
        policy: ``"drop"`` (skip the message for a slow connection) or ``"close"``.
        close_code: the close code for ``"close"`` (1013 try again later, or 1008).
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        policy: Literal["drop", "close"] = "close",
        close_code: int = 1013,
    ) -> None:
        if policy not in ("drop", "close"):
            raise ValueError("policy must be 'drop' or 'close'")
        self._nursery = nursery
        self._max_queue = max_queue
        self._policy = policy
        self._close_code = close_code
        self._outboxes: dict[WebSocket, _Outbox] = {}

    @property
    def connections(self) -> list[WebSocket]:
        """The connections currently receiving broadcasts."""
        return list(self._outboxes)

    def add(self, ws: WebSocket) -> None:
        """Start broadcasting to ``ws``, with a sender task of its own in the nursery.

        ``ws`` leaves once it is closed (its sender task ends, messages queued for it
        are dropped), or with :meth:`remove`.
        """
        if ws not in self._outboxes:
            outbox = self._outboxes[ws] = _Outbox()
            self._nursery.start_soon(self._sender, ws, outbox)
            when_closed(ws, outbox.close)

    def remove(self, ws: WebSocket) -> None:
        """Stop broadcasting to ``ws``; messages still queued for it are dropped."""
        outbox = self._outboxes.pop(ws, None)
        if outbox is not None:
            outbox.items.clear()
            outbox.wakeup.set()

    def send(
        self, message: str | bytes, *, to: Iterable[WebSocket] | None = None
    ) -> BroadcastResult:
        """Queue ``message`` for every connection (or only those in ``to``); never waits.

        Messages queued for one connection go out in the order they were queued, so
        ``send(reply, to=[ws])`` keeps a reply in order with the broadcasts around it.
        Connections in ``to`` that are not members are skipped; one named twice gets the
        message once.

        Returns:
            The connections this message was dropped for, or that were closed, because
            their queue was full.

        Raises:
            TypeError: ``message`` is neither a ``str`` nor bytes-like.
        """
        check_message(message)
        result = BroadcastResult()
        frames: dict[tuple[int, ...], bytes] = {}
        if to is None:
            targets = list(self._outboxes.items())
        else:
            members = dict.fromkeys(to)  # each connection once, in the given order
            targets = [(ws, self._outboxes[ws]) for ws in members if ws in self._outboxes]
        for ws, outbox in targets:
            if ws.closed:
                self.remove(ws)
                continue
            key = writer_of(ws).sharing_key()
            if key is None:
                item: tuple[bool, str | bytes] = (False, message)
                size = len(message)
            else:
                frame = frames.get(key)
                if frame is None:
                    frame = frames[key] = _encode(message, key)
                item = (True, frame)
                size = len(frame)
            if outbox.size + size > self._max_queue and outbox.items:
                if self._policy == "drop":
                    result.dropped.append(ws)
                    continue
                result.closed.append(ws)
                self.remove(ws)
                self._nursery.start_soon(_close_slow, ws, self._close_code)
                continue
            outbox.items.append(item)
            outbox.size += size
            outbox.wakeup.set()
        return result

    async def _sender(self, ws: WebSocket, outbox: _Outbox) -> None:
        try:
            while self._outboxes.get(ws) is outbox and not outbox.closed:
                if not outbox.items:
                    outbox.wakeup = trio.Event()
                    await outbox.wakeup.wait()
                    continue
                prebuilt, data = outbox.items[0]
                if prebuilt:
                    await writer_of(ws).send_frame(data)  # type: ignore[arg-type]
                else:
                    await ws.send(data)
                if outbox.items:
                    outbox.items.popleft()
                    outbox.size -= len(data)
        except ConnectionClosed:
            pass
        finally:
            if self._outboxes.get(ws) is outbox:
                del self._outboxes[ws]


def _encode(message: str | bytes, key: tuple[int, ...]) -> bytes:
    payload = message.encode() if isinstance(message, str) else message
    opcode = Opcode.TEXT if isinstance(message, str) else Opcode.BINARY
    if key and len(payload) >= key[3]:
        level, bits, memory_level, _ = key
        compressor = zlib.compressobj(level, zlib.DEFLATED, -bits, memory_level)
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return encode_frame(opcode, data[:-4] if data.endswith(_TAIL) else data, rsv=RSV1)
    return encode_frame(opcode, payload)


async def _close_slow(ws: WebSocket, code: int) -> None:
    await ws.aclose(code, "too slow to keep up")  # bounded by its close_timeout
