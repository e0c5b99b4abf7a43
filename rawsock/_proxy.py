"""HTTP proxies for the client: the CONNECT tunnel (RFC 9110 §9.3.6) and the environment.

A WebSocket client reaches a server through an HTTP proxy by asking it for a tunnel
with ``CONNECT host:port``; after a 2xx answer the connection carries the WebSocket
bytes (TLS first for ``wss://``), and the proxy never sees them. The proxy itself is
reached over TCP (``http://`` proxy URLs) or TLS (``https://``), with Basic credentials
from the URL's user information (``http://user:password@proxy:3128``).

Environment variables, as curl and most HTTP clients read them: ``https_proxy`` for
``wss://`` and ``http_proxy`` for ``ws://`` (lower case first, then upper case;
``HTTP_PROXY`` is ignored when ``REQUEST_METHOD`` is set, as in a CGI script, where
a client could set it), then ``all_proxy``; ``no_proxy`` lists hosts reached directly.
Loopback hosts (``localhost``, 127.0.0.0/8, ``::1``) are always reached directly.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import h11
import trio

from .sansio._errors import HandshakeError

__all__ = ["ProxyError", "ProxyURL", "open_tunnel", "parse_proxy_url", "proxy_from_environment"]

_READ_SIZE = 16384
_MAX_RESPONSE_HEAD = 16384


class ProxyError(HandshakeError):
    """The proxy refused to open the tunnel, or did not answer as an HTTP proxy.

    Attributes:
        status_code: the proxy's status (407 for missing credentials, 403, 502...),
            0 when it did not send a valid HTTP response.
        headers: the proxy's response headers.
    """


@dataclass(frozen=True)
class ProxyURL:
    """A parsed proxy URL."""

    secure: bool  # TLS to the proxy itself (https://)
    host: str
    port: int
    authorization: str | None  # the Proxy-Authorization value, from the user information


def parse_proxy_url(url: str) -> ProxyURL:
    """Parse ``http://[user:password@]host[:port]`` or ``https://...``.

    A URL without a scheme is taken as ``http://``; the default ports are 80 and 443.

    Raises:
        ValueError: another scheme (SOCKS proxies are not supported), no host, or a bad
            port.
    """
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"unsupported proxy scheme {parts.scheme!r} (http or https only)")
    if not parts.hostname:
        raise ValueError(f"proxy URL has no host: {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"proxy URL has an invalid port: {url!r}") from None
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    secure = parts.scheme == "https"
    return ProxyURL(secure, parts.hostname, port or (443 if secure else 80), authorization)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_entry(entry: str) -> tuple[str, int | None]:
    """``name[:port]``, ``[v6][:port]`` or a bare IPv6 address or network."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        name, _, port = entry.partition(":")
    else:
        name, port = entry, ""
    return name, int(port) if port.isdigit() else None


def _entry_matches(entry: str, host: str, port: int) -> bool:
    name, entry_port = _split_entry(entry.lower())
    if entry_port is not None and entry_port != port:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        domain = name.lstrip("*").lstrip(".")
        return bool(domain) and (host == domain or host.endswith("." + domain))
    try:
        return address in ipaddress.ip_network(name, strict=False)
    except ValueError:
        return False


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (comma or space separated) covers ``host:port``.

    Entries: ``*`` (everything), a domain (``example.com`` or ``.example.com``, which
    both match the domain and its subdomains), an IP address or network
    (``10.0.0.0/8``), each with an optional ``:port``.
    """
    host = host.lower().strip("[]")
    entries = no_proxy.replace(",", " ").split()
    return "*" in entries or any(_entry_matches(entry, host, port) for entry in entries)


def proxy_from_environment(
    secure: bool, host: str, port: int, environ: Mapping[str, str] | None = None
) -> str | None:
    """The proxy URL the environment sets for a connection to ``host:port``.

    Args:
        secure: ``wss://`` (``https_proxy``) or ``ws://`` (``http_proxy``).
        host: the server's host.
        port: the server's port.
        environ: the variables (default ``os.environ``).

    Returns:
        The proxy URL, or ``None`` for a direct connection.
    """
    env = os.environ if environ is None else environ
    if _is_loopback(host.lower().strip("[]")):
        return None
    no_proxy = env.get("no_proxy", env.get("NO_PROXY", ""))
    if no_proxy and _bypassed(host, port, no_proxy):
        return None
    names = ["https_proxy", "HTTPS_PROXY"] if secure else ["http_proxy"]
    if not secure and "REQUEST_METHOD" not in env:
        names.append("HTTP_PROXY")
    for name in [*names, "all_proxy", "ALL_PROXY"]:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def open_tunnel(proxy: ProxyURL, host: str, port: int) -> trio.abc.Stream:
    """Connect to ``proxy`` and ask it for a tunnel to ``host:port`` (``CONNECT``).

    Args:
        proxy: the proxy.
        host: the server's host name or address (resolved by the proxy).
        port: the server's port.

    Returns:
        A stream connected, through the proxy, to ``host:port``.

    Raises:
        OSError: the proxy cannot be reached.
        ProxyError: the proxy answered with a status other than 2xx, or not with HTTP.
        trio.BrokenResourceError: the connection to the proxy broke.
    """
    stream: trio.abc.Stream = await trio.open_tcp_stream(proxy.host, proxy.port)
    try:
        if proxy.secure:
            context = ssl.create_default_context()
            stream = trio.SSLStream(
                stream, context, server_hostname=proxy.host, https_compatible=True
            )
        authority = _authority(host, port)
        headers = [("Host", authority)]
        if proxy.authorization is not None:
            headers.append(("Proxy-Authorization", proxy.authorization))
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_RESPONSE_HEAD)
        request = h11.Request(method="CONNECT", target=authority, headers=headers)
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise ProxyError(f"the proxy's answer is not valid HTTP: {exc}", 0) from exc
            if event is h11.NEED_DATA:
                conn.receive_data(bytes(await stream.receive_some(_READ_SIZE)))
            elif isinstance(event, h11.Response):
                break
            elif not isinstance(event, h11.InformationalResponse):
                raise ProxyError("the proxy closed the connection without answering", 0)
        response_headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers]
        if not 200 <= event.status_code < 300:
            message = f"the proxy refused the tunnel with HTTP {event.status_code}"
            raise ProxyError(message, event.status_code, response_headers)
        if conn.trailing_data[0]:
            raise ProxyError("the proxy sent data before the tunnel was used", 0)
        return stream
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
