"""Which end of a connection this is, and where the connection is (RFC 6455 §4.1, §7)."""

from __future__ import annotations

import enum

__all__ = ["Role", "State"]


class Role(enum.Enum):
    """Which end of the connection this is; it decides masking (§5.1, §5.3)."""

    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    """Connection states after the opening handshake (§4.1 "OPEN", §7)."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
