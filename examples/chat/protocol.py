"""The chat's JSON message protocol: parsing and validating what clients send.

Every WebSocket message is one JSON object with a ``"type"``. Clients send::

    {"type": "hello", "nick": "ada"}                  first, once: choose a nickname
    {"type": "join", "room": "lobby"}                 enter a room (history is replayed)
    {"type": "leave", "room": "lobby"}
    {"type": "say", "room": "lobby", "text": "hi"}    a message to a room you are in
    {"type": "rooms"}                                 list rooms and member counts
    {"type": "members", "room": "lobby"}              list a room's members

The server sends ``welcome``, ``joined``, ``left``, ``message``, ``presence``, ``rooms``,
``members`` and ``error`` (see ``examples/chat/README.md``). Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_MESSAGE_SIZE",
    "MAX_TEXT",
    "ChatError",
    "Command",
    "Hello",
    "Join",
    "Leave",
    "ListMembers",
    "ListRooms",
    "Say",
    "encode",
    "parse",
]

#: The largest WebSocket message a client may send (the server's ``max_message_size``).
MAX_MESSAGE_SIZE = 8 * 1024
#: The longest chat message, in characters.
MAX_TEXT = 2000
#: Nicknames and room names: 1 to 32 letters, digits, ``_``, ``-`` or ``.``.
NAME = re.compile(r"[A-Za-z0-9_.\-]{1,32}")


class ChatError(Exception):
    """A request the server refuses; the client gets ``{"type": "error", ...}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def event(self) -> dict[str, Any]:
        """The error message sent to the client."""
        return {"type": "error", "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Hello:
    nick: str


@dataclass(frozen=True)
class Join:
    room: str


@dataclass(frozen=True)
class Leave:
    room: str


@dataclass(frozen=True)
class Say:
    room: str
    text: str


@dataclass(frozen=True)
class ListRooms:
    pass


@dataclass(frozen=True)
class ListMembers:
    room: str


Command = Hello | Join | Leave | Say | ListRooms | ListMembers


def parse(message: str | bytes) -> Command:
    """The command in one client message.

    Raises:
        ChatError: not a JSON object, an unknown type, or a missing or invalid field.
    """
    if not isinstance(message, str):
        raise ChatError("bad-request", "send JSON in text messages, not binary ones")
    try:
        data = json.loads(message)
    except ValueError:
        raise ChatError("bad-request", "not valid JSON") from None
    if not isinstance(data, dict):
        raise ChatError("bad-request", "a message must be a JSON object")
    kind = data.get("type")
    if kind == "hello":
        return Hello(_name(data, "nick"))
    if kind == "join":
        return Join(_name(data, "room"))
    if kind == "leave":
        return Leave(_name(data, "room"))
    if kind == "say":
        return Say(_name(data, "room"), _text(data))
    if kind == "rooms":
        return ListRooms()
    if kind == "members":
        return ListMembers(_name(data, "room"))
    raise ChatError("unknown-type", f"unknown message type {kind!r}")


def encode(event: dict[str, Any]) -> str:
    """A message as compact JSON text (to clients, and between servers and brokers)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def _name(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or NAME.fullmatch(value) is None:
        raise ChatError(
            f"bad-{field}", f"{field} must be 1-32 letters, digits, '_', '-' or '.'"
        )
    return value


def _text(data: dict[str, Any]) -> str:
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ChatError("bad-text", "text must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise ChatError("bad-text", f"text is limited to {MAX_TEXT} characters")
    return text
