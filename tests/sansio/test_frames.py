"""Frame syntax (RFC 6455 §5.2), masking (§5.3) and the §5.7 examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rawsock.sansio import (
    FrameParser,
    LocalProtocolError,
    Opcode,
    RemoteProtocolError,
    apply_mask,
    encode_frame,
)
from rawsock.sansio._frames import RSV1, Piece

MASK = bytes.fromhex("37fa213d")


def parse_all(parser: FrameParser, data: bytes) -> list[Piece]:
    parser.feed(data)
    pieces = []
    while (piece := parser.next_piece()) is not None:
        pieces.append(piece)
    return pieces


def server_parser(**kwargs: object) -> FrameParser:
    return FrameParser(require_mask=True, **kwargs)  # type: ignore[arg-type]


def client_parser(**kwargs: object) -> FrameParser:
    return FrameParser(require_mask=False, **kwargs)  # type: ignore[arg-type]


# -- RFC 6455 §5.7 examples ---------------------------------------------------------------


def test_rfc_single_frame_unmasked_text() -> None:
    wire = bytes.fromhex("810548656c6c6f")
    assert encode_frame(Opcode.TEXT, b"Hello") == wire
    [piece] = parse_all(client_parser(), wire)
    assert piece.header.opcode is Opcode.TEXT and piece.header.fin
    assert piece.data == b"Hello" and piece.first and piece.last


def test_rfc_single_frame_masked_text() -> None:
    wire = bytes.fromhex("818537fa213d7f9f4d5158")
    assert encode_frame(Opcode.TEXT, b"Hello", mask_key=MASK) == wire
    [piece] = parse_all(server_parser(), wire)
    assert piece.data == b"Hello" and piece.header.mask_key == MASK


def test_rfc_fragmented_unmasked_text() -> None:
    wire = bytes.fromhex("010348656c") + bytes.fromhex("80026c6f")
    assert encode_frame(Opcode.TEXT, b"Hel", fin=False) + encode_frame(
        Opcode.CONTINUATION, b"lo"
    ) == wire
    first, second = parse_all(client_parser(), wire)
    assert (first.header.opcode, first.header.fin, first.data) == (Opcode.TEXT, False, b"Hel")
    assert (second.header.opcode, second.header.fin, second.data) == (
        Opcode.CONTINUATION,
        True,
        b"lo",
    )


def test_rfc_ping_and_masked_pong() -> None:
    assert encode_frame(Opcode.PING, b"Hello") == bytes.fromhex("890548656c6c6f")
    pong = bytes.fromhex("8a8537fa213d7f9f4d5158")
    assert encode_frame(Opcode.PONG, b"Hello", mask_key=MASK) == pong
    [piece] = parse_all(server_parser(), pong)
    assert piece.header.opcode is Opcode.PONG and piece.data == b"Hello"


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (256, bytes.fromhex("827e0100")),
        (65536, bytes.fromhex("827f0000000000010000")),
    ],
)
def test_rfc_binary_length_forms(length: int, header: bytes) -> None:
    payload = bytes(length)
    wire = encode_frame(Opcode.BINARY, payload)
    assert wire[: len(header)] == header
    assert b"".join(p.data for p in parse_all(client_parser(), wire)) == payload


@pytest.mark.parametrize(("length", "size"), [(125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_length_form_boundaries(length: int, size: int) -> None:
    wire = encode_frame(Opcode.BINARY, b"x" * length)
    assert len(wire) == size + length


# -- masking -------------------------------------------------------------------------------


@given(st.binary(max_size=300), st.binary(min_size=4, max_size=4))
def test_mask_is_its_own_inverse(data: bytes, key: bytes) -> None:
    masked = apply_mask(data, key)
    assert len(masked) == len(data)
    assert apply_mask(masked, key) == data
    assert masked == bytes(b ^ key[i % 4] for i, b in enumerate(data))


def test_mask_accepts_bytearray_and_memoryview() -> None:
    assert apply_mask(bytearray(b"Hello"), MASK) == apply_mask(memoryview(b"Hello"), MASK)


# -- errors detected from the header ------------------------------------------------------


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_reserved_opcodes_are_1002(opcode: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_all(client_parser(), bytes([0x80 | opcode, 0]))
    assert info.value.code == 1002


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
def test_rsv_bits_without_extension_are_1002(rsv: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_all(client_parser(), bytes([0x81 | rsv, 0]))
    assert info.value.code == 1002


def test_rsv1_accepted_when_an_extension_claims_it() -> None:
    [piece] = parse_all(client_parser(allowed_rsv=RSV1), bytes([0xC1, 1, 0x41]))
    assert piece.header.rsv == RSV1


def test_unmasked_client_frame_is_1002() -> None:
    with pytest.raises(RemoteProtocolError, match="not masked") as info:
        parse_all(server_parser(), encode_frame(Opcode.TEXT, b"hi"))
    assert info.value.code == 1002


def test_masked_server_frame_is_1002() -> None:
    with pytest.raises(RemoteProtocolError, match="masked") as info:
        parse_all(client_parser(), encode_frame(Opcode.TEXT, b"hi", mask_key=MASK))
    assert info.value.code == 1002


def test_control_frame_longer_than_125_is_1002() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_all(client_parser(), bytes([0x89, 126, 0, 126]) + bytes(126))
    assert info.value.code == 1002


def test_fragmented_control_frame_is_1002() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_all(client_parser(), bytes([0x09, 0]))
    assert info.value.code == 1002


@pytest.mark.parametrize("length", [2**63, 2**64 - 1])
def test_64_bit_length_with_high_bit_is_1002(length: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_all(client_parser(), bytes([0x82, 127]) + length.to_bytes(8, "big"))
    assert info.value.code == 1002


def test_huge_declared_length_is_1009_right_after_the_header() -> None:
    parser = client_parser(max_frame_size=1024 * 1024)
    with pytest.raises(RemoteProtocolError) as info:
        parse_all(parser, bytes([0x82, 127]) + (2**63 - 1).to_bytes(8, "big"))
    assert info.value.code == 1009


def test_frame_over_max_frame_size_is_1009_before_payload() -> None:
    parser = client_parser(max_frame_size=100)
    parse_all(parser, encode_frame(Opcode.BINARY, b"x" * 100))
    with pytest.raises(RemoteProtocolError) as info:
        parse_all(parser, encode_frame(Opcode.BINARY, b"x" * 101)[:4])
    assert info.value.code == 1009


# -- incremental parsing -------------------------------------------------------------------


def test_large_frame_is_delivered_in_pieces_as_it_arrives() -> None:
    payload = bytes(range(256)) * 40
    wire = encode_frame(Opcode.BINARY, payload, mask_key=MASK)
    parser = server_parser()
    first = parse_all(parser, wire[:5])
    assert first == []  # header needs 4 + 4 bytes
    pieces = parse_all(parser, wire[5:1003])
    assert pieces[0].first and not pieces[0].last
    pieces += parse_all(parser, wire[1003:5001]) + parse_all(parser, wire[5001:])
    assert pieces[-1].last
    assert b"".join(p.data for p in pieces) == payload


def test_header_is_reported_before_any_payload() -> None:
    parser = client_parser()
    [piece] = parse_all(parser, bytes([0x82, 126, 0x10, 0x00]))
    assert piece.first and not piece.last and piece.data == b""
    assert piece.header.length == 4096


def test_control_frames_wait_until_whole() -> None:
    parser = client_parser()
    wire = encode_frame(Opcode.PING, b"0123456789")
    assert parse_all(parser, wire[:5]) == []
    [piece] = parse_all(parser, wire[5:])
    assert piece.data == b"0123456789" and piece.first and piece.last


def test_encoding_refuses_invalid_control_frames() -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(Opcode.PING, bytes(126))
    with pytest.raises(LocalProtocolError):
        encode_frame(Opcode.CLOSE, b"", fin=False)


frames = st.tuples(
    st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION, Opcode.PING, Opcode.PONG]),
    st.binary(max_size=70000),
    st.booleans(),
)


@given(st.lists(frames, max_size=6), st.booleans(), st.integers(min_value=1, max_value=70000))
def test_frames_round_trip_whatever_the_chunking(
    specs: list[tuple[Opcode, bytes, bool]], masked: bool, chunk: int
) -> None:
    specs = [
        (op, data[:125] if op.is_control else data, True if op.is_control else fin)
        for op, data, fin in specs
    ]
    wire = b"".join(
        encode_frame(op, data, fin=fin, mask_key=MASK if masked else None)
        for op, data, fin in specs
    )
    parser = FrameParser(require_mask=masked)
    pieces: list[Piece] = []
    for start in range(0, len(wire), chunk):
        pieces += parse_all(parser, wire[start : start + chunk])
    frames_out = []
    for piece in pieces:
        if piece.first:
            frames_out.append([piece.header.opcode, b"", piece.header.fin])
        frames_out[-1][1] += piece.data
    assert [tuple(f) for f in frames_out] == specs
    assert parser.buffered == 0
