"""One frame's syntax (RFC 6455 §5.2): encoding, and an incremental parser.

Theory of operation: :class:`FrameParser` owns the receive buffer. ``feed()`` appends
bytes; ``next_piece()`` returns the next :class:`Piece`: a frame header together with
the part of its payload that has arrived (unmasked), so a large frame is delivered as
several pieces as its bytes come in. That lets the layer above check a message's size
against the header before any payload is buffered (§10.4) and fail fast on invalid
UTF-8 in the middle of a frame (§8.1). Control frames (at most 125 bytes, §5.5) are
always delivered whole, in one piece.

Every check that needs only the header happens here, as soon as the header is complete;
the checks that need message context (fragmentation, sizes across frames, UTF-8) live in
``_assembler.py``.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from ._errors import LocalProtocolError, RemoteProtocolError
from ._mask import apply_mask
from ._payload_buffer import AVAILABLE as _CAN_COLLECT
from ._payload_buffer import payload_buffer, unmask_into
from ._whole_frame import whole_frame

__all__ = [
    "FrameHeader", "FrameParser", "Opcode", "Piece", "encode_frame", "encode_frame_parts",
    "extended_length",
]

MAX_CONTROL_PAYLOAD = 125
#: A binary frame whose payload is at least this long, not all received, is collected
#: into one buffer (see ``FrameParser.collect_up_to``).
COLLECT_MIN = 64 * 1024

_PACK_16 = struct.Struct("!BBH").pack
_PACK_64 = struct.Struct("!BBQ").pack
_UNPACK_16 = struct.Struct("!H").unpack_from
_UNPACK_64 = struct.Struct("!Q").unpack_from


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2, §11.8). 3-7 and 11-15 are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """Control frames have opcodes with the high bit set (§5.5)."""
        return self >= 0x8


_OPCODES = {op.value: op for op in Opcode}

RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10


@dataclass(slots=True)
class FrameHeader:
    """A parsed frame header (RFC 6455 §5.2)."""

    opcode: Opcode
    fin: bool
    rsv: int  # the RSV1-3 bits, in place (a mask of RSV1 | RSV2 | RSV3)
    length: int
    mask_key: bytes | None


@dataclass(slots=True)
class Piece:
    """A frame header and the next part of its (unmasked) payload.

    ``first`` is true for the first piece of a frame, ``last`` for the piece that ends it.
    A frame with an empty payload arrives as one piece that is both.
    """

    header: FrameHeader
    data: bytes
    first: bool
    last: bool


def encode_frame(
    opcode: Opcode,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask_key: bytes | None = None,
) -> bytes:
    """Encode one frame (RFC 6455 §5.2).

    Args:
        opcode: the frame's opcode.
        payload: the (unmasked) payload.
        fin: whether this is the final fragment of its message (§5.4).
        rsv: RSV bits to set (only an extension may set them, §5.2).
        mask_key: the 4-byte masking key; clients MUST mask every frame (§5.3),
            servers MUST NOT.

    Raises:
        LocalProtocolError: a control frame that is fragmented or longer than 125 bytes.
    """
    length = len(payload)
    if length < 126 and mask_key is None and opcode < 0x8:  # (a server's small message)
        return bytes(((0x80 if fin else 0) | rsv | opcode, length)) + payload
    header = _frame_header(opcode, length, fin, rsv, mask_key)
    if mask_key is None:
        return header + payload
    return header + apply_mask(payload, mask_key)


def encode_frame_parts(
    opcode: Opcode,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask_key: bytes | None = None,
) -> tuple[bytes, bytes]:
    """:func:`encode_frame` in two parts, not joined: the header (with the masking key)
    and the payload (masked by a client), so that a large payload is written as it is
    rather than copied behind its header."""
    header = _frame_header(opcode, len(payload), fin, rsv, mask_key)
    return header, payload if mask_key is None else apply_mask(payload, mask_key)


def _frame_header(
    opcode: Opcode, length: int, fin: bool, rsv: int, mask_key: bytes | None
) -> bytes:
    """A frame's header (§5.2), the masking key included."""
    if opcode >= 0x8 and (length > MAX_CONTROL_PAYLOAD or not fin):
        raise LocalProtocolError("control frames are at most 125 bytes and never fragmented")
    first = (0x80 if fin else 0) | rsv | opcode
    if mask_key is None:
        if length < 126:
            return bytes((first, length))
        if length < 0x10000:
            return _PACK_16(first, 126, length)
        return _PACK_64(first, 127, length)
    if length < 126:
        return bytes((first, 0x80 | length)) + mask_key
    if length < 0x10000:
        return _PACK_16(first, 0xFE, length) + mask_key
    return _PACK_64(first, 0xFF, length) + mask_key


def extended_length(buffer: bytearray, length: int) -> tuple[int, int] | None:
    """The 16- or 64-bit payload length that follows a 7-bit length of 126 or 127, and
    the header's size up to it (§5.2); ``None`` while its bytes have not all come."""
    if length == 126:
        return (_UNPACK_16(buffer, 2)[0], 4) if len(buffer) >= 4 else None
    return (_UNPACK_64(buffer, 2)[0], 10) if len(buffer) >= 10 else None


class FrameParser:
    """Incremental frame parser (RFC 6455 §5.2).

    Args:
        require_mask: ``True`` on a server (client frames MUST be masked, §5.1),
            ``False`` on a client (server frames MUST NOT be masked).
        max_frame_size: largest payload accepted in one frame, or ``None``.
        allowed_rsv: RSV bits an extension negotiated (§5.2: "MUST be 0 unless an
            extension is negotiated that defines meanings for non-zero values").
    """

    def __init__(
        self,
        *,
        require_mask: bool,
        max_frame_size: int | None = None,
        allowed_rsv: int = 0,
    ) -> None:
        self._buffer = bytearray()
        self._require_mask = require_mask
        #: The frame limit in force (``None``: none); may be lifted to skim frames.
        self.max_frame_size = max_frame_size
        self.allowed_rsv = allowed_rsv
        self._header: FrameHeader | None = None
        self._remaining = 0  # payload bytes of the current frame not yet delivered
        self._offset = 0  # payload bytes of the current frame already delivered
        #: The largest frame :meth:`next_frame` may collect (0: none). A final, plain
        #: binary frame of at least ``COLLECT_MIN`` bytes and at most this many, whose
        #: payload has not all come, is then unmasked as it comes into the bytes object
        #: it is delivered in, as one piece once complete (``_payload_buffer.py``; only
        #: with the accelerator). The caller sets it to the limits it would hold the
        #: frame to, so that collecting never delays a check.
        self.collect_up_to = 0
        self._collected: bytes | None = None  # the frame being collected

    @property
    def buffered(self) -> int:
        """How many received bytes are held, not yet returned as pieces."""
        return len(self._buffer)

    @property
    def collected(self) -> int:
        """The size of the frame being collected (its buffer takes that from the start)."""
        collected = self._collected
        return 0 if collected is None else len(collected)

    def feed(self, data: bytes | bytearray) -> None:
        """Append received bytes (those of a frame being collected go straight to it)."""
        collected = self._collected
        if collected is not None and not self._buffer:
            header = self._header
            assert header is not None
            count = min(len(data), self._remaining)
            with memoryview(data) as view:
                with view[:count] as part:
                    self._collect_part(collected, part, header)
                if count < len(data):
                    with view[count:] as rest:
                        self._buffer += rest
            return
        self._buffer += data

    def hand_over(self) -> tuple[int, bytearray]:
        """Stop parsing for good: the payload bytes left of the frame in progress, and
        what is buffered after them (for a ``CloseScanner`` to take over)."""
        skip = self._remaining if self._header is not None else 0
        buffer, self._buffer = self._buffer, bytearray()
        self._header = None
        self._collected = None
        return skip, buffer

    def next_frame(self) -> tuple[int, bytes] | Piece | None:
        """Like :meth:`next_piece`, but a whole small data frame comes as ``(opcode,
        payload)``: final, no RSV bits, text or binary, entirely received (see
        ``_whole_frame.py``). For a caller not inside a fragmented message, to which
        such a frame is a whole message.

        Raises:
            RemoteProtocolError: as :meth:`next_piece`.
        """
        if self._header is None:
            buffer = self._buffer
            if len(buffer) < 2:
                return None
            limit = self.max_frame_size
            frame = whole_frame(buffer, self._require_mask, -1 if limit is None else limit)
            if frame is not None:
                return frame
        return self.next_piece(collect=True)

    def next_piece(self, *, collect: bool = False) -> Piece | None:
        """Return the next piece, or ``None`` when more bytes are needed.

        Args:
            collect: a frame may be collected (see :attr:`collect_up_to`).

        Raises:
            RemoteProtocolError: the header breaks §5.2 (code 1002) or declares a
                frame larger than ``max_frame_size`` (code 1009).
        """
        header = self._header
        if header is None:
            if len(self._buffer) < 2:
                return None
            header = self._parse_header()
            if header is None:
                return None
            length = header.length
            if length <= len(self._buffer):  # the whole frame is here: the common case
                return Piece(header, self._take(header, length, 0) if length else b"", True, True)
            if header.opcode >= 0x8:
                # Control frames are delivered whole (§5.5: at most 125 bytes).
                self._header = header
                self._remaining = length
                return None
            first = True
            self._header = header
            self._remaining = header.length
            self._offset = 0
            if (
                collect
                and COLLECT_MIN <= length <= self.collect_up_to
                and header.opcode is Opcode.BINARY
                and header.fin
                and not header.rsv
                and _CAN_COLLECT
            ):
                self._collected = payload_buffer(length)
                return self._collect(header)
        elif self._collected is not None:
            return self._collect(header)
        elif header.opcode >= 0x8:
            if len(self._buffer) < self._remaining:
                return None
            self._header = None
            return Piece(header, self._take(header, header.length, 0), True, True)
        else:
            first = False
        available = min(len(self._buffer), self._remaining)
        if available == 0 and not first:
            return None
        data = self._take(header, available, self._offset)
        self._remaining -= available
        self._offset += available
        last = self._remaining == 0
        if last:
            self._header = None
        return Piece(header, data, first, last)

    def _collect(self, header: FrameHeader) -> Piece | None:
        """Unmask what has come of the collected frame into its buffer; the frame, as
        one piece, once it is complete."""
        buffer = self._buffer
        available = min(len(buffer), self._remaining)
        target = self._collected
        assert target is not None
        if available:
            with memoryview(buffer) as view, view[:available] as part:
                self._collect_part(target, part, header)
            if available == len(buffer):
                buffer.clear()
            else:
                del buffer[:available]
        if self._remaining:
            return None
        self._collected = None
        self._header = None
        return Piece(header, target, True, True)

    def _collect_part(self, target: bytes, part: memoryview, header: FrameHeader) -> None:
        """Unmask the next part of the collected frame into its place in ``target``."""
        unmask_into(target, self._offset, part, header.mask_key)
        self._remaining -= len(part)
        self._offset += len(part)

    def _take(self, header: FrameHeader, count: int, offset: int) -> bytes:
        """Remove ``count`` payload bytes from the buffer and unmask them (one copy)."""
        buffer = self._buffer
        key = header.mask_key
        if key is None:
            data = bytes(buffer) if count == len(buffer) else bytes(buffer[:count])
        else:
            shift = offset & 3
            if shift:
                key = key[shift:] + key[:shift]
            with memoryview(buffer) as view, view[:count] as payload:
                data = apply_mask(payload, key)
        if count == len(buffer):
            buffer.clear()
        else:
            del buffer[:count]
        return data

    def _parse_header(self) -> FrameHeader | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        opcode = _OPCODES.get(first & 0x0F)
        if opcode is None:
            raise RemoteProtocolError(f"reserved opcode {first & 0x0F}", 1002)
        rsv = first & 0x70
        if rsv & ~self.allowed_rsv:
            raise RemoteProtocolError("reserved bits set without a negotiated extension", 1002)
        fin = bool(first & 0x80)
        length = second & 0x7F
        if opcode >= 0x8:
            if not fin:
                raise RemoteProtocolError("fragmented control frame", 1002)
            if length > MAX_CONTROL_PAYLOAD:
                raise RemoteProtocolError("control frame payload longer than 125 bytes", 1002)
        masked = bool(second & 0x80)
        if masked is not self._require_mask:
            raise RemoteProtocolError(
                "client frame is not masked" if self._require_mask else "server frame is masked",
                1002,
            )
        size = 2
        if length >= 126:
            extended = extended_length(buffer, length)
            if extended is None:
                return None
            length, size = extended
            if length >> 63:
                raise RemoteProtocolError("64-bit payload length with the high bit set", 1002)
        limit = self.max_frame_size
        if limit is not None and length > limit:
            raise RemoteProtocolError(
                f"frame of {length} bytes exceeds the limit of {limit}", 1009
            )
        mask_key = None
        if masked:
            if len(buffer) < size + 4:
                return None
            mask_key = bytes(buffer[size : size + 4])
            size += 4
        del buffer[:size]
        return FrameHeader(opcode, fin, rsv, length, mask_key)
