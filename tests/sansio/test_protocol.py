"""The connection state machine: messages, control frames, close, limits (RFC 6455 §5-§8)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
import wsproto.frame_protocol as wsframes
from hypothesis import given, settings
from hypothesis import strategies as st

from rawsock.sansio import (
    BinaryMessage,
    CloseReceived,
    LocalProtocolError,
    MessageChunk,
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

MASK = b"\x01\x02\x03\x04"


def fixed_mask(n: int) -> bytes:
    return MASK[:n]


def server(**kwargs: object) -> Protocol:
    return Protocol(Role.SERVER, **kwargs)  # type: ignore[arg-type]


def client(**kwargs: object) -> Protocol:
    return Protocol(Role.CLIENT, random_bytes=fixed_mask, **kwargs)  # type: ignore[arg-type]


def masked(opcode: Opcode, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=MASK)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


def feed_error(protocol: Protocol, data: bytes) -> RemoteProtocolError:
    """Feed bytes that break the protocol, then fail the connection as the I/O layer does."""
    with pytest.raises(RemoteProtocolError) as info:
        protocol.receive_data(data)
    assert protocol.state is State.OPEN  # failing is the caller's move
    protocol.fail(info.value)
    return info.value


def sent_close_code(protocol: Protocol) -> int | None:
    """Parse the outbox as server frames and return the code of the close frame in it."""
    parser = Protocol(Role.CLIENT)
    parser.receive_data(protocol.data_to_send())
    closes = [e for e in parser.events() if isinstance(e, CloseReceived)]
    return closes[0].code if closes else None


# -- messages ------------------------------------------------------------------------------


def test_text_and_binary_messages() -> None:
    s = server()
    s.receive_data(masked(Opcode.TEXT, "héllo".encode()) + masked(Opcode.BINARY, b"\x00\xff"))
    assert s.events() == [TextMessage("héllo"), BinaryMessage(b"\x00\xff")]


def test_empty_messages() -> None:
    s = server()
    s.receive_data(masked(Opcode.TEXT, b"") + masked(Opcode.BINARY, b""))
    assert s.events() == [TextMessage(""), BinaryMessage(b"")]


def test_fragmented_message_with_interleaved_control_frames() -> None:
    s = server()
    s.receive_data(
        masked(Opcode.TEXT, b"frag", fin=False)
        + masked(Opcode.PING, b"p1")
        + masked(Opcode.CONTINUATION, b"men", fin=False)
        + masked(Opcode.PONG, b"p2")
        + masked(Opcode.CONTINUATION, b"ted")
    )
    assert s.events() == [Ping(b"p1"), Pong(b"p2"), TextMessage("fragmented")]


def test_continuation_without_start_is_1002() -> None:
    s = server()
    assert feed_error(s, masked(Opcode.CONTINUATION, b"x")).code == 1002
    assert sent_close_code(s) == 1002
    assert s.state is State.CLOSED


def test_new_data_frame_inside_fragmented_message_is_1002() -> None:
    s = server()
    error = feed_error(s, masked(Opcode.TEXT, b"a", fin=False) + masked(Opcode.BINARY, b"b"))
    assert error.code == 1002


def test_invalid_utf8_is_1007() -> None:
    s = server()
    assert feed_error(s, masked(Opcode.TEXT, b"\xff")).code == 1007
    assert sent_close_code(s) == 1007


def test_invalid_utf8_fails_fast_inside_a_frame() -> None:
    """§8.1: fail as soon as the invalid byte arrives, before the frame is complete."""
    s = server()
    prefix = "κόσμε".encode() + b"\xed"  # \xed may start a valid 3-byte sequence...
    payload = prefix + b"\xa0\x80" + b"valid tail" * 100  # ...but \xed\xa0 is a surrogate
    wire = masked(Opcode.TEXT, payload)
    cut = 8 + len(prefix)  # 2 + 2 length bytes + 4 mask bytes, then the payload
    s.receive_data(wire[:cut])
    assert s.events() == [] and s.state is State.OPEN
    assert feed_error(s, wire[cut : cut + 1]).code == 1007


def test_invalid_utf8_fails_fast_across_fragments() -> None:
    s = server()
    s.receive_data(masked(Opcode.TEXT, b"ok", fin=False))
    assert feed_error(s, masked(Opcode.CONTINUATION, b"\xc0\xaf", fin=False)).code == 1007


def test_utf8_character_split_across_fragments_is_fine() -> None:
    s = server()
    euro = "€".encode()
    s.receive_data(
        masked(Opcode.TEXT, euro[:1], fin=False)
        + masked(Opcode.CONTINUATION, euro[1:2], fin=False)
        + masked(Opcode.CONTINUATION, euro[2:])
    )
    assert s.events() == [TextMessage("€")]


def test_truncated_utf8_at_end_of_message_is_1007() -> None:
    s = server()
    assert feed_error(s, masked(Opcode.TEXT, "€".encode()[:2])).code == 1007


# -- limits --------------------------------------------------------------------------------


def test_message_at_the_limit_is_accepted() -> None:
    s = server(max_message_size=1000)
    s.receive_data(masked(Opcode.BINARY, bytes(1000)))
    assert s.events() == [BinaryMessage(bytes(1000))]


def test_message_over_the_limit_is_1009_from_the_header() -> None:
    s = server(max_message_size=1000)
    header_only = masked(Opcode.BINARY, bytes(1001))[:8]
    assert feed_error(s, header_only).code == 1009
    assert sent_close_code(s) == 1009


def test_fragmented_message_over_the_limit_is_1009() -> None:
    s = server(max_message_size=1000)
    s.receive_data(masked(Opcode.BINARY, bytes(600), fin=False))
    assert feed_error(s, masked(Opcode.CONTINUATION, bytes(401))[:8]).code == 1009


def test_endless_fragmented_message_is_1009_and_memory_stays_bounded() -> None:
    s = server(max_message_size=64 * 1024)
    fragment = masked(Opcode.CONTINUATION, bytes(1024), fin=False)
    s.receive_data(masked(Opcode.BINARY, bytes(1024), fin=False))
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(100):
            s.receive_data(fragment)
            assert s.buffered <= 64 * 1024 + len(fragment)
    assert info.value.code == 1009


def test_max_frame_size_separately() -> None:
    s = server(max_message_size=10_000, max_frame_size=100)
    s.receive_data(masked(Opcode.BINARY, bytes(100), fin=False))
    assert feed_error(s, masked(Opcode.CONTINUATION, bytes(101))).code == 1009


def test_no_limit() -> None:
    s = server(max_message_size=None)
    s.receive_data(masked(Opcode.BINARY, bytes(3 * 1024 * 1024)))
    assert len(s.events()) == 1


# -- ping / pong ---------------------------------------------------------------------------


def test_ping_is_answered_with_its_payload() -> None:
    s = server()
    s.receive_data(masked(Opcode.PING, b"are you there"))
    assert s.events() == [Ping(b"are you there")]
    assert s.data_to_send() == encode_frame(Opcode.PONG, b"are you there")


def test_client_pong_is_masked() -> None:
    c = client()
    c.receive_data(encode_frame(Opcode.PING, b"x"))
    assert c.data_to_send() == encode_frame(Opcode.PONG, b"x", mask_key=MASK)


def test_unsolicited_pong_is_just_an_event() -> None:
    c = client()
    c.receive_data(encode_frame(Opcode.PONG, b"heartbeat"))
    assert c.events() == [Pong(b"heartbeat")]
    assert c.data_to_send() == b""


# -- close ---------------------------------------------------------------------------------


def test_peer_initiated_close_is_echoed_and_server_closes_transport() -> None:
    s = server()
    s.receive_data(masked(Opcode.CLOSE, close_payload(1001, b"bye")))
    assert s.events() == [CloseReceived(1001, "bye")]
    assert s.data_to_send() == encode_frame(Opcode.CLOSE, close_payload(1001))
    assert s.state is State.CLOSED and s.close_transport_now
    assert s.close_initiated == (1001, "bye")


def test_client_waits_for_server_to_close_transport() -> None:
    c = client()
    c.receive_data(encode_frame(Opcode.CLOSE, close_payload(1000)))
    assert c.state is State.CLOSED and not c.close_transport_now
    c.receive_data(b"")
    assert c.close_transport_now


def test_empty_close_is_1005_and_echoed_empty() -> None:
    s = server()
    s.receive_data(masked(Opcode.CLOSE, b""))
    assert s.events() == [CloseReceived(1005, "")]
    assert s.data_to_send() == encode_frame(Opcode.CLOSE, b"")


def test_locally_initiated_close() -> None:
    c = client()
    c.send_close(4000, "done")
    assert c.state is State.CLOSING
    assert c.data_to_send() == masked(Opcode.CLOSE, close_payload(4000, b"done"))
    c.receive_data(
        encode_frame(Opcode.TEXT, b"late") + encode_frame(Opcode.CLOSE, close_payload(4000))
    )
    assert c.events() == [TextMessage("late"), CloseReceived(4000, "")]
    assert c.state is State.CLOSED and c.close_initiated == (4000, "done")
    assert c.data_to_send() == b""  # no second close frame


INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]


@pytest.mark.parametrize("code", INVALID_CODES)
def test_invalid_close_codes_are_1002(code: int) -> None:
    s = server()
    assert feed_error(s, masked(Opcode.CLOSE, close_payload(code))).code == 1002
    assert sent_close_code(s) == 1002


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_close_codes_are_echoed(code: int) -> None:
    s = server()
    s.receive_data(masked(Opcode.CLOSE, close_payload(code)))
    assert s.events() == [CloseReceived(code, "")]
    assert sent_close_code(s) == code


def test_one_byte_close_payload_is_1002() -> None:
    assert feed_error(server(), masked(Opcode.CLOSE, b"\x03")).code == 1002


def test_invalid_utf8_close_reason_is_1007() -> None:
    s = server()
    assert feed_error(s, masked(Opcode.CLOSE, close_payload(1000, b"\xff\xfe"))).code == 1007
    assert sent_close_code(s) == 1007


def test_nothing_is_processed_after_close() -> None:
    s = server()
    s.receive_data(masked(Opcode.CLOSE, close_payload(1000)) + masked(Opcode.TEXT, b"ignored"))
    assert s.events() == [CloseReceived(1000, "")]
    s.receive_data(masked(Opcode.PING, b"x"))
    assert s.events() == []


def test_nothing_is_processed_after_failure() -> None:
    s = server()
    feed_error(s, masked(Opcode.TEXT, b"\xff"))
    s.data_to_send()
    s.receive_data(masked(Opcode.PING, b"x") + masked(Opcode.CLOSE, b""))
    assert s.events() == [] and s.data_to_send() == b""


def test_events_before_the_error_are_kept_and_can_be_answered() -> None:
    """Strict order: a reply to a message before a violation precedes the close frame."""
    s = server()
    with pytest.raises(RemoteProtocolError) as info:
        s.receive_data(
            masked(Opcode.TEXT, b"first") + masked(Opcode.TEXT, b"\xff") + masked(Opcode.PING, b"")
        )
    assert s.events() == [TextMessage("first")]
    s.receive_data(masked(Opcode.TEXT, b"more"))  # parsing stopped for good
    assert s.events() == []
    s.send("echo: first")
    s.fail(info.value)
    assert s.data_to_send() == encode_frame(Opcode.TEXT, b"echo: first") + encode_frame(
        Opcode.CLOSE, (1007).to_bytes(2, "big")
    )
    assert s.state is State.CLOSED and s.failure is info.value


def test_eof_without_close_is_abnormal() -> None:
    s = server()
    s.receive_data(b"")
    assert s.state is State.CLOSED and s.close_initiated is None


# -- sending -------------------------------------------------------------------------------


def test_sending_fragments() -> None:
    c = client()
    c.send("ab", fin=False)
    c.send("cd")
    assert c.data_to_send() == masked(Opcode.TEXT, b"ab", fin=False) + masked(
        Opcode.CONTINUATION, b"cd"
    )
    with pytest.raises(LocalProtocolError):
        c.send(b"x", fin=False)
        c.send("y")


def test_sending_after_close_is_a_local_error() -> None:
    c = client()
    c.send_close()
    with pytest.raises(LocalProtocolError):
        c.send("x")
    with pytest.raises(LocalProtocolError):
        c.send_ping(b"")


@pytest.mark.parametrize("code", [999, 1005, 1006, 1015, 5000])
def test_sending_an_unsendable_close_code_is_refused(code: int) -> None:
    with pytest.raises(LocalProtocolError):
        client().send_close(code, "reason")


def test_close_reason_too_long_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        client().send_close(1000, "x" * 124)


def test_ping_payload_too_long_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        client().send_ping(bytes(126))


# -- wsproto as an oracle ------------------------------------------------------------------


def test_wsproto_reads_what_we_write() -> None:
    c = client()
    c.send("hello")
    c.send(b"\x00" * 70000)
    c.send("frag", fin=False)
    c.send("ment")
    c.send_ping(b"p")
    c.send_close(1000, "bye")
    theirs = wsframes.FrameProtocol(client=False, extensions=[])
    theirs.receive_bytes(c.data_to_send())
    got = [(f.opcode, f.payload, f.message_finished) for f in theirs.received_frames()]
    assert got == [
        (wsframes.Opcode.TEXT, "hello", True),
        (wsframes.Opcode.BINARY, bytearray(70000), True),
        (wsframes.Opcode.TEXT, "frag", False),
        (wsframes.Opcode.TEXT, "ment", True),  # wsproto reports the message's opcode
        (wsframes.Opcode.PING, bytearray(b"p"), True),
        (wsframes.Opcode.CLOSE, (1000, "bye"), True),
    ]


def test_we_read_what_wsproto_writes() -> None:
    theirs = wsframes.FrameProtocol(client=True, extensions=[])
    wire = (
        theirs.send_data("hello", fin=True)
        + theirs.send_data(b"x" * 70000, fin=True)
        + theirs.ping(b"p")
        + theirs.close(1000, "bye")
    )
    s = server()
    s.receive_data(wire)
    assert s.events() == [
        TextMessage("hello"),
        BinaryMessage(b"x" * 70000),
        Ping(b"p"),
        CloseReceived(1000, "bye"),
    ]


# -- hypothesis ----------------------------------------------------------------------------

messages = st.lists(
    st.one_of(st.text(max_size=300), st.binary(max_size=300)), min_size=1, max_size=8
)


def run_chunked(data: bytes, sizes: list[int]) -> tuple[list[object], int | None]:
    s = server()
    events: list[object] = []
    code = None
    position = 0
    try:
        for size in itertools.cycle(sizes):
            if position >= len(data):
                break
            s.receive_data(data[position : position + size])
            position += size
            events += s.events()
    except RemoteProtocolError as error:
        code = error.code
        events += s.events()
    return events, code


@given(messages, st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=10))
def test_events_do_not_depend_on_chunking(
    payloads: list[str | bytes], sizes: list[int]
) -> None:
    c = client()
    for payload in payloads:
        if len(payload) > 1:
            c.send(payload[: len(payload) // 2], fin=False)
            c.send(payload[len(payload) // 2 :])
        else:
            c.send(payload)
        c.send_ping(b"x")
    wire = c.data_to_send()
    whole, _ = run_chunked(wire, [len(wire)])
    chunked, _ = run_chunked(wire, sizes)
    assert chunked == whole
    assert [e.data for e in whole if isinstance(e, TextMessage | BinaryMessage)] == payloads


@settings(max_examples=300)
@given(st.binary(max_size=400), st.sampled_from([Role.CLIENT, Role.SERVER]))
def test_random_bytes_raise_only_documented_errors(data: bytes, role: Role) -> None:
    p = Protocol(role, max_message_size=200)
    try:
        p.receive_data(data)
    except RemoteProtocolError as error:
        assert error.code in (1002, 1007, 1009)
        p.fail(error)
        assert p.state is State.CLOSED
    p.events()
    p.data_to_send()


# -- chunked delivery (streaming) ----------------------------------------------------------


def test_chunked_mode_delivers_pieces_as_they_arrive() -> None:
    s = Protocol(Role.SERVER, chunked=True, max_message_size=None)
    wire = masked(Opcode.TEXT, "κόσμε".encode()[:3], fin=False) + masked(
        Opcode.CONTINUATION, "κόσμε".encode()[3:] + b"!"
    )
    s.receive_data(wire[:10])  # the first frame (6 + 3 bytes) and 1 byte of the second
    first = s.events()
    s.receive_data(wire[10:])
    second = s.events()
    assert [type(e).__name__ for e in first + second] == ["MessageChunk", "MessageChunk"]
    assert first[0].data == "κ" and first[0].first and not first[0].final  # type: ignore[union-attr]
    assert second[0].data == "όσμε!" and second[0].final  # type: ignore[union-attr]
    assert second[0].size == len("κόσμε!".encode())  # type: ignore[union-attr]


def test_chunked_mode_announces_the_size_before_the_payload() -> None:
    s = Protocol(Role.SERVER, chunked=True, max_message_size=None)
    s.receive_data(masked(Opcode.BINARY, bytes(100_000))[:20])
    [chunk] = s.events()
    assert chunk.size == 100_000 and len(chunk.data) < 100  # type: ignore[union-attr]


def test_chunked_mode_still_delivers_whole_small_messages() -> None:
    s = Protocol(Role.SERVER, chunked=True)
    s.receive_data(masked(Opcode.TEXT, b"whole"))
    assert s.events() == [TextMessage("whole")]


@given(messages, st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=10))
def test_chunks_add_up_to_the_messages(payloads: list[str | bytes], sizes: list[int]) -> None:
    c = client()
    for payload in payloads:
        c.send(payload[: len(payload) // 2], fin=False)
        c.send(payload[len(payload) // 2 :])
    wire = c.data_to_send()
    s = Protocol(Role.SERVER, chunked=True, max_message_size=None)
    received: list[str | bytes] = []
    position = 0
    for size in itertools.cycle(sizes):
        if position >= len(wire):
            break
        s.receive_data(wire[position : position + size])
        position += size
        for event in s.events():
            assert isinstance(event, MessageChunk)
            if event.first:
                received.append(event.data)
            else:
                received[-1] += event.data  # type: ignore[operator]
    assert received == payloads


def test_pieces_received_counts_frames_that_make_no_event() -> None:
    """Empty fragments make no event but are work: the I/O layer sizes reads by this."""
    protocol = Protocol(Role.SERVER, chunked=True)
    start = encode_frame(Opcode.TEXT, b"start", fin=False, mask_key=b"abcd")
    empty = encode_frame(Opcode.CONTINUATION, b"", fin=False, mask_key=b"abcd")
    protocol.receive_data(start + empty * 100)
    assert protocol.pieces_received == 101
    protocol.events()
    protocol.receive_data(empty * 50)
    assert protocol.events() == [] and protocol.pieces_received == 151


def test_chunked_mode_gathers_what_one_call_brings_across_pings() -> None:
    """A million-fragment message must not cost an event per fragment: the fragments
    one call brings come as one chunk, pings between them included (their events
    first); a close frame's event comes after the data before it."""
    s = Protocol(Role.SERVER, chunked=True, max_message_size=None)
    wire = masked(Opcode.BINARY, b"a", fin=False)
    for _ in range(99):
        wire += masked(Opcode.CONTINUATION, b"a", fin=False) + masked(Opcode.PING, b"")
    s.receive_data(wire)
    events = s.events()
    chunks = [e for e in events if isinstance(e, MessageChunk)]
    assert [c.data for c in chunks] == [b"a" * 100] and chunks[0].first
    assert sum(isinstance(e, Ping) for e in events) == 99
    s.receive_data(masked(Opcode.CONTINUATION, b"b", fin=False) + masked(Opcode.CLOSE, b""))
    events = s.events()
    assert isinstance(events[0], MessageChunk) and events[0].data == b"b"
    assert isinstance(events[1], CloseReceived)


def test_max_pieces_stops_parsing_and_parse_buffered_goes_on() -> None:
    s = server()
    wire = b"".join(masked(Opcode.TEXT, str(i).encode()) for i in range(10))
    s.receive_data(wire, max_pieces=4)
    assert [e.data for e in s.events()] == ["0", "1", "2", "3"]  # type: ignore[union-attr]
    assert s.has_unparsed_input
    s.parse_buffered(max_pieces=4)
    assert [e.data for e in s.events()] == ["4", "5", "6", "7"]  # type: ignore[union-attr]
    s.parse_buffered(max_pieces=4)
    assert [e.data for e in s.events()] == ["8", "9"]  # type: ignore[union-attr]
    assert not s.has_unparsed_input


def test_pongs_for_a_ping_flood_share_one_buffer() -> None:
    s = server()
    s.receive_data(masked(Opcode.PING, b"") * 1000)
    assert len(s.events()) == 1000
    assert s.bytes_to_send == 2000  # 1000 empty pongs of 2 bytes, unmasked
    data = s.data_to_send()
    assert type(data) is bytes and data == encode_frame(Opcode.PONG, b"") * 1000


def reassembled(events: Sequence[object]) -> tuple[list[str | bytes], list[object]]:
    """Whole messages from chunks, and the other events."""
    messages: list[list[str | bytes]] = []
    others: list[object] = []
    for event in events:
        if isinstance(event, MessageChunk):
            if event.first:
                messages.append([])
            messages[-1].append(event.data)
        elif isinstance(event, TextMessage | BinaryMessage):
            messages.append([event.data])
        else:
            others.append(event)
    joined = [
        "".join(m) if isinstance(m[0], str) else b"".join(m)  # type: ignore[arg-type]
        for m in messages
    ]
    return joined, others


@given(
    messages,
    st.integers(min_value=1, max_value=5),
    st.sampled_from([True, False]),
)
def test_events_do_not_depend_on_batches(
    payloads: list[str | bytes], batch: int, chunked: bool
) -> None:
    c = client()
    for payload in payloads:
        c.send(payload[: len(payload) // 2], fin=False)
        c.send_ping(b"p")
        c.send(payload[len(payload) // 2 :])
    wire = c.data_to_send()
    whole = Protocol(Role.SERVER, chunked=chunked, max_message_size=None)
    whole.receive_data(wire)
    batched = Protocol(Role.SERVER, chunked=chunked, max_message_size=None)
    batched.receive_data(wire, max_pieces=batch)
    events = batched.events()
    while batched.has_unparsed_input:
        batched.parse_buffered(max_pieces=batch)
        events += batched.events()
    if chunked:  # chunk boundaries follow the calls; the messages and pings do not
        assert reassembled(events) == reassembled(whole.events())
    else:
        assert events == whole.events()
    assert batched.data_to_send() == whole.data_to_send()


# -- after giving up: noticing the peer's close frame ------------------------------------


def test_skim_notices_the_close_behind_the_rest_of_a_refused_frame() -> None:
    """A frame refused from its header (1009): its payload still comes, then the
    peer's answer to our close. Only the close frame after the payload counts."""
    s = server(max_message_size=1000)
    big = masked(Opcode.BINARY, b"\x88" * 5000)  # a payload full of close-opcode bytes
    with pytest.raises(RemoteProtocolError) as info:
        s.receive_data(big[:200])
    s.fail(info.value)
    assert not s.skim_for_close(b"")
    assert not s.skim_for_close(big[200:4000])
    assert not s.skim_for_close(big[4000:])
    assert s.skim_for_close(masked(Opcode.CLOSE, close_payload(1009))[:1])


@pytest.mark.parametrize(
    "violation",
    [
        bytes([0x83, 0x80]) + MASK,  # reserved opcode
        masked(Opcode.TEXT, b"ok", rsv=0x40),  # RSV bit without an extension
        encode_frame(Opcode.TEXT, b"unmasked"),  # a client frame without a mask
        masked(Opcode.TEXT, b"\xff\xfe"),  # invalid UTF-8 in the payload
        bytes([0x89, 0x80 | 126, 0, 200]) + MASK + bytes(200),  # a ping over 125 bytes
    ],
    ids=["reserved-opcode", "rsv", "unmasked", "utf-8", "long-ping"],
)
def test_skim_keeps_track_of_frames_after_any_violation(violation: bytes) -> None:
    s = server()
    with pytest.raises(RemoteProtocolError) as info:
        s.receive_data(violation)
    s.fail(info.value)
    after = masked(Opcode.BINARY, bytes(300)) + masked(Opcode.PING, b"")
    data = after + masked(Opcode.CLOSE, close_payload(1002))
    found = [s.skim_for_close(data[i : i + 1]) for i in range(len(data))]
    assert found == [False] * len(after) + [True] * (len(data) - len(after))


def test_a_close_frame_with_an_invalid_payload_still_counts_as_received() -> None:
    s = server()
    with pytest.raises(RemoteProtocolError):
        s.receive_data(masked(Opcode.CLOSE, close_payload(999)))
    assert s.close_frame_received and s.close_received is None
