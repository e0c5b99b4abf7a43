"""HTTP header values used by the opening handshake (RFC 6455 §4, §9.1; RFC 7230).

:class:`Headers` keeps the header lines of a request or response exactly as received and
looks them up by name, case-insensitively. The parsers below understand the list syntax
of the headers the handshake cares about:

* ``#token`` lists (RFC 7230 §7) spread over several header lines: ``Connection``,
  ``Sec-WebSocket-Protocol``; ``Upgrade`` whose elements are ``token ["/" token]``
  (RFC 7230 §6.7);
* ``Sec-WebSocket-Extensions`` (RFC 6455 §9.1) is parsed in ``_extension_header.py``.

Every parser raises :class:`ValueError` on malformed input; the handshake turns that
into a 400 response (server) or a failed handshake (client).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import overload

__all__ = [
    "TOKEN",
    "Headers",
    "encode_header_lines",
    "is_token",
    "parse_token_list",
    "parse_upgrade_list",
]

#: The regular expression of a token: 1*tchar (RFC 7230 §3.2.6).
TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(TOKEN)
# RFC 7230 §6.7: protocol = protocol-name ["/" protocol-version].
_PROTOCOL_RE = re.compile(rf"{TOKEN}(?:/{TOKEN})?")
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
        nothing is lost and encoding them back gives the same bytes.

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
