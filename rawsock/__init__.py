"""rawsock: a Trio-native WebSocket library (RFC 6455) with a sans-I/O core.

Public API::

    rawsock.serve(handler, host, port, ...)      # WebSocket server on TCP (TLS: ssl_context=)
    rawsock.serve_unix(handler, path, ...)       # WebSocket server on a Unix-domain socket
    rawsock.accept(stream, ...)                  # server side over any trio Stream
    rawsock.connect(url, ...)                    # client, an async context manager
    rawsock.reconnect(url, ...)                  # async iterator of connections, with backoff
    rawsock.WebSocket                            # receive / send / ping / aclose
    rawsock.Broadcaster                          # one message to many, slow ones bounded
    rawsock.ServerOptions, rawsock.ClientOptions # the options of those calls, described
    rawsock.ConnectionOptions                    # (help(...)), typed and checked at the call
"""

from ._broadcast import Broadcaster, BroadcastResult
from ._client import connect, parse_url
from ._connection import WebSocket
from ._http import HTTPResponse
from ._options import ClientOptions, ConnectionOptions, ServerOptions
from ._proxy import ProxyError
from ._reconnect import Reconnect, reconnect
from ._security import BasicAuth, check_host, check_origin, parse_basic_auth
from ._server import Server, accept, serve, serve_stream
from ._unix import serve_unix
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
from .sansio._handshake_parts import Request

__version__ = "0.1.0"

__all__ = [
    "BasicAuth",
    "BroadcastResult",
    "Broadcaster",
    "ClientOptions",
    "CloseCode",
    "ConnectionClosed",
    "ConnectionOptions",
    "HTTPResponse",
    "HandshakeError",
    "HandshakeRejected",
    "LocalProtocolError",
    "PerMessageDeflate",
    "ProtocolError",
    "ProxyError",
    "RawsockError",
    "Reconnect",
    "RemoteProtocolError",
    "Request",
    "Server",
    "ServerOptions",
    "WebSocket",
    "__version__",
    "accept",
    "check_host",
    "check_origin",
    "connect",
    "parse_basic_auth",
    "parse_url",
    "reconnect",
    "serve",
    "serve_stream",
    "serve_unix",
]
