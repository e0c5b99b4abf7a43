"""Messages from data frames: fragmentation (RFC 6455 §5.4), UTF-8 (§8.1), size limits.

The assembler sees the pieces of data frames (opcodes 0x0-0x2) in order; control frames
never reach it, since they may be interleaved with fragments (§5.4) and are handled by
the protocol. It checks:

- a continuation frame only inside a fragmented message, and a new text or binary frame
  only outside one (§5.4) -> 1002;
- the message size against ``max_message_size`` using each frame's header, before its
  payload is buffered (§10.4) -> 1009;
- text as UTF-8, piece by piece, failing at the first invalid byte (§8.1) -> 1007.
"""

from __future__ import annotations

from ._errors import RemoteProtocolError
from ._events import BinaryMessage, TextMessage
from ._frames import Opcode, Piece
from ._utf8 import Utf8Decoder

__all__ = ["MessageAssembler"]


class MessageAssembler:
    """Turns data-frame pieces into :class:`TextMessage` and :class:`BinaryMessage`.

    Args:
        max_message_size: largest message payload accepted, or ``None`` for no limit.
    """

    __slots__ = ("_chunks", "_decoder", "_max_size", "_opcode", "_size", "_texts")

    def __init__(self, max_message_size: int | None) -> None:
        self._max_size = max_message_size
        self._opcode: Opcode | None = None  # type of the message in progress
        self._chunks: list[bytes] = []  # binary message in progress
        self._texts: list[str] = []  # text message in progress, already decoded
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

    def receive(self, piece: Piece) -> TextMessage | BinaryMessage | None:
        """Take the next piece of a data frame; return a message when one completes.

        Raises:
            RemoteProtocolError: 1002, 1007 or 1009 as described in the module doc.
        """
        header = piece.header
        if piece.first:
            self._start_frame(header.opcode, header.length)
        if self._opcode is Opcode.TEXT:
            decoder = self._decoder
            assert decoder is not None
            final = piece.last and header.fin
            text = decoder.decode(piece.data, final)
            if text:
                self._texts.append(text)
            if not final:
                return None
            texts = self._texts
            message: TextMessage | BinaryMessage = TextMessage(
                texts[0] if len(texts) == 1 else "".join(texts)
            )
            self._texts = []
        else:
            if piece.data:
                self._chunks.append(piece.data)
            if not (piece.last and header.fin):
                return None
            chunks = self._chunks
            message = BinaryMessage(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            self._chunks = []
        self._opcode = None
        self._size = 0
        self._decoder = None
        return message

    def _start_frame(self, opcode: Opcode, length: int) -> None:
        if opcode is Opcode.CONTINUATION:
            if self._opcode is None:
                raise RemoteProtocolError("continuation frame without a message to continue")
        elif self._opcode is not None:
            raise RemoteProtocolError("new data frame inside a fragmented message")
        else:
            self._opcode = opcode
            self._size = 0
            if opcode is Opcode.TEXT:
                self._decoder = Utf8Decoder()
        size = self._size + length
        if self._max_size is not None and size > self._max_size:
            raise RemoteProtocolError(
                f"message of at least {size} bytes exceeds the limit of {self._max_size}", 1009
            )
        self._size = size
