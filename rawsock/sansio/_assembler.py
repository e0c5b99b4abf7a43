"""Messages from data frames: fragmentation (RFC 6455 §5.4), UTF-8 (§8.1), size limits.

The assembler sees the pieces of data frames (opcodes 0x0-0x2) in order; control frames
never reach it, since they may be interleaved with fragments (§5.4) and are handled by
the protocol. It checks:

- a continuation frame only inside a fragmented message, and a new text or binary frame
  only outside one (§5.4) -> 1002;
- the message size against ``max_message_size`` using each frame's header, before its
  payload is buffered (§10.4) -> 1009;
- text as UTF-8, piece by piece, failing at the first invalid byte (§8.1) -> 1007;
- with permessage-deflate (RFC 7692 §6): RSV1 only on the first frame of a message
  (1002 on a continuation), compressed payloads inflated piece by piece with the output
  bounded by what is left of ``max_message_size`` (1009), corrupt data -> 1007.

For a compressed message, the limit applies to the decompressed size; the wire size of
each frame is still bounded by the frame limit of the parser.

In *chunked* mode the assembler does not hold messages: every piece of a message that
spans several pieces comes out at once as a :class:`MessageChunk` (text already decoded,
never splitting a character), so a consumer can stream messages of any size in constant
memory and apply its own limit (``MessageChunk.size`` grows as frame headers announce
more, so a consumer can still refuse a message before its payload arrives). A message
that fits in one piece still comes out whole.

Memory: the pieces of a message are held in a :class:`~._joiner.Joiner`, never one object
per frame, so a message sent as a million one-byte fragments costs about what it would
cost in one frame. In chunked mode the pieces that one ``receive_data`` call brings are
gathered into one chunk: :meth:`MessageAssembler.take_chunk` hands it out when the call
ends or before a close frame's event.
"""

from __future__ import annotations

from ._deflate import DeflateCodec
from ._errors import RemoteProtocolError
from ._events import BinaryMessage, MessageChunk, TextMessage
from ._frames import RSV1, Opcode, Piece
from ._joiner import Joiner
from ._utf8 import Utf8Decoder

__all__ = ["MessageAssembler"]


class MessageAssembler:
    """Turns data-frame pieces into :class:`TextMessage` and :class:`BinaryMessage`.

    Args:
        max_message_size: largest message payload accepted, or ``None`` for no limit.
        deflate: the permessage-deflate codec, when the extension was negotiated.
        chunked: deliver multi-piece messages as :class:`MessageChunk` events.
        max_inflated: with no ``max_message_size``, the most a compressed message may
            decompress to (1009 beyond it); ``None``: no limit.
        max_uncompressed_frame: the frame limit for frames that are not compressed,
            when the parser lets compressed frames take more on the wire (1009 beyond).
    """

    __slots__ = (
        "_binaries",
        "_chunk_first",
        "_chunked",
        "_compressed",
        "_decoder",
        "_deflate",
        "_max_frame",
        "_max_inflated",
        "_max_size",
        "_opcode",
        "_size",
        "_texts",
        "gathering",
    )

    def __init__(
        self,
        max_message_size: int | None,
        deflate: DeflateCodec | None = None,
        *,
        chunked: bool = False,
        max_inflated: int | None = None,
        max_uncompressed_frame: int | None = None,
    ) -> None:
        self._max_size = max_message_size
        self._max_frame = max_uncompressed_frame
        # Decompressed size allowed for one compressed message: the message limit, or in
        # chunked mode (no message limit) its own, so a decompression bomb stays bounded.
        self._max_inflated = max_message_size if max_message_size is not None else max_inflated
        self._chunked = chunked
        self._deflate = deflate
        self._compressed = False  # the message in progress is compressed
        self._opcode: Opcode | None = None  # type of the message in progress
        # The message in progress (text already decoded); in chunked mode, only what
        # the current receive_data call brought of it, until take_chunk().
        self._texts: Joiner[str] | None = None
        self._binaries: Joiner[bytes] | None = None
        self._chunk_first = False  # the gathered chunk starts its message
        #: In chunked mode, a message is in progress: :meth:`take_chunk` may have data.
        self.gathering = False
        self._size = 0  # payload bytes of the message in progress, counted from headers
        self._decoder: Utf8Decoder | None = None

    @property
    def in_message(self) -> bool:
        """Whether a fragmented message has started and not yet finished."""
        return self._opcode is not None

    @property
    def buffered(self) -> int:
        """Payload bytes of the unfinished message held in memory (an upper bound)."""
        return self._size

    def whole_message(self, opcode: int, data: bytes) -> TextMessage | BinaryMessage:
        """A whole uncompressed message that came in one frame (``FrameParser.next_frame``),
        when no fragmented message is in progress (:attr:`in_message` is false).

        Raises:
            RemoteProtocolError: 1009 over a size limit, 1007 for text that is not UTF-8.
        """
        length = len(data)
        if self._max_size is not None and length > self._max_size:
            raise RemoteProtocolError(
                f"message of {length} bytes exceeds the limit of {self._max_size}", 1009
            )
        if self._max_frame is not None and length > self._max_frame:
            raise RemoteProtocolError(
                f"frame of {length} bytes exceeds the limit of {self._max_frame}", 1009
            )
        if opcode == Opcode.TEXT:
            try:
                return TextMessage(data.decode("utf-8"))
            except UnicodeDecodeError:
                raise RemoteProtocolError("text message is not valid UTF-8", 1007) from None
        return BinaryMessage(data)

    def receive(self, piece: Piece) -> TextMessage | BinaryMessage | MessageChunk | None:
        """Take the next piece of a data frame; return a message when one completes.

        In chunked mode, a message that did not arrive whole is gathered instead: its
        last piece returns a :class:`MessageChunk` with everything since the last
        :meth:`take_chunk`, which hands out the rest.

        Raises:
            RemoteProtocolError: 1002, 1007 or 1009 as described in the module doc.
        """
        header = piece.header
        if piece.last and piece.first and header.fin and not header.rsv and self._opcode is None:
            # A whole uncompressed message in one piece: the common case, kept short.
            if self._max_size is not None and header.length > self._max_size:
                raise RemoteProtocolError(
                    f"message of {header.length} bytes exceeds the limit of {self._max_size}",
                    1009,
                )
            if self._max_frame is not None and header.length > self._max_frame:
                raise RemoteProtocolError(
                    f"frame of {header.length} bytes exceeds the limit of {self._max_frame}",
                    1009,
                )
            if header.opcode is Opcode.TEXT:
                try:
                    return TextMessage(piece.data.decode("utf-8"))
                except UnicodeDecodeError:
                    raise RemoteProtocolError("text message is not valid UTF-8", 1007) from None
            if header.opcode is Opcode.BINARY:
                return BinaryMessage(piece.data)
        if piece.first:
            self._start_frame(header.opcode, header.length, header.rsv)
        final = piece.last and header.fin
        data = piece.data
        if self._compressed:
            data = self._inflate(data, final)
        if self._chunked:
            first = piece.first and header.opcode is not Opcode.CONTINUATION
            return self._gather(data, first, final)
        whole = self._append(data, final)
        if whole is None:
            return None
        message = TextMessage(whole) if isinstance(whole, str) else BinaryMessage(whole)
        self._end_message()
        return message

    def take_chunk(self) -> MessageChunk | None:
        """In chunked mode, the message data gathered since the last call, if any.

        The protocol calls it at the end of each ``receive_data`` and before it records
        a close frame's event.
        """
        pieces = self._texts if self._texts is not None else self._binaries
        if pieces is None or not (pieces.size or self._chunk_first):
            return None  # nothing to deliver (say, empty fragments): no event at all
        event = MessageChunk(pieces.join(), self._chunk_first, False, self._size)
        self._chunk_first = False
        return event

    def _gather(self, data: bytes, first: bool, final: bool) -> MessageChunk | None:
        self._chunk_first = self._chunk_first or first
        whole = self._append(data, final)
        if whole is None:
            return None
        event = MessageChunk(whole, self._chunk_first, True, self._size)
        self._chunk_first = False
        self._end_message()
        return event

    def _append(self, data: bytes, final: bool) -> str | bytes | None:
        """Hold the next piece (text decoded); everything held once ``final``."""
        if self._opcode is Opcode.TEXT:
            decoder = self._decoder
            texts = self._texts
            assert decoder is not None and texts is not None
            texts.append(decoder.decode(data, final))
            return texts.join() if final else None
        binaries = self._binaries
        assert binaries is not None
        binaries.append(data)
        return binaries.join() if final else None

    def _end_message(self) -> None:
        self.gathering = False
        self._opcode = None
        self._size = 0
        self._decoder = None
        self._texts = self._binaries = None

    def _inflate(self, data: bytes, final: bool) -> bytes:
        deflate = self._deflate
        assert deflate is not None
        limit = None if self._max_inflated is None else self._max_inflated - self._size
        data = deflate.decompress(data, final, limit)
        self._size += len(data)
        return data

    def _start_frame(self, opcode: Opcode, length: int, rsv: int) -> None:
        if opcode is Opcode.CONTINUATION:
            if self._opcode is None:
                raise RemoteProtocolError("continuation frame without a message to continue")
            if rsv & RSV1:
                raise RemoteProtocolError("RSV1 set on a continuation frame")
        elif self._opcode is not None:
            raise RemoteProtocolError("new data frame inside a fragmented message")
        else:
            self._opcode = opcode
            self.gathering = self._chunked
            self._size = 0
            self._compressed = bool(rsv & RSV1)  # the parser allows RSV1 only with deflate
            if opcode is Opcode.TEXT:
                self._decoder = Utf8Decoder()
                self._texts = Joiner("")
            else:
                self._binaries = Joiner(b"")
        if self._compressed:
            return  # the limit applies to the decompressed size (see _inflate)
        if self._max_frame is not None and length > self._max_frame:
            raise RemoteProtocolError(
                f"frame of {length} bytes exceeds the limit of {self._max_frame}", 1009
            )
        size = self._size + length
        if self._max_size is not None and size > self._max_size:
            raise RemoteProtocolError(
                f"message of at least {size} bytes exceeds the limit of {self._max_size}", 1009
            )
        self._size = size
