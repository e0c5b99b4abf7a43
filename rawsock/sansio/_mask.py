"""Payload masking (RFC 6455 §5.3): the one per-byte loop, kept in one place.

``apply_mask`` XORs the payload with the 4-byte key repeated. Pure Python does this
fastest by treating the whole payload as one big integer: CPython's arbitrary-precision
XOR runs in C over machine words, so the cost is a few linear passes and no per-byte
Python work.
"""

from __future__ import annotations

__all__ = ["apply_mask"]


def apply_mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte masking ``key`` (RFC 6455 §5.3).

    Masking is its own inverse: ``apply_mask(apply_mask(d, k), k) == d``.

    Args:
        data: the payload (or any part of it that starts at a multiple of 4 bytes
            from the payload start).
        key: the 4-byte masking key from the frame header.
    """
    length = len(data)
    if length == 0:
        return b""
    repeats, extra = divmod(length, 4)
    stream = key * repeats + key[:extra]
    masked = int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")
    return masked.to_bytes(length, "little")
