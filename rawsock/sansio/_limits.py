"""How a connection's receive limits fall on its frames (RFC 6455 §10.4, RFC 7692 §6).

``max_message_size`` bounds a message; ``max_frame_size`` (by default the same) bounds a
frame. With permessage-deflate a compressed frame counts by what it decompresses to (the
message limit, checked while inflating), so on the wire it may take a little more than
the frame limit (incompressible data grows when deflated): the parser then holds frames
to that bound, and only uncompressed frames to the frame limit itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._deflate import compressed_bound

__all__ = ["FrameLimits", "frame_limits"]


@dataclass(frozen=True, slots=True)
class FrameLimits:
    """The limits the parser and the assembler hold frames to."""

    #: The largest frame on the wire (the parser's ``max_frame_size``); ``None``: none.
    wire: int | None
    #: The frame limit for uncompressed frames, when ``wire`` is above it; else ``None``.
    uncompressed: int | None
    #: The largest frame the parser may collect whole (``FrameParser.collect_up_to``):
    #: within every limit that could stop it before it is complete; 0 without a
    #: message limit.
    collect_up_to: int


def frame_limits(
    max_message_size: int | None, max_frame_size: int | None, *, compressed: bool
) -> FrameLimits:
    """The frame limits for these options (``compressed``: deflate was negotiated)."""
    frame_limit = max_message_size if max_frame_size is None else max_frame_size
    wire = frame_limit
    if compressed and frame_limit is not None:
        wire = compressed_bound(frame_limit)
    uncompressed = frame_limit if wire != frame_limit else None
    collect_up_to = 0  # (a collected frame is uncompressed: the frame limit holds too)
    if max_message_size is not None and frame_limit is not None:
        collect_up_to = min(max_message_size, frame_limit)
    return FrameLimits(wire, uncompressed, collect_up_to)
