"""Finding the peer's close frame without parsing anything else (RFC 6455 §5.2, §5.5.1).

Once a connection has failed, or its closing handshake timed out, the frame parser stops
(``FrameParser.hand_over``) and a :class:`CloseScanner` takes over what it had buffered.
"""

from __future__ import annotations

from ._frames import Opcode, extended_length

__all__ = ["CloseScanner"]


class CloseScanner:
    """Delimits frames by their headers, without checking or unmasking anything, to
    notice a close frame (RFC 6455 §5.2, §5.5.1).

    For a connection given up on (failed, or its closing handshake timed out): the I/O
    layer keeps reading until the peer answers our close frame, and only needs to know
    when that answer comes. Any header is delimited (reserved opcodes and bits, wrong
    masking, oversized control frames included), so a violation does not lose track of
    the frames after it. Holds at most one frame header between reads.

    Args:
        skip: payload bytes left of the frame in progress.
    """

    __slots__ = ("_buffer", "_skip", "found")

    def __init__(self, skip: int = 0) -> None:
        self._buffer = bytearray()
        self._skip = skip
        #: A close frame's header came.
        self.found = False

    def feed(self, data: bytes | bytearray) -> bool:
        """Scan more received bytes; whether a close frame has come."""
        if self.found:
            return True
        buffer = self._buffer
        start = 0
        if self._skip and not buffer:  # skip within ``data`` without copying it
            start = min(self._skip, len(data))
            self._skip -= start
        buffer += memoryview(data)[start:]
        while True:
            if self._skip:
                count = min(self._skip, len(buffer))
                del buffer[:count]
                self._skip -= count
                if self._skip:
                    return False
            if not buffer:
                return False
            if buffer[0] & 0x0F == Opcode.CLOSE:
                self.found = True
                buffer.clear()
                return True
            if len(buffer) < 2:
                return False
            second = buffer[1]
            length = second & 0x7F
            size = 2
            if length >= 126:
                extended = extended_length(buffer, length)
                if extended is None:
                    return False
                length, size = extended
            if second & 0x80:
                size += 4
            if len(buffer) < size:
                return False
            del buffer[:size]
            self._skip = length
