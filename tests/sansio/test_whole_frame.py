"""The parser's fast paths (RFC 6455 §5.2, §5.3): compiled, pure Python and the full parser agree.

Three ways to parse the same bytes must give the same events, errors, close codes and
replies: the compiled ``whole_frame``, its pure-Python version, and no fast path at all
(every frame through ``FrameParser.next_piece``, none collected). The bytes are
arbitrary, or frames of every kind (valid or not, masked or not, any length class) cut
at arbitrary points; the collecting threshold is lowered so that short frames are
collected too (``_payload_buffer.py``, when the accelerator is there).
"""

from __future__ import annotations

import importlib
import itertools
import shutil
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rawsock.sansio import _frames, _payload_buffer, _whole_frame
from rawsock.sansio._errors import RemoteProtocolError
from rawsock.sansio._events import BinaryMessage, MessageChunk, TextMessage
from rawsock.sansio._mask import apply_mask_python
from rawsock.sansio._protocol import Protocol, Role

HAVE_COMPILER = bool(shutil.which("cc") or shutil.which("gcc"))
needs_compiler = pytest.mark.skipif(
    not HAVE_COMPILER, reason="no C compiler: the accelerator cannot exist"
)

WholeFrame = Callable[[bytearray, bool, int], "tuple[int, bytes] | None"]


def compiled() -> WholeFrame:
    """The accelerator itself (whatever RAWSOCK_NO_SPEEDUPS says for the module)."""
    return importlib.import_module("rawsock.sansio._speedups").whole_frame  # type: ignore[no-any-return]


def no_fast_path(buffer: bytearray, require_mask: bool, limit: int) -> None:
    return None


@st.composite
def frame(draw: st.DrawFn) -> bytes:
    """One frame, valid or not: any first byte, masked or not, 7/16/64-bit lengths."""
    first = draw(st.sampled_from([0x81, 0x82, 0x80, 0x01, 0x02, 0x88, 0x89, 0x8A, 0xC1, 0x83]))
    first = draw(st.one_of(st.just(first), st.integers(0, 255)))
    payload = draw(st.binary(max_size=300))
    masked = draw(st.booleans())
    form = draw(st.sampled_from(["short", "16", "64"]))
    length = len(payload)
    if form == "short" and length < 126:
        header = bytes([first, length | (0x80 if masked else 0)])
    elif form == "64":
        header = bytes([first, 127 | (0x80 if masked else 0)]) + struct.pack("!Q", length)
    else:
        header = bytes([first, 126 | (0x80 if masked else 0)]) + struct.pack("!H", length)
    if not masked:
        return header + payload
    key = draw(st.binary(min_size=4, max_size=4))
    return header + key + apply_mask_python(payload, key)


streams = st.one_of(
    st.lists(frame(), max_size=8).map(b"".join),
    st.binary(max_size=400),
    st.lists(st.one_of(frame(), st.binary(max_size=6)), max_size=8).map(b"".join),
)


@needs_compiler
@given(st.binary(max_size=300), st.booleans(), st.integers(-1, 300))
def test_compiled_and_python_agree_on_any_bytes(data: bytes, mask: bool, limit: int) -> None:
    python_buffer, compiled_buffer = bytearray(data), bytearray(data)
    assert compiled()(compiled_buffer, mask, limit) == _whole_frame.whole_frame_python(
        python_buffer, mask, limit
    )
    assert compiled_buffer == python_buffer


@needs_compiler
@given(frame(), st.binary(max_size=20), st.booleans(), st.integers(-1, 300))
def test_compiled_and_python_agree_on_frames(
    first: bytes, rest: bytes, mask: bool, limit: int
) -> None:
    python_buffer, compiled_buffer = bytearray(first + rest), bytearray(first + rest)
    assert compiled()(compiled_buffer, mask, limit) == _whole_frame.whole_frame_python(
        python_buffer, mask, limit
    )
    assert compiled_buffer == python_buffer


def test_takes_a_whole_masked_frame_and_leaves_the_rest() -> None:
    key = b"\x01\x02\x03\x04"
    buffer = bytearray(b"\x82\x85" + key + apply_mask_python(b"hello", key) + b"\x81")
    assert _whole_frame.whole_frame_python(buffer, True, -1) == (2, b"hello")
    assert buffer == b"\x81"


@pytest.mark.parametrize(
    ("data", "mask", "limit"),
    [
        (b"\x02\x00", False, -1),  # not final
        (b"\xc1\x00", False, -1),  # RSV1
        (b"\x89\x00", False, -1),  # a control frame
        (b"\x82\x80abcd", False, -1),  # masked where it must not be
        (b"\x82\x01", False, -1),  # the payload has not come yet
        (b"\x82\x05hello", False, 4),  # over the limit
        (b"\x82\x7f" + bytes(8), False, -1),  # a 64-bit length
        (b"\x82\x7e\x00", False, -1),  # the 16-bit length has not all come
    ],
)
def test_leaves_everything_else_to_the_full_parser(data: bytes, mask: bool, limit: int) -> None:
    implementations = [_whole_frame.whole_frame_python] + ([compiled()] if HAVE_COMPILER else [])
    for implementation in implementations:
        buffer = bytearray(data)
        assert implementation(buffer, mask, limit) is None
        assert buffer == data


@contextmanager
def fast_path(implementation: WholeFrame, collect_min: int) -> Iterator[None]:
    """Make the parser use ``implementation`` for whole frames, and collect frames of
    at least ``collect_min`` bytes."""
    saved = _frames.whole_frame, _frames.COLLECT_MIN  # type: ignore[attr-defined]
    _frames.whole_frame = implementation  # type: ignore[attr-defined]
    _frames.COLLECT_MIN = collect_min
    try:
        yield
    finally:
        _frames.whole_frame, _frames.COLLECT_MIN = saved  # type: ignore[attr-defined]


NEVER = 1 << 62


def implementations() -> list[WholeFrame]:
    """The fast paths to compare with none: pure Python, and compiled if it can be."""
    return [_whole_frame.whole_frame_python] + ([compiled()] if HAVE_COMPILER else [])


def messages_of(results: list[object]) -> list[object]:
    """``outcome`` with chunks joined into messages, and the held byte counts and the
    chunks of a message never finished left out: what ``receive()`` makes of the
    events, however a message was cut or collected."""
    joined: list[object] = []
    pieces: list[str | bytes] = []
    for result in results:
        if isinstance(result, int):
            continue
        if not isinstance(result, list):
            joined.append(result)
            continue
        for event in result:
            if isinstance(event, MessageChunk):
                pieces.append(event.data)
                if event.final:
                    whole = "".join(pieces) if isinstance(event.data, str) else b"".join(pieces)  # type: ignore[arg-type]
                    joined.append(("message", type(event.data), whole))
                    pieces = []
            elif isinstance(event, TextMessage | BinaryMessage):
                joined.append(("message", type(event.data), event.data))
            else:
                joined.append(event)
    return joined  # (the pieces of a message never finished are no message)


def outcome(
    implementation: WholeFrame,
    role: Role,
    data: bytes,
    cuts: list[int],
    limit: int | None,
    *,
    chunked: bool = False,
) -> list[object]:
    """What a protocol makes of ``data`` read in pieces cut at ``cuts``."""
    results: list[object] = []
    with fast_path(implementation, NEVER if implementation is no_fast_path else 2):
        protocol = Protocol(role, max_message_size=limit, random_bytes=bytes, chunked=chunked)
        start = 0
        for end in [*sorted(cuts), len(data)]:
            results.append(protocol.buffered)
            try:
                protocol.receive_data(data[start:end], max_pieces=3)
                while protocol.has_unparsed_input:
                    protocol.parse_buffered(max_pieces=3)
            except RemoteProtocolError as error:
                results.append(("error", error.code, str(error)))
                protocol.fail(error)
                break
            finally:
                results.append(protocol.events())
            start = end
        results.append((protocol.state, protocol.close_received, protocol.data_to_send()))
    return results


@settings(max_examples=300)
@given(
    streams,
    st.lists(st.integers(0, 400), max_size=5),
    st.sampled_from([Role.SERVER, Role.CLIENT]),
    st.sampled_from([None, 0, 5, 130, 1000]),
    st.booleans(),
)
def test_the_fast_path_changes_nothing(
    data: bytes, cuts: list[int], role: Role, limit: int | None, chunked: bool
) -> None:
    cuts = [cut for cut in cuts if cut <= len(data)]
    expected = outcome(no_fast_path, role, data, cuts, limit, chunked=chunked)
    for implementation in implementations():
        result = outcome(implementation, role, data, cuts, limit, chunked=chunked)
        if chunked:  # a collected frame comes whole instead of in chunks: compare messages
            assert messages_of(result) == messages_of(expected)
        else:
            assert result == expected


@st.composite
def binary_frames(draw: st.DrawFn, masked: bool) -> bytes:
    """Valid final binary frames (the ones that may be collected), any length class."""
    payload = draw(st.binary(max_size=300))
    header = bytes([0x82]) + (
        bytes([len(payload) | (0x80 if masked else 0)])
        if len(payload) < 126 and draw(st.booleans())
        else bytes([126 | (0x80 if masked else 0)]) + struct.pack("!H", len(payload))
    )
    if not masked:
        return header + payload
    key = draw(st.binary(min_size=4, max_size=4))
    return header + key + apply_mask_python(payload, key)


@settings(max_examples=200)
@given(
    st.data(),
    st.lists(st.integers(0, 2000), max_size=6),
    st.sampled_from([Role.SERVER, Role.CLIENT]),
    st.booleans(),
)
def test_frames_collected_across_reads_change_nothing(
    data: st.DataObject, cuts: list[int], role: Role, chunked: bool
) -> None:
    frames = data.draw(st.lists(binary_frames(masked=role is Role.SERVER), min_size=1, max_size=6))
    stream = b"".join(frames)
    cuts = [cut for cut in cuts if cut <= len(stream)]
    if chunked:
        expected_messages = messages_of(
            outcome(no_fast_path, role, stream, cuts, 1000, chunked=True)
        )
        for implementation in implementations():
            result = outcome(implementation, role, stream, cuts, 1000, chunked=True)
            assert messages_of(result) == expected_messages
        return
    expected = outcome(no_fast_path, role, stream, cuts, 1000)
    assert outcome(_whole_frame.whole_frame_python, role, stream, cuts, 1000) == expected
    if HAVE_COMPILER:
        assert outcome(compiled(), role, stream, cuts, 1000) == expected


@needs_compiler
@given(
    st.binary(min_size=1, max_size=3000),
    st.lists(st.integers(0, 3000)),
    st.binary(min_size=4, max_size=4),
)
def test_unmask_into_matches_masking(data: bytes, cuts: list[int], key: bytes) -> None:
    speedups = importlib.import_module("rawsock.sansio._speedups")
    target = speedups.payload_buffer(len(data))
    bounds = [0, *sorted(cut for cut in cuts if cut < len(data)), len(data)]
    for start, end in itertools.pairwise(bounds):
        speedups.unmask_into(target, start, memoryview(data)[start:end], key)
    assert target == apply_mask_python(data, key)


@needs_compiler
def test_unmask_into_refuses_to_write_past_its_target() -> None:
    speedups = importlib.import_module("rawsock.sansio._speedups")
    target = speedups.payload_buffer(4)
    with pytest.raises(ValueError):
        speedups.unmask_into(target, 2, memoryview(b"abc"), b"abcd")
    with pytest.raises(ValueError):
        speedups.unmask_into(target, -1, memoryview(b"a"), b"abcd")
    with pytest.raises(TypeError):
        speedups.unmask_into(bytearray(4), 0, memoryview(b"a"), None)
    with pytest.raises(ValueError):
        speedups.unmask_into(target, 0, memoryview(b"a"), b"abc")  # a key of 3 bytes
    with pytest.raises(ValueError):
        speedups.payload_buffer(0)


@pytest.mark.parametrize("read", [1000, 65536, 300_000])
def test_a_large_binary_frame_comes_whole_with_the_same_bytes(read: int) -> None:
    """At the real threshold: collected with the accelerator, in pieces without."""
    payload = bytes(range(256)) * 1200  # 300 KiB
    key = b"\x0f\x1e\x2d\x3c"
    frame = b"\x82\xff" + struct.pack("!Q", len(payload)) + key + apply_mask_python(payload, key)
    protocol = Protocol(Role.SERVER, max_message_size=len(payload))
    events = []
    held = []
    for start in range(0, len(frame), read):
        protocol.receive_data(frame[start : start + read])
        events += protocol.events()
        held.append(protocol.buffered)
    assert [event.data for event in events] == [payload]  # type: ignore[attr-defined]
    assert held[-1] == 0
    if _payload_buffer.AVAILABLE and read < len(frame):
        assert max(held[:-1]) <= len(payload)  # what came so far, held once
