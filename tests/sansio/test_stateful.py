"""A client core and a server core driven by random operations (hypothesis state machines).

Two :class:`Protocol` objects talk through two in-memory "wires". Each step either makes
one side do something (send a message or a fragment, ping, pong, close) or moves a random
number of bytes along one wire. A model predicts, for each side, the exact sequence of
events it must produce: the peer's messages in order, its pings, the pongs answering its
own pings, the close frames. Invariants:

- each side's events are exactly the predicted ones, in order (so messages agree,
  fragments reassemble, and every pong matches a ping answered while OPEN);
- ``LocalProtocolError`` is raised exactly when the model says the call is invalid
  (sending after close, a fragment of the other type, a control payload over 125 bytes,
  an unsendable close code ...), and no other exception ever escapes;
- a message over the receive limit makes the receiver fail with 1009 at the frame that
  crosses it, as sent by a side that does not know the peer's limit;
- nothing follows a close frame on the wire, and a CLOSED side processes nothing;
- the core never holds more than a message limit plus one control frame;
- at the end, after both wires drain and each side still OPEN closes, both sides are
  CLOSED and agree on the close codes (who started, what was sent, what was received).

``HostileConversation`` also injects frames that break RFC 6455 and fails connections
for errors found outside the core: the receiver must stop with ``RemoteProtocolError``
exactly there, with the documented code, and ``fail()`` must send that code.

``test_fuzz_corpus_replays`` runs the fuzz corpus (``fuzz/corpus``) through the fuzz
checks, so those inputs stay part of the default test run without atheris.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rawsock.sansio import (
    BinaryMessage,
    CloseReceived,
    Event,
    LocalProtocolError,
    Opcode,
    Ping,
    Pong,
    Protocol,
    RemoteProtocolError,
    Role,
    State,
    TextMessage,
    encode_frame,
)
from rawsock.sansio._close import is_sendable_code

#: The receive limit of both sides in the state machines (messages and frames).
LIMIT = 100_000
MAX_CONTROL = 125
MASK = b"\x37\xfa\x21\x3d"
#: Operations before a side may start the closing handshake.
CLOSE_AFTER_STEPS = 12


@dataclass(frozen=True)
class Violation:
    """Where injected bytes break the protocol: the receiver must fail with ``code``."""

    code: int


Expected = Event | Violation


class Side:
    """One endpoint: its core, the wire towards it, and what the model expects of it."""

    def __init__(self, name: str, protocol: Protocol) -> None:
        self.name = name
        self.protocol = protocol
        self.peer: Side = self
        self.incoming = bytearray()  # bytes on their way to this side
        self.expected: deque[Expected] = deque()  # events this side must produce
        self.sending: type[str] | type[bytes] | None = None  # a fragmented message's type
        self.parts: list[str | bytes] = []  # the fragments sent so far
        self.parts_size = 0  # their size in bytes
        self.initiated_close = False  # sent a close frame that was not a reply
        self.close_on_wire = False  # its close frame was written
        self.failed = False

    def __repr__(self) -> str:
        return f"<{self.name} {self.protocol.state.name}>"


# -- strategies ---------------------------------------------------------------------------


def _big_bytes(n: int) -> bytes:
    return (bytes(range(251)) * (n // 251 + 1))[:n]


def _big_text(n: int) -> str:
    # One-, two-, three- and four-byte characters, so they get cut in every way.
    return ("aé€𝄞" * (n // 4 + 1))[:n]


texts = st.one_of(st.text(max_size=40), st.integers(100, 30_000).map(_big_text))
binaries = st.one_of(st.binary(max_size=200), st.integers(126, 70_000).map(_big_bytes))
control_payloads = st.one_of(
    st.binary(max_size=MAX_CONTROL), st.binary(min_size=MAX_CONTROL + 1, max_size=140)
)
valid_codes = st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1014, 3000, 4999])
close_args = st.one_of(
    st.just((None, "")),
    st.just((1005, "")),
    st.tuples(valid_codes, st.text(max_size=20)),
    st.tuples(valid_codes, st.just("é" * 62)),  # 124 bytes: too long
    st.tuples(
        st.sampled_from([0, 999, 1004, 1006, 1015, 1016, 2999, 5000, 65535]), st.text(max_size=5)
    ),
    st.tuples(st.sampled_from([None, 1005]), st.text(min_size=1, max_size=5)),
)
chunk_sizes = st.one_of(st.integers(1, 16), st.integers(17, 2000), st.just(1 << 30))


def _close_is_valid(code: int | None, reason: str) -> bool:
    if code is None or code == 1005:
        return reason == ""
    return is_sendable_code(code) and len(reason.encode("utf-8")) <= MAX_CONTROL - 2


# -- the conversation ---------------------------------------------------------------------


class Conversation(RuleBasedStateMachine):
    """A well-behaved client and server; every byte either sends reaches the other."""

    def __init__(self) -> None:
        super().__init__()
        masks = random.Random(6455)
        self.client = Side(
            "client",
            Protocol(Role.CLIENT, max_message_size=LIMIT, random_bytes=masks.randbytes),
        )
        self.server = Side("server", Protocol(Role.SERVER, max_message_size=LIMIT))
        self.client.peer = self.server
        self.server.peer = self.client
        self.steps = 0

    def side(self, client: bool) -> Side:
        return self.client if client else self.server

    # -- the model's plumbing -----------------------------------------------------------

    @staticmethod
    def expect(receiver: Side, event: Expected) -> None:
        """``receiver`` will produce ``event`` unless it stopped processing bytes."""
        if receiver.protocol.state is not State.CLOSED:
            receiver.expected.append(event)

    @staticmethod
    def flush(side: Side) -> None:
        data = side.protocol.data_to_send()
        if data:
            # Nothing follows a close frame on the wire (§5.5.1, §7.1.7).
            assert not side.close_on_wire, f"{side.name} wrote after its close frame"
            side.peer.incoming += data
        side.close_on_wire = side.protocol.close_sent is not None

    def deliver(self, receiver: Side, size: int) -> None:
        """Move up to ``size`` bytes to ``receiver`` and check the events they make."""
        wire = receiver.incoming
        chunk = bytes(wire[:size])
        del wire[:size]
        protocol = receiver.protocol
        # Within one receive_data call the receiver's own state changes only at the
        # peer's close frame, after which nothing is processed: the state before the
        # call is the state every ping of this chunk was handled in.
        was_open = protocol.state is State.OPEN
        error: RemoteProtocolError | None = None
        try:
            protocol.receive_data(chunk)
        except RemoteProtocolError as exc:
            error = exc
        for event in protocol.events():
            assert receiver.expected, f"{receiver.name} produced unexpected {event!r}"
            expected = receiver.expected.popleft()
            assert event == expected, f"{receiver.name}: got {event!r}, expected {expected!r}"
            if isinstance(event, Ping) and was_open:
                self.expect(receiver.peer, Pong(event.payload))
            elif isinstance(event, CloseReceived):
                assert protocol.state is State.CLOSED
                assert protocol.close_received == (event.code, event.reason)
                if was_open:  # the reply echoes the code (RFC 6455 §5.5.1)
                    self.expect(receiver.peer, CloseReceived(event.code, ""))
        if error is not None:
            assert receiver.expected, f"{receiver.name} failed for no reason: {error!r}"
            assert receiver.expected[0] == Violation(error.code), (
                f"{receiver.name}: failed with {error.code} ({error}), "
                f"expected {receiver.expected[0]!r}"
            )
            assert protocol.state is not State.CLOSED, "failing is the caller's move"
            self.fail(receiver, error)
        self.flush(receiver)

    def fail(self, side: Side, error: RemoteProtocolError) -> None:
        protocol = side.protocol
        was_open = protocol.state is State.OPEN
        protocol.fail(error)
        assert protocol.state is State.CLOSED
        side.failed = True
        side.expected.clear()  # nothing after the failure is processed
        if was_open:
            assert protocol.close_sent == (error.code, "")
            side.initiated_close = True
            self.expect(side.peer, CloseReceived(error.code, ""))
        self.flush(side)

    # -- operations -----------------------------------------------------------------------

    @rule(client=st.booleans(), data=st.one_of(texts, binaries))
    def send_message(self, client: bool, data: str | bytes) -> None:
        """A whole message, or the last fragment of one."""
        self.send(self.side(client), data, fin=True)

    @rule(client=st.booleans(), data=st.one_of(texts, binaries))
    def send_fragment(self, client: bool, data: str | bytes) -> None:
        """A fragment that does not end its message: ``send(data, fin=False)``."""
        self.send(self.side(client), data, fin=False)

    def send(self, side: Side, data: str | bytes, fin: bool) -> None:
        protocol = side.protocol
        kind = type(data)
        if protocol.state is not State.OPEN or side.sending not in (None, kind):
            with pytest.raises(LocalProtocolError):
                protocol.send(data, fin=fin)
            assert not protocol.has_data_to_send
            return
        protocol.send(data, fin=fin)
        size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
        side.parts.append(data)
        side.parts_size += size
        side.sending = None if fin else kind
        if side.parts_size > LIMIT and side.parts_size - size <= LIMIT:
            # The receiver stops at this frame's header (§10.4): too big, 1009.
            self.expect(side.peer, Violation(1009))
        elif fin and side.parts_size <= LIMIT:
            if kind is str:
                self.expect(side.peer, TextMessage("".join(str(p) for p in side.parts)))
            else:
                self.expect(side.peer, BinaryMessage(b"".join(bytes(p) for p in side.parts)))
        if fin:
            side.parts = []
            side.parts_size = 0
        self.flush(side)

    @rule(client=st.booleans(), payload=control_payloads)
    def ping(self, client: bool, payload: bytes) -> None:
        self._control(self.side(client), payload, Ping, Protocol.send_ping)

    @rule(client=st.booleans(), payload=control_payloads)
    def unsolicited_pong(self, client: bool, payload: bytes) -> None:
        self._control(self.side(client), payload, Pong, Protocol.send_pong)

    def _control(
        self,
        side: Side,
        payload: bytes,
        event: type[Ping] | type[Pong],
        method: Callable[[Protocol, bytes], None],
    ) -> None:
        protocol = side.protocol
        if protocol.state is not State.OPEN or len(payload) > MAX_CONTROL:
            with pytest.raises(LocalProtocolError):
                method(protocol, payload)
            assert not protocol.has_data_to_send
            return
        method(protocol, payload)
        self.expect(side.peer, event(payload))
        self.flush(side)

    # Closing ends a conversation: let a few operations happen first.
    @precondition(lambda self: self.steps >= CLOSE_AFTER_STEPS)
    @rule(client=st.booleans(), args=close_args)
    def close(self, client: bool, args: tuple[int | None, str]) -> None:
        side = self.side(client)
        protocol = side.protocol
        code, reason = args
        if not _close_is_valid(code, reason):
            state = protocol.state
            with pytest.raises(LocalProtocolError):
                protocol.send_close(code, reason)
            assert protocol.state is state and not protocol.has_data_to_send
            return
        was_open = protocol.state is State.OPEN
        protocol.send_close(code, reason)
        if not was_open:  # a second close does nothing
            assert not protocol.has_data_to_send
            return
        sent = (1005 if code is None else code, reason)
        assert protocol.state is State.CLOSING
        assert protocol.close_sent == sent
        assert protocol.close_initiated == sent
        side.initiated_close = True
        self.expect(side.peer, CloseReceived(*sent))
        self.flush(side)

    @rule(size=chunk_sizes)
    def transfer_to_server(self, size: int) -> None:
        if self.server.incoming:
            self.deliver(self.server, size)

    @rule(size=chunk_sizes)
    def transfer_to_client(self, size: int) -> None:
        if self.client.incoming:
            self.deliver(self.client, size)

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def count_steps(self) -> None:
        self.steps += 1

    @invariant()
    def memory_is_bounded(self) -> None:
        # An unfinished message (at most the limit, checked from frame headers) plus the
        # unparsed rest of one frame header or control frame.
        for side in (self.client, self.server):
            if side.protocol.state is not State.CLOSED:
                assert side.protocol.buffered <= LIMIT + MAX_CONTROL

    @invariant()
    def outboxes_are_flushed(self) -> None:
        assert not self.client.protocol.has_data_to_send
        assert not self.server.protocol.has_data_to_send

    def teardown(self) -> None:
        self.drain()
        for side in (self.client, self.server):
            if side.protocol.state is State.OPEN:
                code = 1000
                side.protocol.send_close(code)
                side.initiated_close = True
                self.expect(side.peer, CloseReceived(code, ""))
                self.flush(side)
                self.drain()
        client, server = self.client.protocol, self.server.protocol
        assert client.state is State.CLOSED and server.state is State.CLOSED
        for side in (self.client, self.server):
            peer = side.peer
            assert not side.expected, f"{side.name} never produced {list(side.expected)}"
            received = side.protocol.close_received
            if received is not None:
                assert received == peer.protocol.close_sent
            if not side.failed:
                # The closing handshake completed on this side.
                assert received is not None and side.protocol.close_sent is not None
        starters = [s for s in (self.client, self.server) if s.initiated_close]
        assert starters, "nobody started the closing handshake"
        if len(starters) == 1:
            (starter,) = starters
            for side in (self.client, self.server):
                if side is starter or side.protocol.close_received is not None:
                    assert side.protocol.close_initiated == starter.protocol.close_sent
        else:  # both sent a close frame before receiving the other's
            for side in starters:
                assert side.protocol.close_initiated == side.protocol.close_sent
        # §7.1.1: the server closes TCP first; the client waits for it.
        assert server.close_transport_now
        assert not client.close_transport_now
        client.receive_data(b"")
        assert client.close_transport_now and client.eof_received
        assert not client.events() and not client.has_data_to_send

    def drain(self) -> None:
        """Deliver every byte on both wires, and the replies they cause."""
        while self.client.incoming or self.server.incoming:
            for side in (self.client, self.server):
                if side.incoming:
                    self.deliver(side, len(side.incoming))


# -- a hostile peer ---------------------------------------------------------------------


VIOLATIONS = [
    "reserved-opcode",
    "rsv-bits",
    "wrong-masking",
    "fragmented-control",
    "long-control",
    "too-big",
    "high-bit-length",
    "invalid-utf8",
    "truncated-utf8",
    "orphan-continuation",
    "new-message-inside-fragmented",
    "close-1-byte",
    "close-invalid-code",
    "close-invalid-utf8",
]


def violation_frame(kind: str, to_server: bool, sender: Side) -> tuple[bytes, int] | None:
    """Bytes that break RFC 6455 in one way, coming from ``sender`` in its present sending
    state, and the close code they call for; ``None`` when ``kind`` does not apply."""
    sending = sender.sending
    key = MASK if to_server else None
    mask_bit = 0x80 if to_server else 0
    mask = key or b""

    def frame(opcode: Opcode, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
        return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=key)

    in_message = sending is not None
    match kind:
        case "reserved-opcode":
            return bytes((0x83, mask_bit)) + mask, 1002
        case "rsv-bits":
            return frame(Opcode.PING, b"rsv", rsv=0x20), 1002
        case "wrong-masking":
            other = None if to_server else MASK
            return encode_frame(Opcode.PING, b"mask", mask_key=other), 1002
        case "fragmented-control":
            return bytes((0x09, mask_bit)) + mask, 1002
        case "long-control":
            return bytes((0x89, mask_bit | 126, 0, 126)) + mask, 1002
        case "too-big":
            opcode = Opcode.CONTINUATION if in_message else Opcode.BINARY
            length = (LIMIT + 1).to_bytes(8, "big")
            return bytes((opcode, mask_bit | 127)) + length + mask, 1009
        case "high-bit-length":
            opcode = Opcode.CONTINUATION if in_message else Opcode.BINARY
            return bytes((opcode, mask_bit | 127)) + b"\xff" * 8 + mask, 1002
        case "invalid-utf8" | "truncated-utf8":
            payload = b"ok\xff" if kind == "invalid-utf8" else b"ok\xe2\x82"
            if sending is None:
                return frame(Opcode.TEXT, payload), 1007
            if sending is str and sender.parts_size + len(payload) <= LIMIT:
                return frame(Opcode.CONTINUATION, payload), 1007
            return None  # binary fragments are not UTF-8, or the size limit comes first
        case "orphan-continuation":
            return None if in_message else (frame(Opcode.CONTINUATION, b"x"), 1002)
        case "new-message-inside-fragmented":
            return (frame(Opcode.BINARY, b"x"), 1002) if in_message else None
        case "close-1-byte":
            return frame(Opcode.CLOSE, b"\x03"), 1002
        case "close-invalid-code":
            return frame(Opcode.CLOSE, (1006).to_bytes(2, "big")), 1002
        case "close-invalid-utf8":
            return frame(Opcode.CLOSE, (1000).to_bytes(2, "big") + b"bye\xc0"), 1007
    raise AssertionError(kind)


class HostileConversation(Conversation):
    """The same conversation, plus protocol violations and failures at random moments."""

    @precondition(lambda self: not (self.client.failed or self.server.failed))
    @rule(to_server=st.booleans(), kind=st.sampled_from(VIOLATIONS))
    def inject_violation(self, to_server: bool, kind: str) -> None:
        receiver = self.side(not to_server)
        sender = receiver.peer
        # The wire ends at a frame boundary; the bytes go after everything already sent.
        if sender.protocol.state is not State.OPEN or receiver.protocol.state is State.CLOSED:
            return
        built = violation_frame(kind, to_server, sender)
        if built is None:
            return
        data, code = built
        receiver.incoming += data
        receiver.expected.append(Violation(code))

    @precondition(lambda self: not (self.client.failed or self.server.failed))
    @rule(client=st.booleans(), code=st.sampled_from([1002, 1007, 1008, 1009, 1011]))
    def fail_from_outside(self, client: bool, code: int) -> None:
        # An error the application found (say, a message it cannot accept).
        self.fail(self.side(client), RemoteProtocolError("found by the application", code))


STATEFUL_SETTINGS = settings(max_examples=80, stateful_step_count=50, deadline=None)

TestConversation = Conversation.TestCase
TestConversation.settings = STATEFUL_SETTINGS
TestHostileConversation = HostileConversation.TestCase
TestHostileConversation.settings = STATEFUL_SETTINGS


# -- the fuzz corpus, without atheris ---------------------------------------------------


FUZZ_DIR = Path(__file__).resolve().parents[2] / "fuzz"


def _load_fuzz_checks() -> object:
    name = "rawsock_fuzz_checks"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FUZZ_DIR / "fuzz_checks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


CORPUS = sorted((FUZZ_DIR / "corpus").glob("*/*"))


def test_fuzz_corpus_is_there() -> None:
    kinds = {path.parent.name for path in CORPUS}
    assert kinds == {"frames", "handshake"}
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("path", CORPUS, ids=[f"{path.parent.name}/{path.name}" for path in CORPUS])
def test_fuzz_corpus_replays(path: Path) -> None:
    checks = _load_fuzz_checks()
    check = getattr(checks, f"check_{path.parent.name}")
    check(path.read_bytes())
