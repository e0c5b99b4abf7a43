"""Payload masking (RFC 6455 §5.3): the one per-byte loop, kept in one place.

``apply_mask`` XORs the payload with the 4-byte key repeated. It uses the compiled
``_speedups`` module when it was built at install time (a word-at-a-time loop in C), and
the pure-Python fallback otherwise or when the ``RAWSOCK_NO_SPEEDUPS`` environment
variable is set. The fallback treats each 16 KiB block of the payload as one big
integer: CPython's arbitrary-precision XOR runs in C over machine words, so the cost is
a few linear passes and no per-byte Python work, and its temporaries stay a block's
size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from ._accelerator import compiled_function

__all__ = ["ACCELERATED", "apply_mask", "apply_mask_python"]


def apply_mask_python(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte masking ``key`` (RFC 6455 §5.3).

    Masking is its own inverse: ``apply_mask(apply_mask(d, k), k) == d``.

    Args:
        data: the payload (or any part of it that starts at a multiple of 4 bytes
            from the payload start).
        key: the 4-byte masking key from the frame header.
    """
    length = len(data)
    if length <= _BLOCK:
        return _mask_block(data, key, length)
    # Block by block into the result, so that the big integers and the key stream
    # take a block's size, not the payload's: memory stays within twice the payload.
    result = bytearray(length)
    block_key = int.from_bytes(key * (_BLOCK // 4), "little")
    with memoryview(data) as view:
        for start in range(0, length - _BLOCK + 1, _BLOCK):
            with view[start : start + _BLOCK] as block:
                masked = int.from_bytes(block, "little") ^ block_key
                result[start : start + _BLOCK] = masked.to_bytes(_BLOCK, "little")
        tail = length % _BLOCK
        if tail:
            with view[length - tail :] as block:
                result[length - tail :] = _mask_block(block, key, tail)
    return bytes(result)


#: Bytes masked at a time by the pure-Python fallback (a multiple of 4).
_BLOCK = 16 * 1024


def _mask_block(data: bytes | bytearray | memoryview, key: bytes, length: int) -> bytes:
    if length == 0:
        return b""
    repeats, extra = divmod(length, 4)
    stream = key * repeats + key[:extra]
    masked = int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")
    return masked.to_bytes(length, "little")


_compiled = cast(
    "Callable[[bytes | bytearray | memoryview, bytes], bytes] | None",
    compiled_function("apply_mask"),
)
#: Whether the compiled accelerator is in use (for masking, and for the parser's fast
#: paths in ``_whole_frame.py`` and ``_payload_buffer.py``, from the same extension):
#: False when it was not built at install time (no C compiler) or
#: ``RAWSOCK_NO_SPEEDUPS`` is set.
ACCELERATED = _compiled is not None
apply_mask: Callable[[bytes | bytearray | memoryview, bytes], bytes] = (
    _compiled or apply_mask_python
)
