"""Header value parsing: token lists (RFC 7230 §7), extensions (RFC 6455 §9.1)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rawsock.sansio._extension_header import Extension, format_extensions, parse_extensions
from rawsock.sansio._headers import (
    Headers,
    encode_header_lines,
    is_token,
    parse_token_list,
    parse_upgrade_list,
)

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)


# --- Headers -------------------------------------------------------------------------


def test_headers_lookup_is_case_insensitive_and_keeps_order() -> None:
    headers = Headers.from_raw(
        [(b"Host", b"example.com"), (b"X-Thing", b"1"), (b"x-thing", b"2"), (b"Other", b"")]
    )
    assert headers.get("HOST") == "example.com"
    assert headers.get("x-THING") == "1"
    assert headers.get_all("X-Thing") == ["1", "2"]
    assert headers.get_all("missing") == []
    assert headers.get("missing") is None
    assert headers.get("missing", "dflt") == "dflt"
    assert headers.get("Other") == ""
    assert "host" in headers
    assert "nope" not in headers
    assert 42 not in headers
    assert len(headers) == 4
    assert list(headers) == headers.raw
    assert headers.raw[1] == ("X-Thing", "1")


def test_headers_are_immutable_and_comparable() -> None:
    headers = Headers([("A", "1")])
    raw = headers.raw
    raw.append(("B", "2"))
    assert len(headers) == 1
    assert headers == Headers([("A", "1")])
    assert headers != Headers([("a", "1")])
    assert hash(headers) == hash(Headers([("A", "1")]))
    assert headers != [("A", "1")]
    assert "A" in repr(headers)
    with pytest.raises(AttributeError):
        headers.foo = 1  # type: ignore[attr-defined]


def test_headers_from_raw_decodes_latin_1() -> None:
    headers = Headers.from_raw([(b"X", b"caf\xe9")])
    assert headers.get("x") == "café"
    assert encode_header_lines(headers) == b"X: caf\xe9\r\n"


# --- token lists ---------------------------------------------------------------------


def test_token_list_over_several_lines() -> None:
    assert parse_token_list(["keep-alive, Upgrade", "foo"]) == ["keep-alive", "Upgrade", "foo"]


def test_token_list_ignores_empty_elements_and_whitespace() -> None:
    assert parse_token_list([" , a ,\t b,,  ", "", ","]) == ["a", "b"]
    assert parse_token_list([]) == []


@pytest.mark.parametrize("value", ["a b", "a/b", 'a, "b"', "a;b", "caf\xe9", "a=1", "@"])
def test_token_list_rejects_non_tokens(value: str) -> None:
    with pytest.raises(ValueError, match="not a valid token"):
        parse_token_list([value])


def test_upgrade_list_allows_versions() -> None:
    assert parse_upgrade_list(["WebSocket", "h2c, HTTP/2.0"]) == ["WebSocket", "h2c", "HTTP/2.0"]
    for bad in ["a/", "/b", "a/b/c", "a b"]:
        with pytest.raises(ValueError, match="not a valid protocol"):
            parse_upgrade_list([bad])


def test_is_token() -> None:
    assert is_token("permessage-deflate")
    assert not is_token("")
    assert not is_token("a b")
    assert not is_token('"a"')


@given(st.lists(tokens, max_size=6), st.sampled_from([",", ", ", " ,\t", ",,"]))
def test_token_list_round_trip(items: list[str], sep: str) -> None:
    assert parse_token_list([sep.join(items)]) == items


# --- extensions ----------------------------------------------------------------------


def test_extensions_example() -> None:
    value = (
        "permessage-deflate; client_max_window_bits, "
        'permessage-deflate; server_max_window_bits="10"'
    )
    assert parse_extensions([value]) == [
        ("permessage-deflate", [("client_max_window_bits", None)]),
        ("permessage-deflate", [("server_max_window_bits", "10")]),
    ]


def test_extensions_over_several_lines() -> None:
    assert parse_extensions(["foo", "bar; a=1; b", "", " , "]) == [
        ("foo", []),
        ("bar", [("a", "1"), ("b", None)]),
    ]


def test_extensions_whitespace_around_separators() -> None:
    assert parse_extensions(['  foo \t;\tx = 1 ; y="2" ;z ,bar  ']) == [
        ("foo", [("x", "1"), ("y", "2"), ("z", None)]),
        ("bar", []),
    ]


def test_extensions_quoted_string_escapes() -> None:
    assert parse_extensions([r'foo; a="1\0"; b="\t\o\k\e\n"']) == [
        ("foo", [("a", "10"), ("b", "token")]),
    ]


def test_extensions_quoted_empty_is_not_a_token() -> None:
    with pytest.raises(ValueError, match="quoted value that is a token"):
        parse_extensions(['foo; a=""'])


@pytest.mark.parametrize(
    "value",
    [
        "foo;",  # parameter name missing
        "foo; =1",
        "foo; a=",  # value missing
        "foo; a=1 2",  # junk after value
        "foo bar",  # two names
        ";a",  # no extension name
        'foo; a="1',  # unterminated quoted string
        'foo; a="1\\',  # escape at end
        'foo; a="a b"',  # quoted value not a token
        'foo; a="a,b"',
        'foo; a="\x01"',  # control character in quotes
        "foo; a=b/c",  # unquoted value not a token
        "f\xf6o",
        'foo; "a"=1',
        "foo; a==1",
    ],
)
def test_malformed_extensions(value: str) -> None:
    with pytest.raises(ValueError, match="malformed Sec-WebSocket-Extensions"):
        parse_extensions([value])


def test_malformed_extension_message_points_at_the_problem() -> None:
    with pytest.raises(ValueError, match=r"expected ';' or ',' at position 6, found '/'"):
        parse_extensions(["foo; a/b"])


def test_format_extensions() -> None:
    exts: list[Extension] = [
        ("permessage-deflate", [("client_max_window_bits", None)]),
        ("permessage-deflate", [("server_max_window_bits", "10")]),
        ("x-foo", []),
    ]
    text = format_extensions(exts)
    assert text == (
        "permessage-deflate; client_max_window_bits, "
        "permessage-deflate; server_max_window_bits=10, x-foo"
    )
    assert parse_extensions([text]) == exts


def test_format_extensions_quotes_non_tokens() -> None:
    assert format_extensions([("a", [("b", 'x y"\\')])]) == r'a; b="x y\"\\"'
    assert format_extensions([("a", [("b", "")])]) == 'a; b=""'
    with pytest.raises(ValueError, match="cannot be sent"):
        format_extensions([("a", [("b", "x\r\ny")])])
    with pytest.raises(ValueError, match="not a token"):
        format_extensions([("a b", [])])
    with pytest.raises(ValueError, match="not a token"):
        format_extensions([("a", [("b c", None)])])


extensions = st.lists(
    st.tuples(tokens, st.lists(st.tuples(tokens, st.none() | tokens), max_size=4)),
    max_size=4,
)


@given(extensions)
def test_extensions_round_trip(exts: list[Extension]) -> None:
    assert parse_extensions([format_extensions(exts)]) == exts


@given(st.text(max_size=30))
def test_extension_parser_fails_only_with_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_extensions([text])


# --- writing -------------------------------------------------------------------------


def test_encode_header_lines() -> None:
    assert encode_header_lines([("A", "1"), ("B-c", "x y"), ("D", "")]) == (
        b"A: 1\r\nB-c: x y\r\nD: \r\n"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Bad Name", "x"),
        ("", "x"),
        ("X", "a\r\nInjected: 1"),
        ("X", "a\nb"),
        ("X", "a\x00b"),
        ("X", " leading"),
        ("X", "trailing\t"),
        ("X", "\u20ac"),
    ],
)
def test_encode_header_lines_rejects_bad_fields(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        encode_header_lines([(name, value)])


def test_compact_headers_are_the_same_headers() -> None:
    original = Headers([("Host", "x"), ("Sec-WebSocket-Protocol", "a, b"), ("X", "")])
    compact = original.compact()
    assert compact == original and hash(compact) == hash(original)
    assert compact.get("host") == "x" and compact.get_all("x") == [""]
    assert list(compact) == list(original) and len(compact) == 3
    assert "SEC-websocket-protocol" in compact.compact()
    assert list(Headers().compact()) == []
    with_nul = Headers([("X", "a\0b")])
    assert with_nul.compact() is with_nul
