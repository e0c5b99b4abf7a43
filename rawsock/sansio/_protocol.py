"""The WebSocket connection state machine after the opening handshake (RFC 6455 §5-§7).

Theory of operation
-------------------
A :class:`Protocol` is fed received bytes (:meth:`~Protocol.receive_data`) and returns
events (:meth:`~Protocol.events`); calls such as :meth:`~Protocol.send` put bytes in an
*outbox* that the I/O layer drains with :meth:`~Protocol.data_to_send` and writes. The
core writes into the outbox on its own too: the pong that answers a ping (§5.5.2), the
close frame that answers a close (§5.5.1) and the close frame that fails the connection
(§7.1.7). The I/O layer therefore flushes the outbox after every ``receive_data``.

States: ``OPEN`` -> ``CLOSING`` (we sent a close frame and wait for the peer's) ->
``CLOSED`` (both close frames crossed, the connection was failed, or the transport
ended). Once CLOSED, received bytes are ignored: §7.1.7 "An endpoint MUST NOT continue
to attempt to process data (including a responding Close frame) from the remote
endpoint after being instructed to _Fail the WebSocket Connection_."

Who closes TCP (§7.1.1): the server closes the TCP connection first, as soon as the
closing handshake is done or the connection is failed (:attr:`close_transport_now`);
the client waits for the server to do so (with a timeout, in the I/O layer).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ._assembler import MessageAssembler
from ._close import decode_close_payload, encode_close_payload
from ._close_scanner import CloseScanner
from ._deflate import DeflateCodec
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import CloseReceived, Event, Ping, Pong
from ._frames import RSV1, FrameParser, Opcode
from ._limits import frame_limits
from ._outbox import Outbox, check_message, check_ping_payload
from ._state import Role, State

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "Protocol", "Role", "State"]

#: Default limit on a received message's payload: 1 MiB.
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024


class Protocol:
    """RFC 6455 framing, messages, ping/pong and the closing handshake, without I/O.

    Args:
        role: client or server.
        max_message_size: largest received message payload (1009 beyond it); ``None``
            for no limit. With ``chunked``, only what one compressed message may
            decompress to is limited here; the rest of the limit is the caller's.
        max_frame_size: largest received frame payload (1009 beyond it); ``None`` means
            the same as ``max_message_size``. With ``deflate``, a compressed frame may
            exceed it on the wire by deflate's worst-case growth (about 14 %, see
            ``compressed_bound``): what it decompresses to counts against
            ``max_message_size`` instead.
        random_bytes: source of masking keys for a client (§5.3: "freshly and randomly
            generated"); tests pass a deterministic one.
        deflate: the permessage-deflate codec if the handshake negotiated it (RFC 7692);
            it claims the RSV1 bit.
        chunked: deliver messages that arrive in several pieces as ``MessageChunk``
            events instead of holding them whole (for streaming; see ``_assembler.py``).
            The caller then enforces ``max_message_size`` on whole messages, with the
            help of ``MessageChunk.size``. What one call brings of a message comes as
            one chunk, gathered across the pings and pongs between its fragments (their
            events come first), never across a close frame.
    """

    def __init__(
        self,
        role: Role,
        *,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: int | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        deflate: DeflateCodec | None = None,
        chunked: bool = False,
    ) -> None:
        self.role = role
        self.state = State.OPEN
        self._client = role is Role.CLIENT
        limits = frame_limits(max_message_size, max_frame_size, compressed=deflate is not None)
        self._parser = FrameParser(
            require_mask=role is Role.SERVER,
            max_frame_size=limits.wire,
            allowed_rsv=RSV1 if deflate is not None else 0,
        )
        self._parser.collect_up_to = limits.collect_up_to
        # Chunked: no limit on the message here (the caller has it), but a decompression
        # bomb must not be able to produce a huge chunk before the caller can refuse it.
        self._assembler = MessageAssembler(
            None if chunked else max_message_size,
            deflate,
            chunked=chunked,
            max_inflated=max_message_size,
            max_uncompressed_frame=limits.uncompressed,
        )
        #: Whether messages in pieces come out as ``MessageChunk`` events.
        self.chunked = chunked
        #: The limit on a received message's size (see ``chunked`` for who enforces it).
        self.max_message_size = max_message_size
        self.deflate = deflate
        self._sending_compressed = False
        self._events: list[Event] = []
        # Frames to write, in order; the pongs of consecutive pings share one bytearray.
        self._outbox = Outbox(random_bytes if self._client else None)
        self._sending_opcode: Opcode | None = None  # a fragmented message being sent
        self._eof = False
        #: ``(code, reason)`` of the close frame we sent, once sent.
        self.close_sent: tuple[int, str] | None = None
        #: ``(code, reason)`` of the close frame we received, once received.
        self.close_received: tuple[int, str] | None = None
        #: The close frame that started the closing handshake (whichever side sent it).
        self.close_initiated: tuple[int, str] | None = None
        #: The error that failed the connection, if one did.
        self.failure: RemoteProtocolError | None = None
        self._violation: RemoteProtocolError | None = None  # parsing stopped here
        self._scanner: CloseScanner | None = None  # skim_for_close() took over
        #: A close frame came from the peer (valid or not).
        self.close_frame_received = False
        #: Frames parsed so far, a frame that spans several ``receive_data`` calls
        #: counting once per call: how much work a read of this size was.
        self.pieces_received = 0
        #: ``receive_data`` or ``parse_buffered`` stopped at ``max_pieces`` with
        #: received bytes left to parse.
        self.has_unparsed_input = False

    # -- receiving ---------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Received bytes held by the core: unparsed input plus an unfinished message."""
        parser = self._parser
        return parser.buffered + parser.collected + self._assembler.buffered

    @property
    def close_transport_now(self) -> bool:
        """Whether the I/O layer should close the transport once the outbox is flushed.

        True for a server as soon as the state is CLOSED (§7.1.1: "the server MUST close
        the underlying TCP connection immediately"), and for both roles once the peer
        has ended the transport.
        """
        return self.state is State.CLOSED and (not self._client or self._eof)

    @property
    def eof_received(self) -> bool:
        """Whether the peer has ended the transport (``receive_data(b"")``)."""
        return self._eof

    def receive_data(self, data: bytes | bytearray, *, max_pieces: int | None = None) -> None:
        """Process received bytes; ``b""`` means the peer closed the transport.

        Events are collected for :meth:`events`; replies go to the outbox.

        Args:
            data: the bytes received.
            max_pieces: stop after this many pieces of frames (``None``: parse all).
                Each piece may make an event (and a ping a pong in the outbox), so the
                objects one call makes stay bounded however small the peer's frames
                are; :attr:`has_unparsed_input` then says that bytes wait, and
                :meth:`parse_buffered` goes on.

        Raises:
            RemoteProtocolError: the peer broke the protocol. Parsing stops for good;
                events parsed before the error are still in :meth:`events`. The caller
                then fails the connection with :meth:`fail` (§7.1.7), typically once it
                has handled those events, so that replies to messages that came before
                the violation still go out before the close frame.
        """
        if not data:
            self._eof = True
            self.state = State.CLOSED
            self.has_unparsed_input = False
            return
        if self.state is State.CLOSED or self._violation is not None:
            return
        self._parser.feed(data)
        self._parse(max_pieces)

    def parse_buffered(self, *, max_pieces: int | None = None) -> None:
        """Go on parsing what :meth:`receive_data` left when it stopped at ``max_pieces``.

        Raises:
            RemoteProtocolError: as :meth:`receive_data` does.
        """
        if self.state is State.CLOSED or self._violation is not None:
            self.has_unparsed_input = False
            return
        self._parse(max_pieces)

    def _parse(self, max_pieces: int | None) -> None:
        parser = self._parser
        assembler = self._assembler
        events = self._events
        left = -1 if max_pieces is None else max_pieces
        self.has_unparsed_input = False
        # Outside a fragmented message a whole small data frame is a whole message, and
        # the parser's fast path takes it in one call (``_whole_frame.py``).
        idle = not assembler.in_message
        try:
            while left:
                piece = parser.next_frame() if idle else parser.next_piece()
                if piece is None:
                    break
                left -= 1
                self.pieces_received += 1
                if isinstance(piece, tuple):
                    events.append(assembler.whole_message(piece[0], piece[1]))
                    continue
                opcode = piece.header.opcode
                if opcode < 0x8:
                    message = assembler.receive(piece)
                    if message is not None:
                        events.append(message)
                    idle = not assembler.in_message
                    continue
                if piece.header.rsv:
                    raise RemoteProtocolError("reserved bit set on a control frame")
                if opcode is Opcode.CLOSE and self.chunked:
                    self._take_chunk()  # the data before the close frame comes first
                if self._receive_control(opcode, piece.data):
                    return  # the close frame: nothing after it is processed (§5.5.1)
            self.has_unparsed_input = not left and parser.buffered > 0
        except RemoteProtocolError as error:
            self._violation = error
            raise
        finally:
            if assembler.gathering and (chunk := assembler.take_chunk()) is not None:
                self._events.append(chunk)

    def _take_chunk(self) -> None:
        chunk = self._assembler.take_chunk()
        if chunk is not None:
            self._events.append(chunk)

    def skim_for_close(self, data: bytes | bytearray) -> bool:
        """After the connection failed or closing timed out: whether the peer's close
        frame is among these bytes (or those still buffered), skipping everything else.

        For an I/O layer that keeps reading after giving up on a connection, so as not
        to close the socket under a peer that is still sending (§7.1.1): it can close
        as soon as the peer answered. Frames are only delimited (a close-frame scanner
        takes over from the parser), never processed.
        """
        scanner = self._scanner
        if scanner is None:
            skip, buffered = self._parser.hand_over()
            scanner = self._scanner = CloseScanner(skip)
            scanner.feed(buffered)
        return scanner.feed(data)

    def events(self) -> list[Event]:
        """Return (and forget) the events produced since the last call."""
        events = self._events
        self._events = []
        return events

    def _receive_control(self, opcode: Opcode, payload: bytes) -> bool:
        """Handle a control frame; return whether it was the close frame."""
        if opcode is Opcode.PING:
            self._events.append(Ping(payload))
            if self.state is State.OPEN:
                self._outbox.add_pong(payload)
        elif opcode is Opcode.PONG:
            self._events.append(Pong(payload))
        else:
            self._receive_close(payload)
            return True
        return False

    def _receive_close(self, payload: bytes) -> None:
        self.close_frame_received = True
        code, reason = decode_close_payload(payload)
        self.close_received = (code, reason)
        if self.close_initiated is None:
            self.close_initiated = (code, reason)
        if self.state is State.OPEN:
            # §5.5.1: reply with a close frame, "typically echoing the status code".
            self._outbox.add(Opcode.CLOSE, encode_close_payload(code))
            self.close_sent = (code, "")
        self.state = State.CLOSED
        self._events.append(CloseReceived(code, reason))

    def fail(self, error: RemoteProtocolError) -> None:
        """Fail the connection (§7.1.7): send a close frame with ``error.code`` (and
        ``error.reason``), stop.

        Call it after :meth:`receive_data` raised ``error``, or for an error detected
        outside the core. The state becomes CLOSED: nothing more is processed or sent.
        """
        if self.failure is None:
            self.failure = error
        if self.state is State.OPEN:
            payload = encode_close_payload(error.code, error.reason)
            self._outbox.add(Opcode.CLOSE, payload)
            self.close_sent = (error.code, error.reason)
            self.close_initiated = self.close_sent
        self.state = State.CLOSED

    # -- sending -----------------------------------------------------------------------

    def send(
        self,
        data: str | bytes | bytearray | memoryview,
        *,
        fin: bool = True,
        compress: bool | None = None,
    ) -> None:
        """Queue a message, or one fragment of a message (§5.4).

        A ``str`` is sent as text, ``bytes`` (or ``bytearray``/``memoryview``) as binary.
        With ``fin=False`` the message continues with further ``send`` calls of the same
        type until one with ``fin=True``.

        With permessage-deflate negotiated, a message is compressed when ``compress`` is
        true, or, by default (``None``), when its first fragment is at least the codec's
        ``threshold`` bytes long (RFC 7692 §6: RSV1 on the first frame only). Without
        the extension, ``compress`` is ignored.

        Raises:
            TypeError: ``data`` is neither a ``str`` nor bytes-like (nothing is queued).
            LocalProtocolError: the connection is no longer OPEN, or a fragment's type
                differs from its message's.
        """
        if type(data) is not str and type(data) is not bytes:  # (the common cases)
            check_message(data)
        if self.state is not State.OPEN:
            raise LocalProtocolError(f"cannot send data in state {self.state.name}")
        if isinstance(data, str):
            payload = data.encode("utf-8")
            opcode = Opcode.TEXT
        else:
            payload = bytes(data)
            opcode = Opcode.BINARY
        rsv = 0
        if self._sending_opcode is not None:
            if opcode is not self._sending_opcode:
                raise LocalProtocolError("fragment type differs from its message's type")
            frame_opcode = Opcode.CONTINUATION
        else:
            frame_opcode = opcode
            deflate = self.deflate
            self._sending_compressed = deflate is not None and (
                compress if compress is not None else len(payload) >= deflate.threshold
            )
            if self._sending_compressed:
                rsv = RSV1
        if self._sending_compressed:
            assert self.deflate is not None
            payload = self.deflate.compress(payload, fin)
        self._sending_opcode = None if fin else opcode
        self._outbox.add(frame_opcode, payload, fin, rsv)

    def send_ping(self, payload: bytes = b"") -> None:
        """Queue a ping (§5.5.2); the payload is bytes-like, at most 125 bytes.

        Raises:
            TypeError: ``payload`` is not bytes-like.
            LocalProtocolError: not OPEN, or ``payload`` is over 125 bytes.
        """
        check_ping_payload(payload)
        self._send_control(Opcode.PING, bytes(payload))

    def send_pong(self, payload: bytes = b"") -> None:
        """Queue an unsolicited pong (§5.5.3), for example as a unidirectional heartbeat.

        Raises:
            TypeError: ``payload`` is not bytes-like.
            LocalProtocolError: not OPEN, or ``payload`` is over 125 bytes.
        """
        check_ping_payload(payload)
        self._send_control(Opcode.PONG, bytes(payload))

    def send_close(self, code: int | None = 1000, reason: str = "") -> None:
        """Start the closing handshake (§5.5.1, §7.1.2); OPEN -> CLOSING.

        Does nothing if a close frame was already sent or the connection is CLOSED.

        Raises:
            LocalProtocolError: a code that may not be sent or a reason over 123 bytes.
        """
        payload = encode_close_payload(code, reason)
        if self.state is not State.OPEN:
            return
        self._outbox.add(Opcode.CLOSE, payload)
        self.close_sent = (1005 if code is None else code, reason)
        self.close_initiated = self.close_sent
        self.state = State.CLOSING

    @property
    def has_data_to_send(self) -> bool:
        """Whether the outbox holds bytes to write."""
        return bool(self._outbox.frames)

    def data_to_send(self) -> bytes:
        """Return (and forget) the bytes waiting in the outbox."""
        return self._outbox.take()

    def buffers_to_send(self) -> list[bytes | bytearray]:
        """Return (and forget) the bytes waiting in the outbox, as buffers to write in
        order: :meth:`data_to_send` without joining them (a large payload is a buffer of
        its own, so it is written as it is)."""
        return self._outbox.take_buffers()

    @property
    def bytes_to_send(self) -> int:
        """How many bytes the outbox holds."""
        return len(self._outbox)

    def _send_control(self, opcode: Opcode, payload: bytes) -> None:
        if self.state is not State.OPEN:
            raise LocalProtocolError(f"cannot send {opcode.name} in state {self.state.name}")
        self._outbox.add(opcode, payload)

