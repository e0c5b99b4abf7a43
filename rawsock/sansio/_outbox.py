"""What the core has to send: frames in order, masked by a client (RFC 6455 §5.1-§5.3).

The core writes into its :class:`Outbox` on the application's behalf (messages, pings,
the close frame) and on its own (the pong for a ping, the close frame that answers or
fails); the I/O layer takes the bytes with ``Protocol.data_to_send()``. The checks of
what an application may send live here too.
"""

from __future__ import annotations

from collections.abc import Callable

from ._frames import Opcode, encode_frame, encode_frame_parts

__all__ = ["Outbox", "check_message", "check_ping_payload"]

_BYTES_LIKE = (bytes, bytearray, memoryview)
#: A payload at least this long is kept apart from its header, not copied behind it.
SEPARATE_PAYLOAD = 64 * 1024


def check_message(message: object) -> None:
    """Raise ``TypeError`` unless ``message`` can be sent: a ``str`` (text) or a
    bytes-like object (binary), §5.6."""
    if not isinstance(message, str | bytes | bytearray | memoryview):
        raise TypeError(
            "a message is a str (sent as text) or a bytes-like object: bytes, bytearray "
            f"or memoryview (sent as binary), not {type(message).__name__}"
        )


def check_ping_payload(payload: object) -> None:
    """Raise ``TypeError`` unless ``payload`` is bytes-like (a ping's or pong's payload)."""
    if not isinstance(payload, _BYTES_LIKE):
        raise TypeError(
            "a ping or pong payload is a bytes-like object (bytes, bytearray or "
            f"memoryview), not {type(payload).__name__}"
        )


class Outbox:
    """Encoded frames waiting to be written, in order.

    Args:
        random_bytes: for a client, the source of masking keys (§5.3); ``None`` for a
            server, whose frames are not masked.
    """

    __slots__ = ("_random_bytes", "frames")

    def __init__(self, random_bytes: Callable[[int], bytes] | None) -> None:
        #: The encoded frames, in order (the pongs of consecutive pings share one
        #: bytearray, see :meth:`add_pong`); empty when nothing waits.
        self.frames: list[bytes | bytearray] = []
        self._random_bytes = random_bytes

    def __len__(self) -> int:
        """How many bytes wait."""
        return sum(map(len, self.frames))

    def add(self, opcode: Opcode, payload: bytes, fin: bool = True, rsv: int = 0) -> None:
        """Encode and queue one frame (§5.2); a large one as its header and payload."""
        random_bytes = self._random_bytes
        mask_key = random_bytes(4) if random_bytes is not None else None
        if len(payload) < SEPARATE_PAYLOAD:
            self.frames.append(encode_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=mask_key))
        else:
            self.frames.extend(
                encode_frame_parts(opcode, payload, fin=fin, rsv=rsv, mask_key=mask_key)
            )

    def add_pong(self, payload: bytes) -> None:
        """Queue the pong for a ping (§5.5.2), in one buffer with the pongs before it,
        so that a flood of pings costs the bytes of their pongs, not an object each."""
        frames = self.frames
        frame = self._encode(Opcode.PONG, payload, True, 0)
        if frames and type(frames[-1]) is bytearray:
            frames[-1] += frame
        else:
            frames.append(bytearray(frame))

    def take_buffers(self) -> list[bytes | bytearray]:
        """Return (and forget) the bytes waiting, as buffers to write in order."""
        frames = self.frames
        self.frames = []
        return frames

    def take(self) -> bytes:
        """Return (and forget) the bytes waiting."""
        frames = self.frames
        if not frames:
            return b""
        self.frames = []
        if len(frames) == 1:
            data = frames[0]
            return data if type(data) is bytes else bytes(data)
        return b"".join(frames)

    def _encode(self, opcode: Opcode, payload: bytes, fin: bool, rsv: int) -> bytes:
        random_bytes = self._random_bytes
        mask_key = random_bytes(4) if random_bytes is not None else None
        return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=mask_key)
