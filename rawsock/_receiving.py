"""Received messages: the bounded queue, ``receive()``, ``receive_stream()`` (RFC 6455 §5.4, §5.6).

Theory of operation: whoever reads the socket (see ``_reader.py``) appends the messages
the core delivers to a :class:`MessageQueue`; a message that arrives in several pieces
comes as ``MessageChunk`` events. The queue counts what it holds against the receive
budget and tells the reader when it is full (``pause``) and when there is room again
(``resume``): that is the backpressure, driven from here and never poked from outside.

:class:`Receiving` is the consuming end: ``receive()`` joins the pieces of a message,
:class:`MessageStream` hands them out one by one so a message of any size passes in
constant memory. Both wait by reading through the reader (the receiver reads for
itself), and neither loses anything when cancelled: a message in progress lives here,
not in the cancelled call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Protocol, cast

import trio

from ._reader import Reader
from .sansio._errors import ConnectionClosed, RemoteProtocolError
from .sansio._events import MessageChunk
from .sansio._joiner import Joiner

__all__ = ["MessageQueue", "MessageStream", "MessageTooBig", "Receiving", "item_cost"]

Item = str | bytes | MessageChunk

_SLOT = 8  # the queue's reference to an item
_BYTES_COST = sys.getsizeof(b"") + _SLOT  # a bytes object beyond its length, and its slot
#: A chunk's own object, its ``size`` (an int of its own), and the queue's reference.
_CHUNK_OVERHEAD = sys.getsizeof(MessageChunk(b"", True, False, 0)) + sys.getsizeof(1 << 20) + 8


def item_cost(item: Item) -> int:
    """The memory a queued item takes, Python object overhead included.

    What the queue counts against ``receive_buffer``: a flood of empty messages or of
    tiny chunks fills the budget as surely as large messages do.
    """
    if type(item) is bytes:  # (the common case, without a call)
        return len(item) + _BYTES_COST
    if isinstance(item, MessageChunk):
        return sys.getsizeof(item.data) + _CHUNK_OVERHEAD
    return sys.getsizeof(item) + _SLOT


class MessageQueue:
    """Received messages and chunks not consumed yet, counted against a budget.

    Args:
        budget: bytes of memory (see :func:`item_cost`) at which the queue is full.
        pause: called when the queue becomes full.
        resume: called when it has room again.
    """

    __slots__ = ("_budget", "_head", "_items", "_pause", "_resume", "count", "full", "size")

    def __init__(self, budget: int, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        # A list and the index of its first item rather than a deque: an empty deque
        # takes about 600 bytes, an empty list 56, and most connections' queues are
        # empty most of the time.
        self._items: list[Item] = []
        self._head = 0
        self._budget = budget
        self._pause = pause
        self._resume = resume
        self.count = 0  # items queued (an attribute: looked at for every message)
        self.size = 0  # what the items count against the budget
        self.full = False

    def __len__(self) -> int:
        return self.count

    def append(self, item: Item) -> None:
        """Queue a message or chunk."""
        self._items.append(item)
        self.count += 1
        self.size += len(item) + _BYTES_COST if type(item) is bytes else item_cost(item)
        if not self.full and self.size >= self._budget:
            self.full = True
            self._pause()

    def popleft(self) -> Item:
        """Take the oldest item (the queue must not be empty)."""
        items = self._items
        item = items[self._head]
        self.count -= 1
        if self.count:
            self._head += 1
        else:
            items.clear()
            self._head = 0
        self.size -= len(item) + _BYTES_COST if type(item) is bytes else item_cost(item)
        if self.full and self.size < self._budget:
            self.full = False
            self._resume()
        return item

    def clear(self) -> None:
        """Drop everything (the connection is closing)."""
        self._items.clear()
        self._head = 0
        self.count = 0
        self.size = 0
        if self.full:
            self.full = False
            self._resume()


class MessageTooBig(Exception):
    """Raised by a step of :meth:`Receiving.take`: fail the connection with 1009."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.error = RemoteProtocolError(message, 1009)


class Endpoint(Protocol):
    """What receiving needs from its connection."""

    def closed_error(self) -> ConnectionClosed | None:
        """A fresh ``ConnectionClosed`` once the connection is closed, else ``None``."""

    async def fail(self, error: RemoteProtocolError, flush_limit: float) -> None:
        """Fail the connection with ``error.code``."""

    @property
    def close_timeout(self) -> float:
        """Seconds allowed for the closing handshake."""


class Receiving:
    """The consuming end of a connection's messages (``receive``, ``receive_stream``)."""

    __slots__ = ("_endpoint", "_max_message_size", "_partial", "_queue", "_reader")

    def __init__(
        self,
        reader: Reader,
        queue: MessageQueue,
        endpoint: Endpoint,
        max_message_size: int | None,
    ) -> None:
        self._reader = reader
        self._queue = queue
        self._endpoint = endpoint
        self._max_message_size = max_message_size  # for whole messages; streams have theirs
        # receive()'s message in progress
        self._partial: Joiner[str] | Joiner[bytes] | None = None

    async def receive(self) -> str | bytes:
        """One whole message (see ``WebSocket.receive``).

        :meth:`take` with :meth:`_message_step`, written out for the common case (a
        message that came whole). Its cancellation point: before taking a queued
        message, or the read it waits with (``Reader.read_for_receiver`` checks for
        cancellation before anything else).
        """
        reader = self._reader
        queue = self._queue
        reader.enter()
        waited = False
        try:
            if queue.count:
                await trio.lowlevel.checkpoint_if_cancelled()
            while True:
                if queue.count:
                    item = queue.popleft()
                    if type(item) is bytes or type(item) is str:
                        self._partial = None  # any abandoned part of a message ends here
                        result: str | bytes = item
                        break
                    try:
                        joined = self._message_step(item)
                    except MessageTooBig as too_big:
                        raise await self._failed(too_big.error) from None
                    if joined is not None:
                        result = joined
                        break
                    continue
                closed = self._endpoint.closed_error()
                if closed is not None:
                    if not waited:
                        await trio.lowlevel.checkpoint_if_cancelled()
                    raise closed
                waited = True
                await reader.read_for_receiver()
        finally:
            reader.leave()
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return result

    async def take(self, step: Callable[[Item], str | bytes | None]) -> str | bytes:
        """Enter as the receiver and hand queued items to ``step`` until it returns one.

        The receiver's one loop, for ``receive()`` and ``receive_stream()``: ``step``
        returns what the caller gets, or ``None`` to go on; it raises
        :class:`MessageTooBig` to fail the connection with 1009. A cancellation point;
        ``trio.BusyResourceError`` if another task is receiving.
        """
        reader = self._reader
        reader.enter()
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            reader.leave()
            raise
        waited = False
        try:
            while True:
                item, waited_now = await self.next_item()
                waited = waited or waited_now
                try:
                    result = step(item)
                except MessageTooBig as too_big:
                    raise await self._failed(too_big.error) from None
                if result is not None:
                    break
        finally:
            reader.leave()
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return result

    async def next_item(self) -> tuple[Item, bool]:
        """Pop the next queued message or chunk, reading until there is one.

        Returns:
            The item, and whether this call had to wait (a checkpoint happened).
        """
        queue = self._queue
        if queue.count:
            return queue.popleft(), False
        reader = self._reader
        endpoint = self._endpoint
        while not queue.count:
            closed = endpoint.closed_error()
            if closed is not None:
                raise closed
            await reader.read_for_receiver()
        return queue.popleft(), True

    def abandon_partial(self) -> None:
        """A stream takes over: drop what ``receive()`` collected of a message."""
        self._partial = None

    def _message_step(self, item: Item) -> str | bytes | None:
        """Collect one part of a message; the message when complete.

        Parts of a message whose start went to an abandoned ``receive_stream()`` are
        skipped.
        """
        if not isinstance(item, MessageChunk):
            self._partial = None  # any abandoned part of a message ends here
            return item
        data = item.data
        if item.first:
            self._partial = Joiner("") if isinstance(data, str) else Joiner(b"")
        partial = self._partial
        if partial is None:
            return None  # the rest of a message that a stream gave up on
        limit = self._max_message_size
        if limit is not None and item.size > limit:
            self._partial = None
            raise MessageTooBig(
                f"message of at least {item.size} bytes exceeds the limit of {limit}"
            )
        # (the chunks of one message are all str, or all bytes)
        if isinstance(data, str):
            cast(Joiner[str], partial).append(data)
        else:
            cast(Joiner[bytes], partial).append(data)
        if not item.final:
            return None
        self._partial = None
        return partial.join()

    async def _failed(self, error: RemoteProtocolError) -> ConnectionClosed:
        endpoint = self._endpoint
        await endpoint.fail(error, flush_limit=endpoint.close_timeout)
        closed = endpoint.closed_error()
        assert closed is not None
        return closed

    def stream(self, max_size: int | None) -> MessageStream:
        """The pieces of the next message (see ``WebSocket.receive_stream``)."""
        return MessageStream(self, max_size)


class MessageStream:
    """The pieces of one received message, as an async iterator (see ``receive_stream``)."""

    __slots__ = ("_done", "_max_size", "_receiving", "_size", "_started")

    def __init__(self, receiving: Receiving, max_size: int | None) -> None:
        self._receiving = receiving
        self._max_size = max_size
        self._size = 0
        self._started = False
        self._done = False

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> str | bytes:
        if self._done:
            raise StopAsyncIteration
        return await self._receiving.take(self._step)

    def _step(self, item: Item) -> str | bytes | None:
        receiving = self._receiving
        if not isinstance(item, MessageChunk):
            self._done = True  # a whole message, in one piece
            receiving.abandon_partial()
            return item
        if not self._started and not item.first:
            return None  # the rest of a message someone else gave up on
        self._started = True
        receiving.abandon_partial()
        self._size = max(item.size, self._size + len(item.data))
        if self._max_size is not None and self._size > self._max_size:
            raise MessageTooBig(f"streamed message exceeds the limit of {self._max_size} bytes")
        self._done = item.final
        return item.data
