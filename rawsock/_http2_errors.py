"""How an HTTP/2 connection or stream failing reaches the code that uses it.

Both are broken transports to the WebSocket above (``trio.BrokenResourceError``): its
connection then ends with 1006, as over a TCP connection that was reset.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import h2.exceptions
import trio

__all__ = ["ConnectionFailed", "TransportBroken", "stream_errors"]


class ConnectionFailed(trio.BrokenResourceError):
    """The HTTP/2 connection ended: a connection error, a GOAWAY, or the transport."""


class TransportBroken(ConnectionFailed):
    """The transport itself failed: nothing more can be written on it."""


@contextlib.contextmanager
def stream_errors() -> Iterator[None]:
    """h2's errors for a stream that cannot send any more, as a broken transport."""
    try:
        yield
    except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as error:
        raise trio.BrokenResourceError(f"the HTTP/2 stream is closed ({error})") from error
