"""The fast path of frame parsing: one whole small data frame in one call (RFC 6455 §5.2).

Most messages are small and arrive in one frame, whole in one read: final (FIN set), no
extension bits, text or binary, with a 7- or 16-bit length. :func:`whole_frame` takes
such a frame off the front of the receive buffer and returns its opcode and unmasked
payload, without the header and piece objects of the full parser. For anything else it
returns ``None`` and consumes nothing, and the full parser (``FrameParser.next_piece``)
takes the frame: fragments, control frames, extension bits, 64-bit lengths, frames not
all received yet, and every frame that breaks a rule (wrong masking, over the limit), so
that the errors and their close codes stay in one place.

It uses the compiled ``_speedups`` module when it was built at install time, and the
pure-Python version otherwise or when ``RAWSOCK_NO_SPEEDUPS`` is set; both give the same
result and leave the same buffer for the same bytes (``tests/sansio/test_whole_frame.py``
checks it on arbitrary input).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from ._accelerator import compiled_function
from ._mask import apply_mask

__all__ = ["whole_frame", "whole_frame_python"]

#: The first header byte of a whole plain data frame: FIN, no RSV bits, text or binary.
_WHOLE_FIRST_BYTES = frozenset({0x81, 0x82})

WholeFrame = Callable[[bytearray, bool, int], "tuple[int, bytes] | None"]


def whole_frame_python(
    buffer: bytearray, require_mask: bool, limit: int
) -> tuple[int, bytes] | None:
    """Take one whole, final, plain text or binary frame off the front of ``buffer``.

    Args:
        buffer: the receive buffer, starting at a frame boundary.
        require_mask: whether frames must be masked (a server's, §5.1).
        limit: the largest payload accepted in one frame; ``-1``: no limit.

    Returns:
        ``(opcode, payload)`` with the payload unmasked, the frame removed from
        ``buffer``; or ``None``, with ``buffer`` untouched, when the buffer does not start
        with such a frame entirely received (see the module docstring).
    """
    size = len(buffer)
    if size < 2:
        return None
    first = buffer[0]
    if first not in _WHOLE_FIRST_BYTES:
        return None
    second = buffer[1]
    if bool(second & 0x80) is not require_mask:
        return None
    length = second & 0x7F
    start = 2
    if length == 127:
        return None
    if length == 126:
        if size < 4:
            return None
        length = (buffer[2] << 8) | buffer[3]
        start = 4
    if 0 <= limit < length:
        return None
    if require_mask:
        end = start + 4 + length
        if size < end:
            return None
        key = bytes(buffer[start : start + 4])
        with memoryview(buffer) as view, view[start + 4 : end] as payload:
            data = apply_mask(payload, key)
    else:
        end = start + length
        if size < end:
            return None
        data = bytes(buffer[start:end])
    if end == size:
        buffer.clear()
    else:
        del buffer[:end]
    return first & 0x0F, data


whole_frame: WholeFrame = (
    cast("WholeFrame | None", compiled_function("whole_frame")) or whole_frame_python
)
