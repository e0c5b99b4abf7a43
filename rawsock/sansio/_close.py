"""Close codes and the close frame payload (RFC 6455 §5.5.1, §7.4)."""

from __future__ import annotations

import enum

from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = ["CloseCode", "decode_close_payload", "encode_close_payload", "is_sendable_code"]

#: Largest control frame payload (RFC 6455 §5.5): 2 bytes of code leave 123 for the reason.
MAX_CLOSE_REASON_BYTES = 123


class CloseCode(enum.IntEnum):
    """Close status codes defined by RFC 6455 §7.4.1 (and the IANA registry, §11.7)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


# Codes in 1000-2999 that may appear in a close frame; 1004 is reserved and 1005, 1006
# and 1015 "MUST NOT be set as a status code in a Close control frame" (§7.4.1).
_SENDABLE_PROTOCOL_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)


def is_sendable_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame on the wire (RFC 6455 §7.4).

    Codes 3000-4999 are for libraries, frameworks and applications (§7.4.2); below
    3000 only the registered codes that are not reserved for local use are valid.
    """
    return code in _SENDABLE_PROTOCOL_CODES or 3000 <= code <= 4999


def decode_close_payload(payload: bytes) -> tuple[int, str]:
    """Parse a received close frame's payload (RFC 6455 §5.5.1).

    Returns:
        ``(code, reason)``; ``(1005, "")`` for an empty payload, which means "no status
        code was present" (§7.1.5).

    Raises:
        RemoteProtocolError: code 1002 for a 1-byte payload or a code that may not be
            sent; code 1007 for a reason that is not valid UTF-8 (§5.5.1: "the data
            ... is not guaranteed to be human readable" but it MUST be UTF-8).
    """
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise RemoteProtocolError("close frame payload of 1 byte", 1002)
    code = int.from_bytes(payload[:2], "big")
    if not is_sendable_code(code):
        raise RemoteProtocolError(f"invalid close code {code}", 1002)
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("close reason is not valid UTF-8", 1007) from None
    return code, reason


def encode_close_payload(code: int | None, reason: str = "") -> bytes:
    """Build a close frame payload to send (RFC 6455 §5.5.1).

    Args:
        code: the status code, or ``None`` (or 1005) for an empty payload.
        reason: a UTF-8 reason of at most 123 bytes; only allowed with a code.

    Raises:
        LocalProtocolError: for a code that may not be sent or a reason that is too
            long (control frames carry at most 125 bytes, §5.5).
    """
    if code is None or code == 1005:
        if reason:
            raise LocalProtocolError("a close reason needs a close code")
        return b""
    if not is_sendable_code(code):
        raise LocalProtocolError(f"close code {code} may not be sent in a close frame")
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_CLOSE_REASON_BYTES:
        raise LocalProtocolError(
            f"close reason is {len(encoded)} bytes; at most {MAX_CLOSE_REASON_BYTES} fit"
        )
    return code.to_bytes(2, "big") + encoded
