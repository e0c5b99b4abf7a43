"""Sending one message as a sequence of pieces (RFC 6455 §5.4).

:func:`send_message_stream` sends each chunk as a fragment as soon as the source yields
it, holding the connection's message lock (no other data message may interleave) but
the writers' lock only per fragment, so control frames from other tasks (pongs, pings,
a close) still go out between fragments. Receiving a message piece by piece is
``MessageStream`` in ``_receiving.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable

import trio

from ._sending import Writer
from .sansio._errors import RemoteProtocolError
from .sansio._protocol import Protocol

__all__ = ["send_message_stream"]

#: Seconds allowed to send the 1011 close frame after a streaming send is cancelled.
_INTERRUPTED_CLOSE_LIMIT = 1.0

Fail = Callable[[RemoteProtocolError, float], Awaitable[None]]


async def _pieces(
    chunks: Iterable[str | bytes] | AsyncIterable[str | bytes],
) -> AsyncIterator[str | bytes]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk


async def _send_fragment(writer: Writer, protocol: Protocol, data: str | bytes, fin: bool) -> None:
    def encode() -> bytes:
        # Streamed messages go out uncompressed: they may be far larger than what a peer
        # accepts to decompress (its message size limit), and they are often compressed
        # media already.
        protocol.send(data, fin=fin, compress=False)
        return protocol.data_to_send()

    await writer.send_fragment(encode)


async def send_message_stream(
    writer: Writer,
    protocol: Protocol,
    chunks: Iterable[str | bytes] | AsyncIterable[str | bytes],
    text: bool | None,
    fail: Fail,
) -> None:
    """Send ``chunks`` as the fragments of one message (see ``WebSocket.send_stream``).

    Args:
        writer: the connection's write side.
        protocol: the core, which frames the fragments.
        chunks: the message's pieces.
        text: whether the message is text (``None``: from the first chunk's type).
        fail: fails the connection, when a message cannot be completed (1011).
    """
    message_lock = writer.message_lock
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
                await _send_fragment(writer, protocol, chunk, fin=False)
                started = True
        finally:
            await source.aclose()  # type: ignore[attr-defined]
        await _send_fragment(writer, protocol, "" if text else b"", fin=True)
        started = False
    except BaseException:
        if started:
            # Part of the message is out and the rest never will be: the peer would wait
            # forever (or take a truncated message), so the connection ends here.
            error = RemoteProtocolError("a streamed message was interrupted", 1011)
            with trio.CancelScope(shield=True):
                await fail(error, _INTERRUPTED_CLOSE_LIMIT)
        raise
    finally:
        message_lock.release()
