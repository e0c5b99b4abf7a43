"""Holding the pieces of one message in memory proportional to its size (RFC 6455 §5.4).

A fragmented message may arrive as any number of frames, a million one-byte fragments
included (§5.4 puts no lower bound on a fragment's size). Kept as a list of pieces, each
piece costs a Python object (about 50 bytes for a one-byte ``bytes``, plus the list's
slot), so such a message would take about a hundred times its size. A :class:`Joiner`
gathers small pieces and joins them in groups, so the pieces it holds cost at most about
1.25 times their payload plus a constant, and joining them at the end adds one copy.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Joiner"]

_T = TypeVar("_T", str, bytes)

#: A piece at least this long (characters or bytes) is kept as it is.
_LARGE = 1024
#: Small pieces are joined once this many are waiting...
_GROUP_COUNT = 256
#: ...or once they add up to this much.
_GROUP_SIZE = 16 * 1024


class Joiner(Generic[_T]):
    """The pieces of one text (``str``) or binary (``bytes``) message, in order.

    Args:
        empty: ``""`` or ``b""``: the type of the pieces and of the result.

    Memory: every held object is either a piece of at least 1 KiB or the join of at least
    256 small pieces (or 16 KiB of them), so object overhead adds at most about a quarter
    to the payload; the small pieces waiting to be joined take at most about 32 KiB.
    """

    __slots__ = ("_empty", "_pieces", "_small", "_small_size", "size")

    def __init__(self, empty: _T) -> None:
        self._empty: _T = empty
        self._pieces: list[_T] = []
        self._small: list[_T] = []
        self._small_size = 0
        #: Characters (``str``) or bytes appended so far.
        self.size = 0

    def append(self, piece: _T) -> None:
        """Add the next piece (an empty one is ignored)."""
        length = len(piece)
        if not length:
            return
        self.size += length
        if length >= _LARGE:
            if self._small:
                self._join_small()
            self._pieces.append(piece)
            return
        small = self._small
        small.append(piece)
        self._small_size += length
        if len(small) >= _GROUP_COUNT or self._small_size >= _GROUP_SIZE:
            self._join_small()

    def join(self) -> _T:
        """Everything appended, as one ``str`` or ``bytes`` (the pieces are released)."""
        if self._small:
            self._join_small()
        pieces, self._pieces = self._pieces, []
        self.size = 0
        if len(pieces) == 1:
            return pieces[0]
        return self._empty.join(pieces)

    def _join_small(self) -> None:
        small = self._small
        self._pieces.append(small[0] if len(small) == 1 else self._empty.join(small))
        small.clear()
        self._small_size = 0
