"""Streaming: one message received or sent as a sequence of pieces (RFC 6455 §5.4).

Receiving: the core delivers a message that arrives in several pieces as
``MessageChunk`` events (see ``sansio/_assembler.py``); :class:`MessageStream` hands
them to the application as they are queued, so memory stays at the receive budget
whatever the message size. Sending: :func:`send_message_stream` sends each chunk as a
fragment, holding the connection's message lock (no other data message may interleave)
but taking the writers' lock only per fragment, so control frames from other tasks
(pongs, pings, a close) still go out between fragments.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING

import trio

from .sansio._errors import RemoteProtocolError
from .sansio._events import MessageChunk
from .sansio._protocol import State

if TYPE_CHECKING:
    from ._connection import WebSocket

__all__ = ["ITEM_OVERHEAD", "MessageStream", "queued_size", "send_message_stream"]

#: Seconds allowed to send the 1011 close frame after a streaming send is cancelled.
_INTERRUPTED_CLOSE_LIMIT = 1.0
#: What a queued message or chunk counts against ``receive_buffer`` beyond its length:
#: roughly its Python object overhead, so a flood of empty messages still fills it.
ITEM_OVERHEAD = 64


def queued_size(item: str | bytes | MessageChunk) -> int:
    """How much a queued message or chunk counts against ``receive_buffer``."""
    return (len(item.data) if isinstance(item, MessageChunk) else len(item)) + ITEM_OVERHEAD


class MessageStream:
    """The pieces of one received message, as an async iterator (see ``receive_stream``)."""

    __slots__ = ("_done", "_max_size", "_size", "_started", "_ws")

    def __init__(self, ws: WebSocket, max_size: int | None) -> None:
        self._ws = ws
        self._max_size = max_size
        self._size = 0
        self._started = False
        self._done = False

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> str | bytes:
        if self._done:
            raise StopAsyncIteration
        ws = self._ws
        await ws._start_receiving()
        waited = False
        try:
            while True:
                item, waited_now = await ws._next_item()
                waited = waited or waited_now
                if not isinstance(item, MessageChunk):
                    self._done = True  # a whole message, in one piece
                    ws._partial = None
                    data = item
                    break
                chunk = item
                if not self._started and not chunk.first:
                    continue  # the rest of a message someone else gave up on
                self._started = True
                ws._partial = None
                await self._check_size(chunk)
                self._done = chunk.final
                data = chunk.data
                break
        finally:
            ws._stop_receiving()
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return data

    async def _check_size(self, chunk: MessageChunk) -> None:
        self._size = max(chunk.size, self._size + len(chunk.data))
        if self._max_size is not None and self._size > self._max_size:
            error = RemoteProtocolError(
                f"streamed message exceeds the limit of {self._max_size} bytes", 1009
            )
            ws = self._ws
            await ws._fail(error, flush_limit=ws._close_timeout)
            raise ws._closed_error()


async def _pieces(
    chunks: Iterable[str | bytes] | AsyncIterable[str | bytes],
) -> AsyncIterator[str | bytes]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk


async def _send_fragment(ws: WebSocket, data: str | bytes, fin: bool) -> None:
    lock = ws._send_lock
    await lock.acquire()
    try:
        if ws._protocol.state is not State.OPEN:
            raise ws._closed_error()
        # Streamed messages go out uncompressed: they may be far larger than what a peer
        # accepts to decompress (its message size limit), and they are often compressed
        # media already.
        ws._protocol.send(data, fin=fin, compress=False)
        await ws._write(ws._protocol.data_to_send())
    finally:
        lock.release()


async def send_message_stream(
    ws: WebSocket,
    chunks: Iterable[str | bytes] | AsyncIterable[str | bytes],
    text: bool | None,
) -> None:
    """Send ``chunks`` as the fragments of one message (see ``WebSocket.send_stream``)."""
    message_lock = ws._message_lock
    await message_lock.acquire()
    started = False
    try:
        source = _pieces(chunks)
        try:
            async for chunk in source:
                if text is None:
                    text = isinstance(chunk, str)
                elif isinstance(chunk, str) is not text:
                    raise TypeError("every chunk of a text message must be str, of binary bytes")
                # Each chunk goes out as soon as it is there; an empty final fragment
                # ends the message, since only the source knows when it is over.
                await _send_fragment(ws, chunk, fin=False)
                started = True
        finally:
            await source.aclose()  # type: ignore[attr-defined]
        await _send_fragment(ws, "" if text else b"", fin=True)
        started = False
    except BaseException:
        if started and ws._closed is None:
            # Part of the message is out and the rest never will be: the peer would wait
            # forever (or take a truncated message), so the connection ends here.
            error = RemoteProtocolError("a streamed message was interrupted", 1011)
            with trio.CancelScope(shield=True):
                await ws._fail(error, flush_limit=_INTERRUPTED_CLOSE_LIMIT)
        raise
    finally:
        message_lock.release()
