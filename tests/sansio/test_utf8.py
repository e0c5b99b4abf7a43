"""Incremental UTF-8 validation fails at the first invalid byte (RFC 6455 §8.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rawsock.sansio import RemoteProtocolError
from rawsock.sansio._utf8 import Utf8Decoder


@pytest.mark.parametrize(
    ("valid_prefix", "bad_byte"),
    [
        (b"\xed", b"\xa0"),  # surrogate U+D800
        (b"\xed", b"\xbf"),  # surrogate U+DFFF
        (b"\xf4", b"\x90"),  # above U+10FFFF (Autobahn 6.4.x)
        (b"\xe0", b"\x80"),  # overlong
        (b"\xf0", b"\x80"),  # overlong
        (b"", b"\xc0"),  # never valid
        (b"", b"\xff"),
        (b"\xce", b"A"),  # missing continuation
    ],
)
def test_fails_on_the_first_invalid_byte(valid_prefix: bytes, bad_byte: bytes) -> None:
    decoder = Utf8Decoder()
    assert decoder.decode("κόσμε".encode() + valid_prefix) == "κόσμε"
    with pytest.raises(RemoteProtocolError) as info:
        decoder.decode(bad_byte)
    assert info.value.code == 1007


def test_incomplete_character_is_only_an_error_at_the_end() -> None:
    decoder = Utf8Decoder()
    assert decoder.decode(b"\xed\x9f") == ""  # U+D7FF is fine so far
    assert decoder.decode(b"\xbf", final=True) == "\ud7ff"
    with pytest.raises(RemoteProtocolError):
        Utf8Decoder().decode(b"\xe2\x82", final=True)


@given(
    st.text(st.characters(exclude_categories=["Cs"])),  # surrogates cannot be UTF-8
    st.lists(st.integers(min_value=1, max_value=7), min_size=1),
)
def test_valid_text_in_any_split(text: str, sizes: list[int]) -> None:
    data = text.encode("utf-8")
    decoder = Utf8Decoder()
    out, position, index = [], 0, 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        out.append(decoder.decode(data[position : position + size]))
        position += size
        index += 1
    out.append(decoder.decode(b"", final=True))
    assert "".join(out) == text
