"""TCP listeners for :func:`rawsock.serve`, optionally shared between processes.

``reuse_port=True`` sets ``SO_REUSEPORT`` on each listening socket (Linux, the BSDs,
macOS): several processes may then bind the same address and port, and the kernel
spreads incoming connections over them. This is how a server runs one process per core
on one port, like Node's cluster module.
"""

from __future__ import annotations

import socket as stdlib_socket

import trio

__all__ = ["open_tcp_listeners"]


async def open_tcp_listeners(
    port: int, host: str | None, *, backlog: int | None, reuse_port: bool
) -> list[trio.SocketListener]:
    """Listeners on every address ``host`` resolves to (all interfaces for ``None``).

    Raises:
        OSError: the address cannot be bound, or ``reuse_port`` is not supported here.
    """
    if not reuse_port:
        return await trio.open_tcp_listeners(port, host=host, backlog=backlog)
    if not hasattr(stdlib_socket, "SO_REUSEPORT"):
        raise OSError("SO_REUSEPORT is not supported on this platform")
    addresses = await trio.socket.getaddrinfo(
        host, port, type=trio.socket.SOCK_STREAM, flags=trio.socket.AI_PASSIVE
    )
    listeners: list[trio.SocketListener] = []
    try:
        for family, kind, proto, _, address in addresses:
            sock = trio.socket.socket(family, kind, proto)
            try:
                sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEADDR, 1)
                sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEPORT, 1)
                if family == trio.socket.AF_INET6:
                    sock.setsockopt(stdlib_socket.IPPROTO_IPV6, stdlib_socket.IPV6_V6ONLY, 1)
                await sock.bind(address)
                sock.listen(backlog if backlog is not None else 0xFFFF)
            except BaseException:
                sock.close()
                raise
            listeners.append(trio.SocketListener(sock))
    except BaseException:
        for listener in listeners:
            listener.socket.close()
        raise
    return listeners
