"""What the read side needs from its connection: :class:`ReadSink` (see ``_reader.py``).

The :class:`~rawsock._reader.Reader` reads; the connection (``_session.py``) implements
this interface to process what was read, write the replies it calls for, and run the
keepalive's ping and the failures the reader decides on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .sansio._errors import RemoteProtocolError

if TYPE_CHECKING:
    from ._pings import PendingPing

__all__ = ["ReadSink"]


class ReadSink(Protocol):
    """What the reader needs from its connection (the connection implements it)."""

    def feed(self, data: bytes | bytearray) -> int:
        """Hand received bytes to the core and act on its events; the frames parsed."""

    @property
    def has_unparsed_input(self) -> bool:
        """Bytes already read wait in the core (the queue was full): parse them first."""

    def feed_buffered(self) -> int:
        """Parse the bytes waiting in the core, as far as there is room; the frames."""

    @property
    def replies_pending(self) -> bool:
        """Whether :meth:`after_read` may have work: replies queued, or the core closed."""

    async def after_read(self) -> None:
        """Write the replies the core queued (pongs, close); close TCP if it says so."""

    def transport_lost(self, error: BaseException) -> None:
        """Reading failed because the transport broke or was closed."""

    async def send_keepalive_ping(self) -> PendingPing:
        """Send a keepalive ping (raises ``ConnectionClosed`` once closed)."""

    async def fail(self, error: RemoteProtocolError, flush_limit: float) -> None:
        """Fail the connection with ``error.code``; spend at most ``flush_limit`` on it."""

    async def background_failed(self, error: Exception) -> None:
        """A background task raised (a bug): log it and fail the connection (1011)."""
