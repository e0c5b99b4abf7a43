"""permessage-deflate (RFC 7692): vectors, negotiation, codec limits."""

from __future__ import annotations

import random
import resource
import zlib

import pytest
import wsproto.extensions
import wsproto.frame_protocol as wsframes

from rawsock.sansio import (
    BinaryMessage,
    DeflateParameters,
    HandshakeError,
    Opcode,
    PerMessageDeflate,
    Protocol,
    RemoteProtocolError,
    Role,
    State,
    TextMessage,
    encode_frame,
)
from rawsock.sansio._deflate import compressed_bound
from rawsock.sansio._frames import RSV1

MASK = b"\x00\x00\x00\x00"  # a zero mask keeps client frames byte-comparable with the RFC's


def server_with_deflate(
    parameters: DeflateParameters | None = None,
    settings: PerMessageDeflate | None = None,
    **kwargs: object,
) -> Protocol:
    settings = settings or PerMessageDeflate(threshold=0)
    codec = settings.codec(parameters or DeflateParameters(), client=False)
    return Protocol(Role.SERVER, deflate=codec, **kwargs)  # type: ignore[arg-type]


def client_with_deflate(
    parameters: DeflateParameters | None = None, settings: PerMessageDeflate | None = None
) -> Protocol:
    settings = settings or PerMessageDeflate(threshold=0, client_max_window_bits=15)
    codec = settings.codec(parameters or DeflateParameters(), client=True)
    return Protocol(Role.CLIENT, deflate=codec, random_bytes=lambda n: MASK[:n])


def masked(opcode: Opcode, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=MASK)


def feed_error(protocol: Protocol, data: bytes) -> int:
    with pytest.raises(RemoteProtocolError) as info:
        protocol.receive_data(data)
    protocol.fail(info.value)
    return info.value.code


# -- RFC 7692 §7.2.3 byte vectors ---------------------------------------------------------

HELLO = bytes.fromhex("f248cdc9c90700")


def test_rfc_hello_in_one_block() -> None:
    s = server_with_deflate()
    s.receive_data(masked(Opcode.TEXT, HELLO, rsv=RSV1))
    assert s.events() == [TextMessage("Hello")]
    s.send("Hello")
    assert s.data_to_send() == bytes.fromhex("c107") + HELLO


def test_rfc_hello_fragmented() -> None:
    s = server_with_deflate()
    s.receive_data(
        masked(Opcode.TEXT, bytes.fromhex("f248cd"), fin=False, rsv=RSV1)
        + masked(Opcode.CONTINUATION, bytes.fromhex("c9c90700"))
    )
    assert s.events() == [TextMessage("Hello")]


def test_rfc_sharing_the_sliding_window() -> None:
    s = server_with_deflate()
    s.send("Hello")
    s.send("Hello")
    assert s.data_to_send() == bytes.fromhex("c107") + HELLO + bytes.fromhex("c105f200110000")
    s.receive_data(masked(Opcode.TEXT, HELLO, rsv=RSV1))
    s.receive_data(masked(Opcode.TEXT, bytes.fromhex("f200110000"), rsv=RSV1))
    assert s.events() == [TextMessage("Hello"), TextMessage("Hello")]


def test_rfc_without_context_takeover_every_message_is_the_same() -> None:
    s = server_with_deflate(DeflateParameters(server_no_context_takeover=True))
    s.send("Hello")
    s.send("Hello")
    assert s.data_to_send() == (bytes.fromhex("c107") + HELLO) * 2


def test_rfc_uncompressed_deflate_block() -> None:
    s = server_with_deflate()
    s.receive_data(masked(Opcode.TEXT, bytes.fromhex("000500faff48656c6c6f00"), rsv=RSV1))
    assert s.events() == [TextMessage("Hello")]


def test_rfc_bfinal_block_then_a_new_stream() -> None:
    s = server_with_deflate()
    bfinal = bytes.fromhex("f348cdc9c9070000")
    s.receive_data(masked(Opcode.TEXT, bfinal, rsv=RSV1) + masked(Opcode.TEXT, bfinal, rsv=RSV1))
    assert s.events() == [TextMessage("Hello"), TextMessage("Hello")]


def test_client_masks_compressed_frames() -> None:
    c = client_with_deflate()
    c.send(b"Hello")
    assert c.data_to_send() == masked(Opcode.BINARY, HELLO, rsv=RSV1)


# -- sending choices -----------------------------------------------------------------------


def test_threshold_and_per_message_switch() -> None:
    s = server_with_deflate(settings=PerMessageDeflate(threshold=10))
    s.send(b"short")  # under the threshold: plain
    s.send(b"long enough to compress")
    s.send(b"long but already compressed", compress=False)
    s.send(b"tiny", compress=True)
    wire = s.data_to_send()
    c = client_with_deflate()
    c.receive_data(wire)
    assert [e.data for e in c.events() if isinstance(e, BinaryMessage)] == [
        b"short",
        b"long enough to compress",
        b"long but already compressed",
        b"tiny",
    ]
    rsv_bits = []
    parser = Protocol(Role.CLIENT)._parser
    parser.allowed_rsv = RSV1
    parser.feed(wire)
    while (piece := parser.next_piece()) is not None:
        rsv_bits.append(piece.header.rsv)
    assert rsv_bits == [0, RSV1, 0, RSV1]


def test_fragmented_compressed_send_sets_rsv1_on_the_first_frame_only() -> None:
    s = server_with_deflate()
    s.send("part one, ", fin=False)
    s.send("part two")
    wire = s.data_to_send()
    assert wire[0] == 0x41  # TEXT, RSV1, not FIN
    second = wire[2 + wire[1] :]
    assert second[0] == 0x80  # CONTINUATION, FIN, no RSV1
    c = client_with_deflate()
    c.receive_data(wire)
    assert c.events() == [TextMessage("part one, part two")]


def test_control_frames_are_never_compressed() -> None:
    s = server_with_deflate()
    s.send_ping(b"x" * 100)
    assert s.data_to_send() == encode_frame(Opcode.PING, b"x" * 100)


# -- receive-side errors -------------------------------------------------------------------


def test_rsv1_on_a_continuation_is_1002() -> None:
    s = server_with_deflate()
    s.receive_data(masked(Opcode.TEXT, bytes.fromhex("f248cd"), fin=False, rsv=RSV1))
    continuation = masked(Opcode.CONTINUATION, bytes.fromhex("c9c90700"), rsv=RSV1)
    assert feed_error(s, continuation) == 1002


def test_rsv1_on_a_control_frame_is_1002() -> None:
    assert feed_error(server_with_deflate(), masked(Opcode.PING, b"", rsv=RSV1)) == 1002


def test_rsv2_is_still_1002() -> None:
    assert feed_error(server_with_deflate(), masked(Opcode.TEXT, HELLO, rsv=0x20)) == 1002


def test_corrupt_compressed_data_is_1007() -> None:
    corrupt = masked(Opcode.BINARY, b"\xff\xff\xff", rsv=RSV1)
    assert feed_error(server_with_deflate(), corrupt) == 1007


def test_compressed_invalid_utf8_is_1007() -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = (compressor.compress(b"\xff\xfe") + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert feed_error(server_with_deflate(), masked(Opcode.TEXT, payload, rsv=RSV1)) == 1007


def test_decompressed_size_limit_is_1009() -> None:
    s = server_with_deflate(max_message_size=1000)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = (compressor.compress(bytes(1001)) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(payload) < 1000
    assert feed_error(s, masked(Opcode.BINARY, payload, rsv=RSV1)) == 1009


def gigabyte_bomb() -> bytes:
    """About 1 MB of DEFLATE data that inflates to 1 GiB of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunks = [compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)]
    chunks += [compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)]
    repeat = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return b"".join(chunks) + repeat * 1022  # the stream is periodic once the window is zeros


def test_decompression_bomb_is_1009_with_bounded_memory() -> None:
    bomb = gigabyte_bomb()
    assert len(bomb) < 2 * 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    s = server_with_deflate(max_message_size=1024 * 1024, max_frame_size=4 * 1024 * 1024)
    frame = masked(Opcode.BINARY, bomb, rsv=RSV1)
    with pytest.raises(RemoteProtocolError) as info:
        for start in range(0, len(frame), 65536):
            s.receive_data(frame[start : start + 65536])
    assert info.value.code == 1009
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024, f"peak RSS grew by {grown_kib} KiB"


# -- negotiation ---------------------------------------------------------------------------


def offer(*params: tuple[str, str | None]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    return [("permessage-deflate", list(params))]


def test_default_client_offer() -> None:
    assert PerMessageDeflate().offer() == (
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    )
    assert PerMessageDeflate(
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=None,
        client_max_window_bits=None,
    ).offer() == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "client_max_window_bits"
    )


def test_server_accepts_a_plain_offer() -> None:
    header, agreed = PerMessageDeflate().accept_offer(offer()) or ("", None)
    assert header == "permessage-deflate"
    assert agreed == DeflateParameters()


def test_server_answers_every_parameter() -> None:
    settings = PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=11)
    result = settings.accept_offer(
        offer(
            ("server_no_context_takeover", None),
            ("client_no_context_takeover", None),
            ("server_max_window_bits", "10"),
            ("client_max_window_bits", None),
        )
    )
    assert result == (
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; "
        "client_max_window_bits=11",
        DeflateParameters(True, False, 10, 11),
    )


@pytest.mark.parametrize(
    "bad",
    [
        [("x_unknown", None)],
        [("server_no_context_takeover", None), ("server_no_context_takeover", None)],
        [("server_max_window_bits", "7")],
        [("server_max_window_bits", "16")],
        [("server_max_window_bits", None)],
        [("server_max_window_bits", "010")],
        [("client_max_window_bits", "abc")],
        [("client_no_context_takeover", "1")],
        [("server_max_window_bits", "8")],  # zlib cannot compress with 8 bits
    ],
)
def test_server_declines_invalid_offers_and_takes_the_next(
    bad: list[tuple[str, str | None]],
) -> None:
    offers = [
        ("permessage-deflate", bad),
        ("permessage-deflate", [("client_max_window_bits", None)]),
    ]
    result = PerMessageDeflate(client_max_window_bits=None).accept_offer(offers)
    assert result is not None and result[0] == "permessage-deflate"
    assert PerMessageDeflate().accept_offer([("permessage-deflate", bad)]) is None


def test_server_ignores_other_extensions() -> None:
    assert PerMessageDeflate().accept_offer([("x-webkit-deflate-frame", [])]) is None


def test_server_never_asks_for_more_than_offered() -> None:
    settings = PerMessageDeflate(client_max_window_bits=12)
    result = settings.accept_offer(offer(("client_max_window_bits", "10")))
    assert result is not None
    assert result[0] == "permessage-deflate; client_max_window_bits=10"


def test_server_does_not_answer_client_bits_that_were_not_offered() -> None:
    result = PerMessageDeflate(client_max_window_bits=9).accept_offer(offer())
    assert result == ("permessage-deflate", DeflateParameters())


def test_client_accepts_a_valid_response() -> None:
    settings = PerMessageDeflate()
    response = offer(("server_max_window_bits", "10"), ("client_max_window_bits", "9"))
    assert settings.accept_response(response) == DeflateParameters(False, False, 10, 9)
    assert settings.accept_response([]) is None  # declined: no compression


@pytest.mark.parametrize(
    ("settings", "response", "match"),
    [
        (PerMessageDeflate(), [("x-other", [])], "did not offer"),
        (PerMessageDeflate(), [("permessage-deflate", [("bogus", None)])], "invalid"),
        (PerMessageDeflate(), offer(("server_max_window_bits", "13")), "above"),
        (PerMessageDeflate(), offer(), "ignored our server_max_window_bits"),
        (
            PerMessageDeflate(server_no_context_takeover=True, server_max_window_bits=None),
            offer(),
            "server_no_context_takeover",
        ),
        (
            PerMessageDeflate(server_max_window_bits=None),
            offer(("client_max_window_bits", "8")),
            "zlib",
        ),
        (
            PerMessageDeflate(server_max_window_bits=None),
            offer(("client_max_window_bits", None)),
            "invalid",
        ),
    ],
)
def test_client_fails_on_a_bad_response(
    settings: PerMessageDeflate,
    response: list[tuple[str, list[tuple[str, str | None]]]],
    match: str,
) -> None:
    with pytest.raises(HandshakeError, match=match):
        settings.accept_response(response)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_max_window_bits": 8},
        {"client_max_window_bits": 16},
        {"compression_level": 10},
        {"memory_level": 0},
        {"threshold": -1},
    ],
)
def test_invalid_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PerMessageDeflate(**kwargs)  # type: ignore[arg-type]


# -- wsproto's PerMessageDeflate as an oracle ----------------------------------------------


@pytest.mark.parametrize("no_context_takeover", [False, True])
@pytest.mark.parametrize("bits", [9, 12, 15])
def test_wsproto_reads_what_we_compress_and_back(no_context_takeover: bool, bits: int) -> None:
    parameters = DeflateParameters(
        server_no_context_takeover=no_context_takeover,
        client_no_context_takeover=no_context_takeover,
        server_max_window_bits=bits,
        client_max_window_bits=bits,
    )
    ours = server_with_deflate(parameters, PerMessageDeflate(threshold=0))
    theirs_extension = wsproto.extensions.PerMessageDeflate(
        client_no_context_takeover=no_context_takeover,
        client_max_window_bits=bits,
        server_no_context_takeover=no_context_takeover,
        server_max_window_bits=bits,
    )
    theirs_extension._enabled = True
    theirs = wsframes.FrameProtocol(client=True, extensions=[theirs_extension])
    messages = ["Hello " * 50, "Hello " * 50, "ünïcödé " * 100]
    for message in messages:
        ours.send(message)
    theirs.receive_bytes(ours.data_to_send())
    assert [f.payload for f in theirs.received_frames()] == messages
    wire = b"".join(theirs.send_data(m, fin=True) for m in messages)
    ours.receive_data(wire)
    assert [e.data for e in ours.events()] == messages
    assert ours.state is State.OPEN


# -- limits on compressed frames -------------------------------------------------------------


def compressed_frame(data: bytes, memory_level: int = 1) -> bytes:
    """``data`` deflated as a client would send it, with a small memLevel (more growth)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15, memory_level)
    payload = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert payload.endswith(b"\x00\x00\xff\xff")
    return masked(Opcode.BINARY, payload[:-4], rsv=RSV1)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_compressed_frame_counts_by_its_decompressed_size(chunked: bool) -> None:
    """Incompressible data grows when deflated (4 % with memLevel 1): a message of
    exactly the limit arrives in a frame over the limit, and is accepted."""
    limit = 100_000
    message = random.Random(3).randbytes(limit)
    frame = compressed_frame(message)
    assert len(frame) > limit * 1.03
    s = server_with_deflate(max_message_size=limit, chunked=chunked)
    s.receive_data(frame)
    events = s.events()
    data = b"".join(e.data for e in events)  # type: ignore[union-attr, misc]
    assert data == message
    # one byte more decompressed is over the limit, however it was compressed
    s = server_with_deflate(max_message_size=limit)
    assert feed_error(s, compressed_frame(message + b"!")) == 1009


def test_uncompressed_frames_are_still_held_to_the_frame_limit() -> None:
    s = server_with_deflate(max_message_size=None, max_frame_size=1000, chunked=True)
    s.receive_data(masked(Opcode.BINARY, bytes(1000)))
    assert feed_error(s, masked(Opcode.BINARY, bytes(1001))) == 1009
    s = server_with_deflate(max_message_size=None, max_frame_size=1000, chunked=True)
    s.receive_data(masked(Opcode.BINARY, bytes(1000), fin=False))
    assert feed_error(s, masked(Opcode.CONTINUATION, bytes(1001))) == 1009


def test_the_wire_limit_of_compressed_frames_is_deflates_worst_case() -> None:
    limit = 1000
    s = server_with_deflate(max_message_size=limit)
    too_long = masked(Opcode.BINARY, bytes(compressed_bound(limit) + 1), rsv=RSV1)
    assert feed_error(s, too_long[:14]) == 1009  # from the header, before the payload
