"""The connection options, defined once: their types, defaults, ranges and checks.

Theory of operation: the ``TypedDict`` classes give the options their static types, so
that ``**options: Unpack[ServerOptions]`` in :func:`rawsock.serve` and the other entry
points lets a type checker report a misspelt name or a wrong type; their docstrings are
the options' documentation. At run time, one table per side maps each option to its
default and its check. :func:`resolve` runs the checks once, at the call, before any
I/O: a wrong type raises ``TypeError``, a value out of range ``ValueError``, an unknown
name ``TypeError``, each naming the public option. ``_settings.py`` turns the result into
the settings objects the connection code reads.

This module imports the sans-I/O core and the HTTP and security helpers, never the
connection modules, so that they can take their defaults from here.
"""

from __future__ import annotations

import difflib
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypedDict

from ._checks import (
    check_callable,
    check_header_pairs,
    check_instance,
    check_int,
    check_number,
    check_path,
    check_strings,
)
from ._http import RequestHook
from ._http2_optional import require_h2
from ._security import BasicAuth
from .sansio._deflate import DEFAULT_COMPRESSION, PerMessageDeflate
from .sansio._handshake_parts import Request
from .sansio._protocol import DEFAULT_MAX_MESSAGE_SIZE

__all__ = [
    "CLIENT_OPTIONS",
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_COMPRESSION",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_MAX_REQUEST_LINE",
    "DEFAULT_OPEN_TIMEOUT",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "DEFAULT_RECEIVE_BUFFER",
    "SERVER_OPTIONS",
    "SHARED_OPTIONS",
    "ClientOptions",
    "ConnectionOptions",
    "Option",
    "ServerOptions",
    "SubprotocolSelector",
    "resolve",
]

#: Seconds allowed for the opening handshake (on a client, TCP, proxy and TLS included).
DEFAULT_OPEN_TIMEOUT = 10.0
#: Seconds to wait for the peer's half of the closing handshake (and, on a client, for
#: the server to close TCP) before closing the transport anyway.
DEFAULT_CLOSE_TIMEOUT = 10.0
#: Bytes of received, unconsumed messages after which the connection stops reading.
DEFAULT_RECEIVE_BUFFER = 1024 * 1024
#: Keepalive: seconds between pings, and seconds to wait for the pong.
DEFAULT_PING_INTERVAL = 20.0
DEFAULT_PING_TIMEOUT = 20.0
#: Server request limits: the request line (414 beyond), the head and the header lines
#: (431 beyond).
DEFAULT_MAX_REQUEST_LINE = 8192
DEFAULT_MAX_HEADER_SIZE = 16384
DEFAULT_MAX_HEADERS = 128
#: Redirects a client follows before giving up.
DEFAULT_MAX_REDIRECTS = 10

#: ``select_subprotocol(request, offered)``: the subprotocol to use, one of ``offered``
#: (the client's list, in its order), or ``None`` for none; may be a coroutine function.
SubprotocolSelector = Callable[[Request, list[str]], "Awaitable[str | None] | str | None"]


class ConnectionOptions(TypedDict, total=False):
    """The options of every connection, server or client; all are optional.

    Checked at the call, before any I/O: a wrong type raises ``TypeError``, a value out
    of range ``ValueError``, an unknown name ``TypeError``. ``bool`` is no number here.

    Attributes:
        compression: permessage-deflate settings (RFC 7692): a server uses them when the
            client offers it, a client offers them. ``None`` turns compression off.
            Default ``PerMessageDeflate()``.
        max_message_size: largest message accepted, in bytes (1009 beyond): an int >= 1,
            or ``None`` for no limit. Default 1 MiB.
        max_frame_size: largest frame accepted, in bytes (1009 beyond): an int >= 1, or
            ``None`` for the message limit. Default ``None``.
        receive_buffer: bytes of received, unconsumed messages held before reading stops
            (TCP backpressure then reaches the peer): an int >= 1. Default 1 MiB.
        open_timeout: seconds for the opening handshake (server: for the client's
            request and, with TLS, its handshake; client: for each attempt's connecting,
            proxy tunnel, TLS and handshake): > 0, or ``None`` for no limit. Default 10.
        close_timeout: seconds to wait for the closing handshake: > 0. Default 10. When
            it passes (or the connection fails) before the peer's close frame came, up to
            that long again, at most 2 s of it, goes to reading what the peer still
            sends, so that the socket is not reset under our close frame.
        ping_interval: seconds between keepalive pings: > 0, or ``None`` to turn
            keepalive off. Default 20.
        ping_timeout: seconds to wait for a keepalive pong before closing with 1011:
            > 0, or ``None`` to wait forever. Default 20.
    """

    compression: PerMessageDeflate | None
    max_message_size: int | None
    max_frame_size: int | None
    receive_buffer: int
    open_timeout: float | None
    close_timeout: float
    ping_interval: float | None
    ping_timeout: float | None


class ServerOptions(ConnectionOptions, total=False):
    """The options of a server connection: :func:`rawsock.accept`, :func:`rawsock.serve`,
    :func:`rawsock.serve_unix` and :func:`rawsock.serve_stream`.

    Those of :class:`ConnectionOptions` (``compression``, ``max_message_size``,
    ``max_frame_size``, ``receive_buffer``, ``open_timeout``, ``close_timeout``,
    ``ping_interval``, ``ping_timeout``; see ``help(rawsock.ConnectionOptions)``), and
    the following. A request meets the checks in this order: ``allowed_hosts`` (400,
    421), ``handle_request``, RFC 6455 §4.2.1 (405, 426, 400), ``origins`` (403),
    ``basic_auth`` (401), then the subprotocol and permessage-deflate, and the 101.

    Attributes:
        subprotocols: subprotocols supported, in order of preference (a sequence of
            str); the first one the client also offers is selected (RFC 6455 §4.2.2).
            Default: none.
        select_subprotocol: instead of ``subprotocols``: ``f(request, offered)`` (may be
            a coroutine function) returns one of ``offered`` or ``None``; raise
            :class:`HandshakeError` in it to refuse with that status. Default ``None``.
        extra_headers: more headers for the 101 response, a sequence of ``(name, value)``
            pairs of str. Default: none.
        handle_request: ``f(request)`` (may be a coroutine function) called with every
            request before the upgrade, upgrade or not (``request.key`` is ``None`` for
            a plain HTTP request); returns an :class:`HTTPResponse` to send instead, or
            ``None`` to go on. Default ``None``.
        allowed_hosts: ``Host`` values served, a sequence of str (``".example.org"``
            includes subdomains; see :func:`rawsock.check_host`); 421 for others.
            Default ``None``: any host.
        origins: ``Origin`` values allowed, a sequence of str or ``None`` (``None``: a
            request without ``Origin``); 403 for others (RFC 6455 §10.2). Default
            ``None``: no check.
        basic_auth: a :class:`BasicAuth` requiring HTTP Basic credentials (RFC 7617);
            401 without them. Default ``None``.
        max_request_line: longest request line accepted, in bytes (414 beyond): an
            int >= 1. Default 8192.
        max_header_size: largest request head accepted, in bytes (431 beyond): an
            int >= 1. Default 16384.
        max_headers: most header lines accepted (431 beyond): an int >= 1. Default 128.
    """

    subprotocols: Sequence[str]
    select_subprotocol: SubprotocolSelector | None
    extra_headers: Sequence[tuple[str, str]]
    handle_request: RequestHook | None
    allowed_hosts: Sequence[str] | None
    origins: Sequence[str | None] | None
    basic_auth: BasicAuth | None
    max_request_line: int
    max_header_size: int
    max_headers: int


class ClientOptions(ConnectionOptions, total=False):
    """The options of a client connection: :func:`rawsock.connect` (which also takes
    ``stream``) and :func:`rawsock.reconnect`.

    Those of :class:`ConnectionOptions` (``compression``, ``max_message_size``,
    ``max_frame_size``, ``receive_buffer``, ``open_timeout``, ``close_timeout``,
    ``ping_interval``, ``ping_timeout``; see ``help(rawsock.ConnectionOptions)``), and
    the following.

    Attributes:
        subprotocols: subprotocols to offer, in order of preference (a sequence of str).
            Default: none.
        extra_headers: more request headers (``Origin``, ``Authorization``, cookies...),
            a sequence of ``(name, value)`` pairs of str. Default: none.
        ssl_context: an ``ssl.SSLContext`` for ``wss://``. Default ``None``:
            ``ssl.create_default_context()``.
        unix_socket_path: connect to this Unix-domain socket (a str or an
            ``os.PathLike``) instead of the URL's host, which still gives the ``Host``
            header (and TLS's server name for ``wss://``); no proxy, no redirects.
            Default ``None``.
        proxy: ``True``: the proxy the environment gives (``https_proxy``,
            ``http_proxy``, ``all_proxy``, ``no_proxy``; never for loopback hosts); a
            URL ``"http://[user:pass@]host:port"`` (or ``https://``): that proxy;
            ``None`` or ``False``: direct. Default ``True``.
        max_redirects: 3xx responses followed before failing, an int >= 0 (0 follows
            none). Default 10.
        http2: ``True``: open ``wss://`` WebSockets over HTTP/2 (RFC 8441), sharing one
            connection per server, and fail if the server does not allow it;
            ``"auto"``: over HTTP/2 when the server allows it, else HTTP/1.1;
            ``False``: HTTP/1.1. Needs the ``http2`` extra (``pip install
            'rawsock[http2]'``). Default ``False``.
    """

    subprotocols: Sequence[str]
    extra_headers: Sequence[tuple[str, str]]
    ssl_context: ssl.SSLContext | None
    unix_socket_path: str | os.PathLike[str] | None
    proxy: str | bool | None
    max_redirects: int
    http2: bool | Literal["auto"]


# -- at run time: each option's default and check (see _checks.py) -------------------


@dataclass(frozen=True)
class Option:
    """One option at run time: its default, and the check its value goes through."""

    default: object
    check: Callable[[str, object], object]  # (name, value) -> the value to use


_seconds = partial(check_number, above=0, optional=True)
_size = partial(check_int, minimum=1)
_optional_size = partial(check_int, minimum=1, optional=True)
_optional_callable = partial(check_callable, optional=True)

SHARED_OPTIONS: Mapping[str, Option] = {
    "compression": Option(
        DEFAULT_COMPRESSION,
        partial(check_instance, kind=PerMessageDeflate, what="a PerMessageDeflate", optional=True),
    ),
    "max_message_size": Option(DEFAULT_MAX_MESSAGE_SIZE, _optional_size),
    "max_frame_size": Option(None, _optional_size),
    "receive_buffer": Option(DEFAULT_RECEIVE_BUFFER, _size),
    "open_timeout": Option(DEFAULT_OPEN_TIMEOUT, _seconds),
    "close_timeout": Option(DEFAULT_CLOSE_TIMEOUT, partial(check_number, above=0)),
    "ping_interval": Option(DEFAULT_PING_INTERVAL, _seconds),
    "ping_timeout": Option(DEFAULT_PING_TIMEOUT, _seconds),
}

SERVER_OPTIONS: Mapping[str, Option] = {
    **SHARED_OPTIONS,
    "subprotocols": Option((), check_strings),
    "select_subprotocol": Option(None, _optional_callable),
    "extra_headers": Option((), check_header_pairs),
    "handle_request": Option(None, _optional_callable),
    "allowed_hosts": Option(None, partial(check_strings, optional=True)),
    "origins": Option(None, partial(check_strings, optional=True, none_items=True)),
    "basic_auth": Option(
        None, partial(check_instance, kind=BasicAuth, what="a BasicAuth", optional=True)
    ),
    "max_request_line": Option(DEFAULT_MAX_REQUEST_LINE, _size),
    "max_header_size": Option(DEFAULT_MAX_HEADER_SIZE, _size),
    "max_headers": Option(DEFAULT_MAX_HEADERS, _size),
}


def check_http2(name: str, value: object) -> object:
    """``True``, ``False`` or ``"auto"``; the first and last need ``h2`` installed.

    Raises:
        TypeError: another value.
        ImportError: ``h2`` is missing.
    """
    if value is not True and value is not False and value != "auto":
        raise TypeError(f"{name} must be True, False or 'auto', not {value!r}")
    if value:
        require_h2(f"{name}={value!r}")
    return value


def resolve(
    options: Mapping[str, object], table: Mapping[str, Option], caller: str
) -> dict[str, Any]:
    """Check ``options`` against ``table``; every option of the table, with its default
    where ``options`` has none.

    Args:
        options: the keyword arguments of the public function.
        table: ``SERVER_OPTIONS`` or ``CLIENT_OPTIONS``.
        caller: the public function's name, for the error about an unknown option.

    Raises:
        TypeError: an unknown option, or an option of the wrong type.
        ValueError: an option out of range.
    """
    for name in options:
        if name not in table:
            message = f"{caller}() got an unknown option {name!r}"
            close = difflib.get_close_matches(name, table, n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            raise TypeError(message)
    return {
        name: option.check(name, options[name]) if name in options else option.default
        for name, option in table.items()
    }


CLIENT_OPTIONS: Mapping[str, Option] = {
    **SHARED_OPTIONS,
    "subprotocols": Option((), check_strings),
    "extra_headers": Option((), check_header_pairs),
    "ssl_context": Option(
        None, partial(check_instance, kind=ssl.SSLContext, what="an ssl.SSLContext", optional=True)
    ),
    "unix_socket_path": Option(None, check_path),
    "proxy": Option(
        True, partial(check_instance, kind=(str, bool), what="a str, a bool", optional=True)
    ),
    "max_redirects": Option(DEFAULT_MAX_REDIRECTS, partial(check_int, minimum=0)),
    "http2": Option(False, check_http2),
}
