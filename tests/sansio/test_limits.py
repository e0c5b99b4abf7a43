"""How the receive limits fall on frames (RFC 6455 §10.4, RFC 7692 §6)."""

from __future__ import annotations

from rawsock.sansio._deflate import compressed_bound
from rawsock.sansio._limits import FrameLimits, frame_limits


def test_the_frame_limit_is_the_message_limit_by_default() -> None:
    assert frame_limits(1000, None, compressed=False) == FrameLimits(1000, None, 1000)


def test_a_frame_limit_of_its_own() -> None:
    assert frame_limits(1000, 100, compressed=False) == FrameLimits(100, None, 100)


def test_compressed_frames_may_take_more_on_the_wire() -> None:
    limits = frame_limits(1000, None, compressed=True)
    assert limits.wire == compressed_bound(1000) > 1000
    assert limits.uncompressed == 1000  # uncompressed frames are held to the limit itself
    assert limits.collect_up_to == 1000


def test_collecting_stays_within_the_smallest_limit_and_needs_a_message_limit() -> None:
    assert frame_limits(1000, 100, compressed=True).collect_up_to == 100
    assert frame_limits(None, 100, compressed=False).collect_up_to == 0
    assert frame_limits(None, None, compressed=False) == FrameLimits(None, None, 0)
