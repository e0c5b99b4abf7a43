"""The checks behind the fuzz harnesses, in plain Python (no atheris needed).

Each ``check_*`` function takes one fuzz input, runs it through a part of rawsock and
returns normally when rawsock handled it as documented. Anything else escapes: an
``AssertionError`` for a broken promise, or whatever rawsock let out. The atheris
harnesses (``fuzz_frames.py``, ``fuzz_handshake.py``) call these, and the test suite
replays the corpus through them (``tests/sansio/test_stateful.py``).

Input layouts (the first bytes choose the options, the rest is the peer's bytes):

``check_frames``
    byte 0: bit 0 role (0 server, 1 client); bits 1-3 index into ``MESSAGE_LIMITS``;
    bit 4 set: ``max_frame_size`` is half the message limit.
    byte 1: chunking: 0 feeds everything at once, ``n`` cuts chunks of 1..n bytes.
    rest: the bytes received after the opening handshake.

``check_handshake``
    byte 0: bit 0 set: small limits (``SMALL_LIMITS``), else the defaults.
    byte 1: chunking, as above.
    rest: the bytes a client sends to the server, followed by end of file.

Both also check that the outcome does not depend on how the bytes were chunked.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import h11

from rawsock.sansio import (
    BinaryMessage,
    CloseReceived,
    Event,
    FrameParser,
    HandshakeError,
    Opcode,
    Ping,
    Pong,
    Protocol,
    RemoteProtocolError,
    Request,
    Role,
    ServerHandshake,
    State,
    TextMessage,
    accept_key,
)
from rawsock.sansio._close import is_sendable_code

__all__ = [
    "MESSAGE_LIMITS",
    "SMALL_LIMITS",
    "check_frames",
    "check_handshake",
    "frames_input",
    "handshake_input",
]

#: ``max_message_size`` values selected by bits 1-3 of the first byte.
MESSAGE_LIMITS = (0, 1, 2, 125, 126, 300, 1024, 70000)
#: ``ServerHandshake`` limits selected by bit 0 of the first byte.
SMALL_LIMITS = {"max_request_line": 64, "max_header_size": 256, "max_headers": 8}
#: Codes a ``RemoteProtocolError`` may carry (README, "Errors").
PROTOCOL_ERROR_CODES = frozenset({1002, 1007, 1009})
#: Statuses ``ServerHandshake`` rejects a request with (``HandshakeError``).
HANDSHAKE_STATUSES = frozenset({400, 405, 414, 426, 431})
MAX_CONTROL_PAYLOAD = 125


def frames_input(
    stream: bytes,
    *,
    client: bool = False,
    limit_index: int = 6,
    half_frame_limit: bool = False,
    chunking: int = 0,
) -> bytes:
    """Build a ``check_frames`` input (used to write the corpus)."""
    flags = int(client) | (limit_index << 1) | (0x10 if half_frame_limit else 0)
    return bytes((flags, chunking)) + stream


def handshake_input(request: bytes, *, small_limits: bool = False, chunking: int = 0) -> bytes:
    """Build a ``check_handshake`` input (used to write the corpus)."""
    return bytes((int(small_limits), chunking)) + request


def _chunks(data: bytes, chunking: int) -> Iterator[bytes]:
    """Cut ``data`` into chunks of 1..chunking bytes (all at once for 0)."""
    if chunking == 0:
        if data:
            yield data
        return
    sizes = random.Random(chunking)
    start = 0
    while start < len(data):
        end = start + sizes.randint(1, chunking)
        yield data[start:end]
        start = end


class _MaskSource:
    """Deterministic masking keys, so that two runs produce the same bytes."""

    def __init__(self) -> None:
        self._count = 0

    def __call__(self, n: int) -> bytes:
        self._count += 1
        return (self._count * 0x9E3779B1 & 0xFFFFFFFF).to_bytes(4, "big")[:n]


# -- frames and the connection core ----------------------------------------------------


@dataclass
class _FramesOutcome:
    events: list[Event] = field(default_factory=list)
    error_code: int | None = None
    state: State = State.OPEN
    sent: bytes = b""


def _parse_sent(data: bytes, role: Role) -> list[tuple[Opcode, bytes]]:
    """Decode the frames ``role`` wrote: masked for a client, unmasked for a server."""
    parser = FrameParser(require_mask=role is Role.CLIENT)
    parser.feed(data)
    frames = []
    while (piece := parser.next_piece()) is not None:
        assert piece.first and piece.last, "the core wrote a frame it never finished"
        frames.append((piece.header.opcode, piece.data))
    assert parser.buffered == 0, "the core wrote a truncated frame"
    return frames


def _check_event(event: Event, limit: int | None) -> None:
    if isinstance(event, TextMessage):
        assert isinstance(event.data, str)
        assert limit is None or len(event.data.encode("utf-8")) <= limit
    elif isinstance(event, BinaryMessage):
        assert isinstance(event.data, bytes)
        assert limit is None or len(event.data) <= limit
    elif isinstance(event, Ping | Pong):
        assert isinstance(event.payload, bytes)
        assert len(event.payload) <= MAX_CONTROL_PAYLOAD
    else:
        assert isinstance(event, CloseReceived), f"unknown event {event!r}"
        assert event.code == 1005 or is_sendable_code(event.code)
        assert len(event.reason.encode("utf-8")) <= MAX_CONTROL_PAYLOAD - 2
        assert event.code != 1005 or event.reason == ""


def _run_frames(
    stream: bytes, role: Role, limit: int, frame_limit: int | None, chunking: int
) -> _FramesOutcome:
    protocol = Protocol(
        role, max_message_size=limit, max_frame_size=frame_limit, random_bytes=_MaskSource()
    )
    outcome = _FramesOutcome()
    sent = []
    for chunk in _chunks(stream, chunking):
        was_open = protocol.state is State.OPEN
        was_closed = protocol.state is State.CLOSED
        error: RemoteProtocolError | None = None
        try:
            protocol.receive_data(chunk)
        except RemoteProtocolError as exc:
            error = exc
        events = protocol.events()
        if was_closed:
            assert error is None and not events, "a closed connection processed bytes"
            assert not protocol.has_data_to_send
            continue
        # Replies the core queued by itself: a pong for each ping while OPEN, then the
        # echo of a close frame that arrived while OPEN.
        expected_replies = []
        for event in events:
            assert outcome.error_code is None, "events after a protocol violation"
            assert not any(isinstance(e, CloseReceived) for e in outcome.events), (
                "events after the close frame"
            )
            _check_event(event, limit)
            outcome.events.append(event)
            if isinstance(event, Ping) and was_open:
                expected_replies.append((Opcode.PONG, event.payload))
            elif isinstance(event, CloseReceived):
                assert protocol.state is State.CLOSED
                assert protocol.close_received == (event.code, event.reason)
                if was_open:
                    code = b"" if event.code == 1005 else event.code.to_bytes(2, "big")
                    expected_replies.append((Opcode.CLOSE, code))
        if error is not None:
            assert error.code in PROTOCOL_ERROR_CODES, f"undocumented close code {error.code}"
            assert protocol.state is not State.CLOSED, "failing is the caller's move"
            state_before_fail = protocol.state
            protocol.fail(error)
            assert protocol.state is State.CLOSED
            assert protocol.failure is error
            if state_before_fail is State.OPEN:
                expected_replies.append((Opcode.CLOSE, error.code.to_bytes(2, "big")))
                assert protocol.close_sent == (error.code, "")
            outcome.error_code = error.code
        reply = protocol.data_to_send()
        assert _parse_sent(reply, role) == expected_replies
        sent.append(reply)
        if protocol.state is not State.CLOSED:
            bound = limit + MAX_CONTROL_PAYLOAD
            assert protocol.buffered <= bound, f"{protocol.buffered} bytes held, limit {bound}"
    protocol.receive_data(b"")  # the peer closes the transport
    assert protocol.state is State.CLOSED and protocol.eof_received
    assert protocol.close_transport_now
    assert not protocol.events() and not protocol.has_data_to_send
    outcome.state = protocol.state
    outcome.sent = b"".join(sent)
    return outcome


def check_frames(data: bytes) -> None:
    """Feed bytes to a ``Protocol`` (after the handshake) and check what it does."""
    if len(data) < 2:
        return
    flags, chunking, stream = data[0], data[1], data[2:]
    role = Role.CLIENT if flags & 1 else Role.SERVER
    limit = MESSAGE_LIMITS[(flags >> 1) & 7]
    frame_limit = limit // 2 if flags & 0x10 else None
    chunked = _run_frames(stream, role, limit, frame_limit, chunking)
    if chunking:
        whole = _run_frames(stream, role, limit, frame_limit, 0)
        assert whole == chunked, "the outcome depends on how the bytes were chunked"


# -- the server's opening handshake ----------------------------------------------------


@dataclass
class _HandshakeOutcome:
    status: int = 0
    request: Request | None = None
    trailing: bytes = b""
    response: bytes = b""


def _check_response(response: bytes, status: int) -> None:
    """The response must be one well-formed HTTP/1.1 response (parsed by h11)."""
    client = h11.Connection(h11.CLIENT)
    headers = [("Host", "fuzz"), ("Upgrade", "websocket"), ("Connection", "Upgrade")]
    client.send(h11.Request(method="GET", target="/", headers=headers))
    client.send(h11.EndOfMessage())
    client.receive_data(response)
    event = client.next_event()
    assert isinstance(event, h11.InformationalResponse | h11.Response), event
    assert event.status_code == status
    if status == 101:
        assert client.next_event() is h11.PAUSED  # switched protocols
        assert client.trailing_data == (b"", False)
        return
    body = b""
    while isinstance(event := client.next_event(), h11.Data):
        body += event.data
    assert isinstance(event, h11.EndOfMessage), event
    assert body, "a rejection explains itself in its body"


def _as_tuple(request: Request) -> tuple[str, str, str, list[tuple[str, str]]]:
    return request.method, request.target, request.http_version, request.headers.raw


def _parsed_by_h11(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    """The request h11 parses from ``head`` (a server-side fast path must agree)."""
    server = h11.Connection(h11.SERVER, max_incomplete_event_size=len(head) + 1)
    server.receive_data(head)
    event = server.next_event()
    assert isinstance(event, h11.Request), event
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers.raw_items()]
    return (event.method.decode("ascii"), event.target.decode("latin-1"),
            event.http_version.decode("ascii"), headers)


def _run_handshake(request_bytes: bytes, small: bool, chunking: int) -> _HandshakeOutcome:
    handshake = ServerHandshake(**(SMALL_LIMITS if small else {}))
    outcome = _HandshakeOutcome()
    fed = b""
    request = None
    try:
        for chunk in [*_chunks(request_bytes, chunking), b""]:
            handshake.receive_data(chunk)
            fed += chunk
            request = handshake.next_request()
            if request is not None:
                break
        assert request is not None, "end of file passed without a request or an error"
        assert handshake.next_request() is request
        outcome.trailing = handshake.trailing_data
        assert fed.endswith(outcome.trailing)
        head = fed[: len(fed) - len(outcome.trailing)]
        assert _as_tuple(request) == _parsed_by_h11(head), "h11 parses the head otherwise"
        request = handshake.validate(request)
    except HandshakeError as error:
        assert error.status_code in HANDSHAKE_STATUSES, f"status {error.status_code}"
        outcome.status = error.status_code
        outcome.response = handshake.reject_error(error)
        _check_response(outcome.response, error.status_code)
        return outcome
    assert request.key is not None
    outcome.status = 101
    outcome.request = request
    outcome.response = handshake.accept(request)
    _check_response(outcome.response, 101)
    accept_line = f"\r\nSec-WebSocket-Accept: {accept_key(request.key)}\r\n".encode()
    assert accept_line in outcome.response
    return outcome


def check_handshake(data: bytes) -> None:
    """Feed bytes to a ``ServerHandshake`` and check its request or its rejection."""
    if len(data) < 2:
        return
    small, chunking, request_bytes = bool(data[0] & 1), data[1], data[2:]
    chunked = _run_handshake(request_bytes, small, chunking)
    if chunking:
        whole = _run_handshake(request_bytes, small, 0)
        # The trailing bytes may differ: a chunked read stops at the end of the head. So
        # may the wording of a 431 when a head has both too many and too large headers.
        assert (whole.status, whole.request) == (chunked.status, chunked.request), (
            "the outcome depends on how the bytes were chunked"
        )
        assert whole.status != 101 or whole.response == chunked.response
