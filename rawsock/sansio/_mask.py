"""Payload masking (RFC 6455 §5.3): the one per-byte loop, kept in one place.

``apply_mask`` XORs the payload with the 4-byte key repeated. It uses the compiled
``_speedups`` module when it was built at install time (a word-at-a-time loop in C), and
the pure-Python fallback otherwise or when the ``RAWSOCK_NO_SPEEDUPS`` environment
variable is set. The fallback treats the whole payload as one big integer: CPython's
arbitrary-precision XOR runs in C over machine words, so the cost is a few linear passes
and no per-byte Python work.
"""

from __future__ import annotations

import os
from collections.abc import Callable

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
    if length == 0:
        return b""
    repeats, extra = divmod(length, 4)
    stream = key * repeats + key[:extra]
    masked = int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")
    return masked.to_bytes(length, "little")


def _load_accelerated() -> Callable[[bytes | bytearray | memoryview, bytes], bytes] | None:
    if os.environ.get("RAWSOCK_NO_SPEEDUPS"):
        return None
    try:
        from ._speedups import apply_mask as compiled  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:
        return None
    return compiled  # type: ignore[no-any-return]


_compiled = _load_accelerated()
#: Whether the compiled accelerator is in use (for masking, and for the parser's fast
#: paths in ``_whole_frame.py`` and ``_payload_buffer.py``, from the same extension):
#: False when it was not built at install time (no C compiler) or
#: ``RAWSOCK_NO_SPEEDUPS`` is set.
ACCELERATED = _compiled is not None
apply_mask: Callable[[bytes | bytearray | memoryview, bytes], bytes] = (
    _compiled or apply_mask_python
)
