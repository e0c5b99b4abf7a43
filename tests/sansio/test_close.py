"""Close codes and payloads (RFC 6455 §5.5.1, §7.4)."""

from __future__ import annotations

import pytest

from rawsock.sansio import (
    CloseCode,
    LocalProtocolError,
    RemoteProtocolError,
    decode_close_payload,
    encode_close_payload,
)


def test_round_trip() -> None:
    payload = encode_close_payload(CloseCode.GOING_AWAY, "bye ✓")
    assert payload == b"\x03\xe9" + "bye ✓".encode()
    assert decode_close_payload(payload) == (1001, "bye ✓")


def test_empty_payload_means_no_status() -> None:
    assert decode_close_payload(b"") == (1005, "")
    assert encode_close_payload(None) == b""
    assert encode_close_payload(1005) == b""


def test_reason_without_code_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        encode_close_payload(None, "why")


def test_reason_of_123_bytes_fits_124_does_not() -> None:
    assert len(encode_close_payload(1000, "x" * 123)) == 125
    with pytest.raises(LocalProtocolError):
        encode_close_payload(1000, "x" * 124)


@pytest.mark.parametrize("code", [3000, 3999, 4000, 4999])
def test_application_codes(code: int) -> None:
    assert decode_close_payload(encode_close_payload(code)) == (code, "")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_invalid_received_codes_are_1002(code: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_close_payload(code.to_bytes(2, "big"))
    assert info.value.code == 1002


def test_bad_utf8_reason_is_1007() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_close_payload(b"\x03\xe8\xc3\x28")
    assert info.value.code == 1007
