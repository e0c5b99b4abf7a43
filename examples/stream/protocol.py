"""The messages of one transfer, as JSON text messages, and their validation.

A transfer is one WebSocket connection::

    sender                                        receiver
    {"type": "header", "name": N, "size": S}  ->
                                              <-  {"type": "offset", "offset": K, "sha256": H}
    {"type": "start", "offset": O}            ->  (O is K to resume, or 0 to start over)
    one binary message: bytes O..S of the file ->  (sent as fragments)
    {"type": "trailer", "sha256": F}          ->
                                              <-  {"type": "done", "size": S, "sha256": F}

``H`` is the SHA-256 of the first ``K`` bytes the receiver already holds, so the sender
resumes only if its own file starts with the same bytes; ``F`` covers the whole file.
Instead of its next message, either side may send ``{"type": "error", "message": M}``
and close the connection.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

__all__ = [
    "CONNECTION_OPTIONS",
    "MAX_CONTROL_MESSAGE",
    "MAX_FILE_SIZE",
    "Done",
    "Header",
    "Message",
    "Offset",
    "PeerError",
    "ProtocolViolation",
    "Start",
    "Trailer",
    "TransferError",
    "close_reason",
    "decode",
    "encode",
    "expect",
]

#: The largest JSON message either side accepts (WebSocket ``max_message_size``).
MAX_CONTROL_MESSAGE = 16 * 1024
#: The largest fragment accepted (``max_frame_size``): the sender writes 256 KiB ones.
MAX_FRAGMENT = 1024 * 1024
#: WebSocket options of both sides. No compression: the file goes out uncompressed as a
#: streamed message anyway, and the JSON messages are tiny. Streamed messages are not
#: bound by ``max_message_size``, which therefore only limits the JSON messages.
CONNECTION_OPTIONS: dict[str, Any] = {
    "compression": None,
    "max_message_size": MAX_CONTROL_MESSAGE,
    "max_frame_size": MAX_FRAGMENT,
}
#: The longest close reason RFC 6455 allows (a close frame payload is at most 125 bytes).
MAX_CLOSE_REASON = 123
#: The largest file size the protocol accepts: what a signed 64-bit file offset holds.
MAX_FILE_SIZE = 2**63 - 1
#: The longest error text accepted from the peer.
MAX_ERROR_TEXT = 4096

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class ProtocolViolation(Exception):
    """The peer sent a message this protocol does not allow at this point."""


class PeerError(Exception):
    """The peer refused the transfer and said why (an ``error`` message)."""


@dataclass(frozen=True)
class Header:
    """Sender: the file that follows, by name and size in bytes."""

    name: str
    size: int


@dataclass(frozen=True)
class Offset:
    """Receiver: how many bytes of the file it already holds, and their SHA-256."""

    offset: int
    sha256: str


@dataclass(frozen=True)
class Start:
    """Sender: where the data message begins (the offered offset, or 0 to start over)."""

    offset: int


@dataclass(frozen=True)
class Trailer:
    """Sender: the SHA-256 of the whole file, sent after the data."""

    sha256: str


@dataclass(frozen=True)
class Done:
    """Receiver: the file is complete on disk and its SHA-256 matched."""

    size: int
    sha256: str


@dataclass(frozen=True)
class TransferError:
    """Either side: the transfer cannot go on, and why."""

    message: str


Message = Header | Offset | Start | Trailer | Done | TransferError

_TYPE_NAMES: dict[type[Any], str] = {
    Header: "header",
    Offset: "offset",
    Start: "start",
    Trailer: "trailer",
    Done: "done",
    TransferError: "error",
}
_TYPES_BY_NAME = {name: kind for kind, name in _TYPE_NAMES.items()}
_FIELDS: dict[str, dict[str, type[Any]]] = {
    "header": {"name": str, "size": int},
    "offset": {"offset": int, "sha256": str},
    "start": {"offset": int},
    "trailer": {"sha256": str},
    "done": {"size": int, "sha256": str},
    "error": {"message": str},
}

MessageT = TypeVar("MessageT", Header, Offset, Start, Trailer, Done)


def encode(message: Message) -> str:
    """The JSON text of ``message``."""
    return json.dumps({"type": _TYPE_NAMES[type(message)], **asdict(message)})


def decode(raw: str | bytes) -> Message:
    """Parse and check one control message.

    Raises:
        ProtocolViolation: binary data, invalid JSON, an unknown type, missing or extra
            fields, a field of the wrong type, a negative size or a malformed hash.
    """
    if isinstance(raw, bytes):
        raise ProtocolViolation(f"expected a JSON text message, got {len(raw)} bytes of binary")
    try:
        fields = json.loads(raw)
    except ValueError:
        raise ProtocolViolation(f"not valid JSON: {_preview(raw)}") from None
    if not isinstance(fields, dict):
        raise ProtocolViolation(f"expected a JSON object, got {_preview(raw)}")
    type_name = fields.pop("type", None)
    if not isinstance(type_name, str) or type_name not in _FIELDS:
        raise ProtocolViolation(f"unknown message type {type_name!r}")
    expected = _FIELDS[type_name]
    if set(fields) != set(expected):
        raise ProtocolViolation(
            f"a {type_name} message has the fields {sorted(expected)}, got {sorted(fields)}"
        )
    for field, field_type in expected.items():
        _check_field(type_name, field, fields[field], field_type)
    message: Message = _TYPES_BY_NAME[type_name](**fields)
    return message


def expect(raw: str | bytes, kind: type[MessageT]) -> MessageT:
    """Decode ``raw`` and insist on a message of type ``kind``.

    Raises:
        PeerError: the peer sent an ``error`` message instead.
        ProtocolViolation: anything else but a valid ``kind`` message.
    """
    message = decode(raw)
    if isinstance(message, TransferError):
        raise PeerError(message.message)
    if not isinstance(message, kind):
        raise ProtocolViolation(
            f"expected a {_TYPE_NAMES[kind]} message, got a {_TYPE_NAMES[type(message)]} message"
        )
    return message


def close_reason(text: str) -> str:
    """``text`` cut to fit a close frame (at most 123 bytes of UTF-8, whole characters)."""
    return text.encode()[:MAX_CLOSE_REASON].decode(errors="ignore")


def _check_field(type_name: str, field: str, value: object, field_type: type[Any]) -> None:
    # bool is a subclass of int in Python, but true is no size.
    if not isinstance(value, field_type) or isinstance(value, bool):
        raise ProtocolViolation(
            f"{type_name}.{field} must be a {'string' if field_type is str else 'number'}"
        )
    if isinstance(value, int) and not 0 <= value <= MAX_FILE_SIZE:
        raise ProtocolViolation(f"{type_name}.{field} is out of range: {value}")
    if field == "sha256" and not _SHA256_HEX.fullmatch(str(value)):
        raise ProtocolViolation(f"{type_name}.sha256 must be 64 lowercase hex digits")
    if field == "message" and len(str(value)) > MAX_ERROR_TEXT:
        raise ProtocolViolation(f"{type_name}.message is longer than {MAX_ERROR_TEXT} characters")


def _preview(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
