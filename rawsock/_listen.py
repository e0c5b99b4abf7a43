"""TCP listeners for :func:`rawsock.serve`, optionally shared between processes.

The listeners and their connections are ``_direct_socket.py``'s, not ``trio.socket``'s.

``reuse_port=True`` sets ``SO_REUSEPORT`` on each listening socket (Linux, the BSDs,
macOS): several processes may then bind the same address and port, and the kernel
spreads incoming connections over them. This is how a server runs one process per core
on one port, like Node's cluster module.
"""

from __future__ import annotations

import errno
import socket as stdlib_socket

import trio

from ._direct_socket import DirectSocketListener

__all__ = ["open_tcp_listeners"]


async def open_tcp_listeners(
    port: int, host: str | None, *, backlog: int | None, reuse_port: bool
) -> list[DirectSocketListener]:
    """Listeners on every address ``host`` resolves to (all interfaces for ``None``), as
    ``trio.open_tcp_listeners`` makes them: ``SO_REUSEADDR``, IPv6 sockets IPv6-only.

    Raises:
        OSError: the address cannot be bound, or ``reuse_port`` is not supported here.
    """
    if reuse_port and not hasattr(stdlib_socket, "SO_REUSEPORT"):
        raise OSError("SO_REUSEPORT is not supported on this platform")
    addresses = await trio.socket.getaddrinfo(
        host, port, type=trio.socket.SOCK_STREAM, flags=trio.socket.AI_PASSIVE
    )
    listeners: list[DirectSocketListener] = []
    unsupported: list[OSError] = []
    try:
        for family, kind, proto, _, address in addresses:
            try:
                sock = stdlib_socket.socket(family, kind, proto)
            except OSError as error:
                if error.errno != errno.EAFNOSUPPORT:
                    raise
                unsupported.append(error)  # (IPv6 disabled, for instance)
                continue
            try:
                sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEADDR, 1)
                if reuse_port:
                    sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEPORT, 1)
                if family == stdlib_socket.AF_INET6:
                    sock.setsockopt(stdlib_socket.IPPROTO_IPV6, stdlib_socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(backlog if backlog is not None else 0xFFFF)
            except BaseException:
                sock.close()
                raise
            listeners.append(DirectSocketListener(sock))
    except BaseException:
        for listener in listeners:
            listener.socket.close()
        raise
    if not listeners:
        raise OSError(errno.EAFNOSUPPORT, f"no address family of {host!r} is supported here")
    return listeners
