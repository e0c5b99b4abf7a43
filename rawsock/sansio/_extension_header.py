"""The ``Sec-WebSocket-Extensions`` header (RFC 6455 §9.1): parsing and formatting.

The grammar is ``1#extension`` where ``extension = token *(";" param)`` and
``param = token ["=" (token / quoted-string)]`` (quoted strings: RFC 7230 §3.2.6).
Every parser raises :class:`ValueError` on malformed input; the handshake turns that
into a 400 response (server) or a failed handshake (client).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._headers import TOKEN, is_token

__all__ = ["Extension", "format_extensions", "parse_extensions"]

#: One extension offer or response: its name and its ``(name, value)`` parameters.
Extension = tuple[str, list[tuple[str, str | None]]]

_TOKEN_RE = re.compile(TOKEN)
# RFC 7230 §3.2.6: qdtext and the characters a quoted-pair may escape.
_QDTEXT = frozenset("\t !") | {chr(c) for c in range(0x23, 0x7F) if c != 0x5C}
_QDTEXT |= {chr(c) for c in range(0x80, 0x100)}
_QUOTED_PAIR = _QDTEXT | {'"', "\\"}
_OWS = " \t"


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
