"""The frame boundaries of received HTTP/2 bytes, seen before h2 parses them (RFC 9113 §4.1).

h2 parses every frame, with two exceptions taken out here: GOAWAY (§6.8), because h2
stops a connection as soon as one arrives, when the RFC lets the streams it does not
cancel run to their end (that is how a server shuts down gracefully); and the counting
of frames that cost work without carrying anything for the application (PING, SETTINGS,
PRIORITY, RST_STREAM, empty DATA), for the flood limits of ``_http2_limits.py``.

:class:`FrameSplitter` keeps at most one frame header (9 bytes) and one GOAWAY payload;
every other frame's bytes pass through as they arrive, in order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["CLIENT_PREFACE", "FrameSplitter", "GoAway", "encode_goaway"]

#: What a client sends before its first frame (§3.4).
CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEADER = struct.Struct(">BHBBL")  # length (24 bits: 8 + 16), type, flags, stream id
_GOAWAY = 0x7
_DATA, _PRIORITY, _RST_STREAM, _SETTINGS, _PING = 0x0, 0x2, 0x3, 0x4, 0x6
_END_STREAM = 0x1
#: The most bytes of a GOAWAY payload kept (its debug data is dropped past it).
_MAX_GOAWAY = 16 * 1024 + 8


@dataclass(frozen=True)
class GoAway:
    """A GOAWAY frame: the last stream the sender will process, and its error code."""

    last_stream_id: int
    error_code: int


def encode_goaway(last_stream_id: int, error_code: int = 0) -> bytes:
    """A GOAWAY frame (§6.8) with no debug data."""
    return _HEADER.pack(0, 8, _GOAWAY, 0, 0) + struct.pack(">LL", last_stream_id, error_code)


class FrameSplitter:
    """Splits received bytes into what goes to h2 and the GOAWAY frames kept out of it.

    Args:
        preface: bytes that come before the first frame (the client preface, on a server).
    """

    __slots__ = ("_goaway", "_header", "_passing", "_preface", "_skipping", "controls", "resets")

    def __init__(self, preface: int = 0) -> None:
        self._preface = preface  # preface bytes still to pass through
        self._header = bytearray()
        self._passing = 0  # bytes of the current frame still to pass to h2
        self._skipping = 0  # bytes of an overlong GOAWAY to drop
        self._goaway: bytearray | None = None  # the GOAWAY payload being collected
        #: Control frames seen so far (PING, SETTINGS, PRIORITY, empty DATA).
        self.controls = 0
        #: RST_STREAM frames seen so far.
        self.resets = 0

    def feed(self, data: bytes | bytearray) -> tuple[bytes, list[GoAway]]:
        """The bytes for h2 out of ``data``, and the complete GOAWAY frames in it."""
        out = bytearray()
        goaways: list[GoAway] = []
        view = memoryview(data)
        while view:
            if self._preface:
                taken = min(self._preface, len(view))
                out += view[:taken]
                self._preface -= taken
                view = view[taken:]
            elif self._passing:
                taken = min(self._passing, len(view))
                out += view[:taken]
                self._passing -= taken
                view = view[taken:]
            elif self._goaway is not None:
                view = self._collect_goaway(view, goaways)
            elif self._skipping:
                taken = min(self._skipping, len(view))
                self._skipping -= taken
                view = view[taken:]
            else:
                taken = min(_HEADER.size - len(self._header), len(view))
                self._header += view[:taken]
                view = view[taken:]
                if len(self._header) == _HEADER.size:
                    self._start_frame(out)
        return bytes(out), goaways

    def take_counts(self) -> tuple[int, int]:
        """The control frames and RST_STREAM frames seen since the last call."""
        counts = self.controls, self.resets
        self.controls = self.resets = 0
        return counts

    def _start_frame(self, out: bytearray) -> None:
        high, low, kind, flags, _ = _HEADER.unpack(self._header)
        length = high << 16 | low
        header = bytes(self._header)
        self._header.clear()
        if kind == _GOAWAY:
            self._goaway = bytearray()
            self._passing = 0
            self._skipping = length
            if length < 8:  # malformed: h2 reports the FRAME_SIZE_ERROR
                self._goaway = None
                self._skipping = 0
                out += header
                self._passing = length
            return
        if kind in (_PING, _SETTINGS, _PRIORITY) or (
            kind == _DATA and length == 0 and not flags & _END_STREAM
        ):
            self.controls += 1
        elif kind == _RST_STREAM:
            self.resets += 1
        out += header
        self._passing = length

    def _collect_goaway(self, view: memoryview, goaways: list[GoAway]) -> memoryview:
        assert self._goaway is not None
        taken = min(self._skipping, len(view))
        room = max(0, _MAX_GOAWAY - len(self._goaway))
        self._goaway += view[: min(taken, room)]
        self._skipping -= taken
        if not self._skipping:
            last, code = struct.unpack_from(">LL", self._goaway)
            goaways.append(GoAway(last & 0x7FFFFFFF, code))
            self._goaway = None
        return view[taken:]
