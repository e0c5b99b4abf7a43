"""HTTP header values used by the opening handshake (RFC 6455 §4, §9.1; RFC 7230).

:class:`Headers` keeps the header lines of a request or response exactly as received and
looks them up by name, case-insensitively. The parsers below understand the list syntax
of the headers the handshake cares about:

* ``#token`` lists (RFC 7230 §7) spread over several header lines: ``Connection``,
  ``Sec-WebSocket-Protocol``; ``Upgrade`` whose elements are ``token ["/" token]``
  (RFC 7230 §6.7);
* ``Sec-WebSocket-Extensions`` (RFC 6455 §9.1), with parameters whose values may be
  quoted strings (RFC 7230 §3.2.6).

Every parser raises :class:`ValueError` on malformed input; the handshake turns that
into a 400 response (server) or a failed handshake (client).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import overload

__all__ = [
    "Extension",
    "Headers",
    "encode_header_lines",
    "format_extensions",
    "is_token",
    "parse_extensions",
    "parse_token_list",
    "parse_upgrade_list",
]

#: One extension offer or response: its name and its ``(name, value)`` parameters.
Extension = tuple[str, list[tuple[str, str | None]]]

# RFC 7230 §3.2.6: token = 1*tchar.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
# RFC 7230 §6.7: protocol = protocol-name ["/" protocol-version].
_PROTOCOL_RE = re.compile(rf"{_TOKEN}(?:/{_TOKEN})?")
# RFC 7230 §3.2.6: qdtext and the characters a quoted-pair may escape.
_QDTEXT = frozenset("\t !") | {chr(c) for c in range(0x23, 0x7F) if c != 0x5C}
_QDTEXT |= {chr(c) for c in range(0x80, 0x100)}
_QUOTED_PAIR = _QDTEXT | {'"', "\\"}
_OWS = " \t"
# RFC 7230 §3.2: field-content is VCHAR / obs-text separated by SP or HTAB.
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|^[ \t]|[ \t]$")


def is_token(value: str) -> bool:
    """Tell whether ``value`` is an RFC 7230 §3.2.6 ``token`` (one or more tchar).

    Args:
        value: the string to check.

    Returns:
        ``True`` if every character is a tchar and the string is not empty.
    """
    return _TOKEN_RE.fullmatch(value) is not None


class Headers:
    """The header lines of a request or response, in order and as received.

    Names keep the case they were sent with; :meth:`get`, :meth:`get_all` and ``in``
    compare names case-insensitively (RFC 7230 §3.2). Iterating yields the
    ``(name, value)`` pairs. Instances are immutable.
    """

    __slots__ = ("_items_", "_packed")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items_: tuple[tuple[str, str], ...] | None = tuple((n, v) for n, v in items)
        self._packed: str | None = None

    def compact(self) -> Headers:
        """The same headers, held as one string until they are looked at.

        For headers kept for a connection's lifetime (a handshake's), which most
        applications never read: a tuple of pairs of strings costs about 100 bytes of
        object overhead per header line, one string a few dozen bytes in all.
        """
        items = self._items
        if any("\0" in n or "\0" in v for n, v in items):
            return self  # (no valid header contains NUL; keep such headers as they are)
        compacted = Headers()
        compacted._items_ = None
        compacted._packed = "\0".join(f"{n}\0{v}" for n, v in items)
        return compacted

    @property
    def _items(self) -> tuple[tuple[str, str], ...]:
        items = self._items_
        if items is None:
            assert self._packed is not None
            parts = self._packed.split("\0") if self._packed else []
            items = self._items_ = tuple(zip(parts[::2], parts[1::2], strict=True))
            self._packed = None
        return items

    @classmethod
    def from_raw(cls, items: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Build from the ``(name, value)`` byte pairs h11 produces.

        Bytes are decoded as ISO-8859-1, which maps every octet to one character, so
        nothing is lost and :func:`encode_header_lines` gives the same bytes back.

        Args:
            items: the raw header pairs, for example ``h11.Request.headers.raw_items()``.

        Returns:
            The headers, with ``str`` names and values.
        """
        return cls((n.decode("latin-1"), v.decode("latin-1")) for n, v in items)

    @property
    def raw(self) -> list[tuple[str, str]]:
        """A new list of every ``(name, value)`` pair, in the order received."""
        return list(self._items)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: None) -> str | None: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the value of the first header called ``name``.

        Use :meth:`get_all` when the header must appear at most once or is a list.

        Args:
            name: the header name, in any case.
            default: what to return when there is no such header.

        Returns:
            The first value, or ``default``.
        """
        wanted = name.lower()
        for n, v in self._items:
            if n.lower() == wanted:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Return the values of every header called ``name``, in order.

        Args:
            name: the header name, in any case.

        Returns:
            The values; an empty list when the header is absent.
        """
        wanted = name.lower()
        return [v for n, v in self._items if n.lower() == wanted]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        wanted = name.lower()
        return any(n.lower() == wanted for n, _ in self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


def _split_list(values: Iterable[str]) -> Iterator[str]:
    """Yield the non-empty, trimmed elements of comma-separated lists (RFC 7230 §7)."""
    for value in values:
        for raw in value.split(","):
            element = raw.strip(_OWS)
            if element:
                yield element


def parse_token_list(values: Iterable[str]) -> list[str]:
    """Parse a ``#token`` list spread over several header lines (RFC 7230 §7).

    Used for ``Connection`` and ``Sec-WebSocket-Protocol`` (RFC 6455 §4.1, §4.2.1).
    Empty elements are ignored and whitespace around elements is trimmed.

    Args:
        values: the values of every header line with that name, in order.

    Returns:
        The tokens in order, in the case they were sent.

    Raises:
        ValueError: an element is not a token.
    """
    tokens = []
    for element in _split_list(values):
        if not is_token(element):
            raise ValueError(f"{element!r} is not a valid token")
        tokens.append(element)
    return tokens


def parse_upgrade_list(values: Iterable[str]) -> list[str]:
    """Parse the ``Upgrade`` header: a list of ``protocol-name ["/" version]`` (RFC 7230 §6.7).

    Args:
        values: the values of every ``Upgrade`` header line, in order.

    Returns:
        The protocols in order, in the case they were sent.

    Raises:
        ValueError: an element is not a protocol.
    """
    protocols = []
    for element in _split_list(values):
        if _PROTOCOL_RE.fullmatch(element) is None:
            raise ValueError(f"{element!r} is not a valid protocol in Upgrade")
        protocols.append(element)
    return protocols


class _Scanner:
    """A cursor over one header value, for the extension grammar."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> ValueError:
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of value"
        return ValueError(
            f"malformed Sec-WebSocket-Extensions {self.text!r}: "
            f"expected {what} at position {self.pos}, found {found}"
        )

    def skip_ows(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _OWS:
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def token(self, what: str) -> str:
        match = _TOKEN_RE.match(self.text, self.pos)
        if match is None:
            raise self.fail(what)
        self.pos = match.end()
        return match.group()

    def quoted_string(self) -> str:
        """Read a quoted-string (RFC 7230 §3.2.6) and return it unescaped."""
        self.pos += 1  # the opening DQUOTE
        out: list[str] = []
        while True:
            char = self.peek()
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\":
                self.pos += 1
                char = self.peek()
                if char not in _QUOTED_PAIR:
                    raise self.fail("an escaped character")
            elif char not in _QDTEXT:
                raise self.fail("a closing '\"'")
            out.append(char)
            self.pos += 1


def parse_extensions(values: Iterable[str]) -> list[Extension]:
    """Parse ``Sec-WebSocket-Extensions`` header lines (RFC 6455 §9.1).

    The grammar is ``1#extension`` where ``extension = token *(";" param)`` and
    ``param = token ["=" (token / quoted-string)]``; a quoted value must be a token once
    unescaped. Whitespace around separators is allowed and empty list elements are
    ignored. Each header line holds whole elements; several lines form one list.

    Example: ``permessage-deflate; client_max_window_bits, permessage-deflate;
    server_max_window_bits="10"`` gives ``[("permessage-deflate",
    [("client_max_window_bits", None)]), ("permessage-deflate",
    [("server_max_window_bits", "10")])]``.

    Args:
        values: the values of every ``Sec-WebSocket-Extensions`` line, in order.

    Returns:
        The extensions in order, each a name and its list of parameters; a parameter
        without a value has ``None`` as its value.

    Raises:
        ValueError: the header does not follow the grammar.
    """
    extensions: list[Extension] = []
    for value in values:
        scan = _Scanner(value)
        while True:
            scan.skip_ows()
            char = scan.peek()
            if not char:
                break
            if char == ",":
                scan.pos += 1
                continue
            name = scan.token("an extension name")
            params: list[tuple[str, str | None]] = []
            scan.skip_ows()
            while scan.peek() == ";":
                scan.pos += 1
                scan.skip_ows()
                param = scan.token("a parameter name")
                scan.skip_ows()
                param_value: str | None = None
                if scan.peek() == "=":
                    scan.pos += 1
                    scan.skip_ows()
                    if scan.peek() == '"':
                        start = scan.pos
                        param_value = scan.quoted_string()
                        if not is_token(param_value):
                            scan.pos = start
                            raise scan.fail("a quoted value that is a token")
                    else:
                        param_value = scan.token("a parameter value")
                    scan.skip_ows()
                params.append((param, param_value))
            if scan.peek() not in ("", ","):
                raise scan.fail("';' or ','")
            extensions.append((name, params))
    return extensions


def _quote(value: str) -> str:
    """Return ``value`` as a token if it is one, else as a quoted-string (RFC 7230 §3.2.6)."""
    if is_token(value):
        return value
    out = ['"']
    for char in value:
        if char in _QDTEXT:
            out.append(char)
        elif char in _QUOTED_PAIR:
            out.append("\\" + char)
        else:
            raise ValueError(f"{value!r} cannot be sent in a header: {char!r}")
    out.append('"')
    return "".join(out)


def format_extensions(extensions: Iterable[Extension]) -> str:
    """Format extensions as a ``Sec-WebSocket-Extensions`` value (RFC 6455 §9.1).

    The inverse of :func:`parse_extensions`: values that are not tokens are written as
    quoted strings (RFC 7230 §3.2.6).

    Args:
        extensions: ``(name, [(param, value or None), ...])`` pairs.

    Returns:
        The header value, for example ``"permessage-deflate; client_max_window_bits"``.

    Raises:
        ValueError: a name is not a token, or a value holds a character that cannot be
            sent even in a quoted string (a control character).
    """
    parts = []
    for name, params in extensions:
        if not is_token(name):
            raise ValueError(f"extension name {name!r} is not a token")
        pieces = [name]
        for param, value in params:
            if not is_token(param):
                raise ValueError(f"extension parameter name {param!r} is not a token")
            pieces.append(param if value is None else f"{param}={_quote(value)}")
        parts.append("; ".join(pieces))
    return ", ".join(parts)


def encode_header_lines(headers: Iterable[tuple[str, str]]) -> bytes:
    """Serialize header fields as ``Name: value\\r\\n`` lines (RFC 7230 §3.2).

    Args:
        headers: ``(name, value)`` pairs.

    Returns:
        The lines, encoded as ISO-8859-1, without the blank line ending the head.

    Raises:
        ValueError: a name is not a token, or a value contains a control character
            (such as CR or LF), leading or trailing whitespace, or a character outside
            ISO-8859-1.
    """
    out = bytearray()
    for name, value in headers:
        if not is_token(name):
            raise ValueError(f"header name {name!r} is not a token")
        if _BAD_VALUE_RE.search(value):
            raise ValueError(f"header value {value!r} for {name} is not allowed")
        try:
            out += f"{name}: {value}\r\n".encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"header value {value!r} for {name} is not ISO-8859-1") from None
    return bytes(out)
