"""The sans-I/O core of rawsock: RFC 6455 and its opening handshake, with no I/O at all.

Nothing in this package imports trio, socket, time, logging or asyncio; it turns bytes
into events and calls into bytes, and the Trio layer (``rawsock``) moves the bytes.
"""

from ._client_handshake import ClientHandshake
from ._close import CloseCode, decode_close_payload, encode_close_payload
from ._deflate import DeflateCodec, DeflateParameters, PerMessageDeflate
from ._errors import (
    ConnectionClosed,
    HandshakeError,
    HandshakeRejected,
    LocalProtocolError,
    ProtocolError,
    RawsockError,
    RemoteProtocolError,
)
from ._events import BinaryMessage, CloseReceived, Event, MessageChunk, Ping, Pong, TextMessage
from ._frames import FrameParser, Opcode, encode_frame
from ._handshake import ServerHandshake
from ._handshake_parts import Request, Response, accept_key
from ._headers import Headers
from ._mask import ACCELERATED, apply_mask
from ._protocol import DEFAULT_MAX_MESSAGE_SIZE, Protocol, Role, State

__all__ = [
    "ACCELERATED",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "BinaryMessage",
    "ClientHandshake",
    "CloseCode",
    "CloseReceived",
    "ConnectionClosed",
    "DeflateCodec",
    "DeflateParameters",
    "Event",
    "FrameParser",
    "HandshakeError",
    "HandshakeRejected",
    "Headers",
    "LocalProtocolError",
    "MessageChunk",
    "Opcode",
    "PerMessageDeflate",
    "Ping",
    "Pong",
    "Protocol",
    "ProtocolError",
    "RawsockError",
    "RemoteProtocolError",
    "Request",
    "Response",
    "Role",
    "ServerHandshake",
    "State",
    "TextMessage",
    "accept_key",
    "apply_mask",
    "decode_close_payload",
    "encode_close_payload",
    "encode_frame",
]
