"""Checks a server applies to a request before the upgrade: Host, Origin, Basic auth.

Each check returns ``None`` to let the request through, or the :class:`HTTPResponse`
that refuses it, so the same functions serve as ``serve`` options and inside a
``handle_request`` hook.

- ``Host`` (RFC 7230 §5.4, RFC 9110 §15.5.20): a request for a host the server does not
  serve gets 421 Misdirected Request; a missing or repeated ``Host`` gets 400.
- ``Origin`` (RFC 6455 §4.2.2 item 1 and §10.2, RFC 6454): browsers send the page's
  origin; an origin not on the allow-list gets 403 Forbidden.
- Basic authentication (RFC 7617): a missing or wrong ``Authorization`` gets 401 with
  ``WWW-Authenticate``; passwords are compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence

from ._http import HTTPResponse
from .sansio._handshake_parts import Request

__all__ = ["BasicAuth", "check_host", "check_origin", "parse_basic_auth", "split_host"]

#: ``check(username, password)``: whether the pair is valid (may be a coroutine).
PasswordCheck = Callable[[str, str], "bool | Awaitable[bool]"]


def split_host(value: str, *, bare_ipv6: bool = False) -> tuple[str, int | None]:
    """Split a ``Host`` header value into a lower-case host and an optional port.

    Args:
        value: ``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` (RFC 7230 §5.4).
        bare_ipv6: also accept an IPv6 address without brackets (and without a port),
            which a ``Host`` header cannot carry but an allow-list entry may.

    Returns:
        ``(host, port)``; IPv6 addresses lose their brackets.

    Raises:
        ValueError: the value is malformed.
    """
    value = value.strip().lower()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"malformed Host {value!r}")
        port_text = rest[1:] if rest else None
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    elif ":" not in value or bare_ipv6:
        host, port_text = value, None
    else:
        raise ValueError(f"malformed Host {value!r}")
    if not host:
        raise ValueError(f"malformed Host {value!r}")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"malformed port in Host {value!r}")
    return host, int(port_text)


def _host_matches(host: str, port: int | None, pattern: str) -> bool:
    if pattern == "*":
        return True
    wildcard = pattern.startswith((".", "*."))
    want_host, want_port = split_host(pattern.removeprefix("*").removeprefix("."), bare_ipv6=True)
    if want_port is not None and want_port != port:
        return False
    if wildcard:
        return host == want_host or host.endswith("." + want_host)
    return host == want_host


def check_host(request: Request, allowed_hosts: Sequence[str]) -> HTTPResponse | None:
    """Check the ``Host`` header against an allow-list (RFC 7230 §5.4).

    Args:
        request: the request.
        allowed_hosts: host names or addresses, compared without case. An entry with a
            port (``"example.com:8443"``) also requires that port; ``".example.com"``
            or ``"*.example.com"`` matches the domain and its subdomains; ``"*"`` any.

    Returns:
        ``None`` when allowed; 400 when ``Host`` is missing, repeated or malformed;
        421 Misdirected Request (RFC 9110 §15.5.20) for a host not on the list.
    """
    values = request.headers.get_all("Host")
    try:
        if len(values) != 1:
            raise ValueError("needs exactly one Host header")
        host, port = split_host(values[0])
    except ValueError:
        return HTTPResponse.text(400, "The request needs exactly one valid Host header.")
    if any(_host_matches(host, port, pattern) for pattern in allowed_hosts):
        return None
    return HTTPResponse.text(421, "This server does not serve that host.")


def check_origin(request: Request, origins: Sequence[str | None]) -> HTTPResponse | None:
    """Check the ``Origin`` header against an allow-list (RFC 6455 §10.2).

    Args:
        request: the request.
        origins: allowed origins such as ``"https://example.com"`` (scheme, host and
            port if not the default, compared without case); ``None`` in the list
            allows requests without ``Origin`` (clients that are not browsers).

    Returns:
        ``None`` when allowed, else 403 Forbidden.
    """
    values = request.headers.get_all("Origin")
    if len(values) > 1:
        return HTTPResponse.text(403, "The request has more than one Origin header.")
    origin = values[0].lower() if values else None
    allowed = {o.lower() if o is not None else None for o in origins}
    if origin in allowed:
        return None
    return HTTPResponse.text(403, "This origin may not open a WebSocket here.")


def parse_basic_auth(value: str | None) -> tuple[str, str] | None:
    """Decode an ``Authorization: Basic`` header value (RFC 7617 §2).

    Args:
        value: the header value, or ``None``.

    Returns:
        ``(username, password)``, or ``None`` when the value is missing, another
        scheme, or malformed (bad base64, no ``:``, not UTF-8).
    """
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


class BasicAuth:
    """HTTP Basic authentication for the opening handshake (RFC 7617).

    Use it as the ``basic_auth`` option of ``serve``/``accept``, or call :meth:`check`
    from a ``handle_request`` hook. The handler finds the user with
    ``rawsock.parse_basic_auth(ws.request_headers.get("Authorization"))``.

    Only use it over ``wss://``: Basic sends the password in clear text.

    Args:
        credentials: a mapping of user names to passwords, or a function
            ``check(username, password) -> bool`` (a coroutine function too) that does
            its own comparison.
        realm: the protection space named in ``WWW-Authenticate`` (RFC 7235 §2.2).

    Raises:
        ValueError: the realm contains ``"``, ``\\`` or control characters.
    """

    def __init__(
        self, credentials: Mapping[str, str] | PasswordCheck, *, realm: str = "rawsock"
    ) -> None:
        if any(c in realm for c in '"\\') or not realm.isprintable():
            raise ValueError(f"the realm cannot be sent in a quoted string: {realm!r}")
        self._credentials = credentials
        self.realm = realm

    def challenge(self, message: str = "Authentication required.") -> HTTPResponse:
        """The 401 response asking for credentials (RFC 7617 §2, §2.1 ``charset``)."""
        header = f'Basic realm="{self.realm}", charset="UTF-8"'
        return HTTPResponse.text(401, message, [("WWW-Authenticate", header)])

    async def verify(self, username: str, password: str) -> bool:
        """Whether ``username`` and ``password`` are valid.

        With a mapping, the password is compared with ``hmac.compare_digest`` (an
        unknown user is compared against a dummy, so both take the same time).
        """
        credentials = self._credentials
        if isinstance(credentials, Mapping):
            expected = credentials.get(username)
            reference = (expected if expected is not None else "\0" * 16).encode()
            same = hmac.compare_digest(password.encode(), reference)
            return same and expected is not None
        result = credentials(username, password)
        if inspect.isawaitable(result):
            result = await result
        return bool(result)

    async def check(self, request: Request) -> HTTPResponse | None:
        """Check the request's ``Authorization`` header.

        Returns:
            ``None`` when the credentials are valid, else the 401 challenge.
        """
        values = request.headers.get_all("Authorization")
        pair = parse_basic_auth(values[0]) if len(values) == 1 else None
        if pair is None:
            return self.challenge()
        if not await self.verify(*pair):
            return self.challenge("Invalid credentials.")
        return None
