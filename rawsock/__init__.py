"""rawsock: a Trio-native WebSocket library (RFC 6455) with a sans-I/O core.

Public API::

    rawsock.serve(handler, host, port, ...)      # WebSocket server on TCP
    rawsock.accept(stream, ...)                  # server side over any trio Stream
    rawsock.connect(url, ...)                    # client, an async context manager
    rawsock.WebSocket                            # receive / send / ping / aclose
"""

from ._client import connect, parse_url
from ._connection import WebSocket
from ._server import Server, accept, serve, serve_stream
from .sansio._close import CloseCode
from .sansio._deflate import PerMessageDeflate
from .sansio._errors import (
    ConnectionClosed,
    HandshakeError,
    HandshakeRejected,
    LocalProtocolError,
    ProtocolError,
    RawsockError,
    RemoteProtocolError,
)

__version__ = "0.1.0"

__all__ = [
    "CloseCode",
    "ConnectionClosed",
    "HandshakeError",
    "HandshakeRejected",
    "LocalProtocolError",
    "PerMessageDeflate",
    "ProtocolError",
    "RawsockError",
    "RemoteProtocolError",
    "Server",
    "WebSocket",
    "__version__",
    "accept",
    "connect",
    "parse_url",
    "serve",
    "serve_stream",
]
