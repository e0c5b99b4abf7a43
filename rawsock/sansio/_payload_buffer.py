"""A large frame's payload unmasked straight into the message's own bytes (RFC 6455 §5.3).

A large binary message that arrives in one frame comes over many reads. Unmasking each
read's part into a piece of its own and joining the pieces at the end costs a second
copy of the message and a second allocation of its size. With the compiled
``_speedups`` module, the parser instead makes the message's ``bytes`` object once the
frame's header has come (:func:`payload_buffer`, which only reserves it: the pages of a
large one are not touched until written) and unmasks each part into it at its place
(:func:`unmask_into`). The object stays private to the parser until every byte is
written, and is then the message. Without the accelerator (or with
``RAWSOCK_NO_SPEEDUPS`` set), ``AVAILABLE`` is false and such frames come in pieces as
any other; the events are the same (``tests/sansio/test_whole_frame.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from ._accelerator import compiled_function

__all__ = ["AVAILABLE", "payload_buffer", "unmask_into"]


Fill = Callable[[bytes, int, memoryview, bytes | None], None]


def _missing_payload_buffer(size: int) -> bytes:
    raise RuntimeError("payload_buffer needs the compiled accelerator")


def _missing_unmask_into(target: bytes, offset: int, data: memoryview, key: bytes | None) -> None:
    raise RuntimeError("unmask_into needs the compiled accelerator")


_make = cast("Callable[[int], bytes] | None", compiled_function("payload_buffer"))
_fill = cast("Fill | None", compiled_function("unmask_into"))
#: Whether large frames are unmasked into the message's own bytes (the accelerator).
AVAILABLE = _make is not None and _fill is not None
#: ``payload_buffer(size)``: a new ``bytes`` of ``size`` bytes, not yet written.
payload_buffer: Callable[[int], bytes] = _make or _missing_payload_buffer
#: ``unmask_into(target, offset, data, key)``: ``data`` unmasked with ``key`` (``None``:
#: not masked) written into ``target`` at ``offset``, its position in the payload.
unmask_into: Fill = _fill or _missing_unmask_into
