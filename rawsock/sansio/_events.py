"""Events the core produces from received bytes (RFC 6455 §5.4-§5.6)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BinaryMessage",
    "CloseReceived",
    "Event",
    "MessageChunk",
    "Ping",
    "Pong",
    "TextMessage",
]


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A complete text message (opcode 0x1 and its continuations), decoded."""

    data: str


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    """A complete binary message (opcode 0x2 and its continuations)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class MessageChunk:
    """The next part of a message that arrives in pieces (``Protocol(chunked=True)``).

    Attributes:
        data: ``str`` for a text message (validated UTF-8, never a split character;
            possibly ``""``), ``bytes`` for a binary one.
        first: this chunk starts a message.
        final: this chunk ends it.
        size: payload bytes of the message announced so far: by frame headers for an
            uncompressed message (so it can exceed what has arrived), or decompressed so
            far for a compressed one.
    """

    data: str | bytes
    first: bool
    final: bool
    size: int


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping (§5.5.2). The core has already queued the matching pong."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong (§5.5.3), solicited or not."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer's close frame (§5.5.1); ``code`` is 1005 when it carried none."""

    code: int
    reason: str


Event = TextMessage | BinaryMessage | MessageChunk | Ping | Pong | CloseReceived
