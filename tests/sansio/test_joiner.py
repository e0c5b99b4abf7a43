"""Holding a message's pieces: the order and content kept, memory close to the payload."""

from __future__ import annotations

import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from rawsock.sansio._joiner import Joiner


@given(st.lists(st.binary(max_size=2000), max_size=600))
def test_bytes_join_as_one(pieces: list[bytes]) -> None:
    joiner = Joiner(b"")
    for piece in pieces:
        joiner.append(piece)
    assert joiner.size == sum(map(len, pieces))
    assert joiner.join() == b"".join(pieces)
    assert joiner.join() == b"" and joiner.size == 0  # released


@given(st.lists(st.text(max_size=1500), max_size=600))
def test_text_joins_as_one(pieces: list[str]) -> None:
    joiner = Joiner("")
    for piece in pieces:
        joiner.append(piece)
    assert joiner.join() == "".join(pieces)


def test_a_single_large_piece_is_not_copied() -> None:
    piece = bytes(100_000)
    joiner = Joiner(b"")
    joiner.append(piece)
    assert joiner.join() is piece


def test_many_tiny_pieces_cost_about_their_size() -> None:
    """200,000 two-byte pieces: kept as a list, they would take about 60 bytes each."""
    pieces = [b"%02d" % (i % 100) for i in range(200_000)]  # made before measuring
    tracemalloc.start()
    try:
        joiner = Joiner(b"")
        for piece in pieces:
            joiner.append(piece)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held <= 1.25 * 400_000 + 40_000, held
    assert joiner.join() == b"".join(pieces)
