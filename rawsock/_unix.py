"""Serving WebSocket connections on a Unix-domain socket: :func:`serve_unix`.

The same server as :func:`rawsock.serve` (``_server.py``), on a socket file: one left by
an earlier run is replaced, and the file is removed when the server stops, whether by
``aclose()`` or by cancellation.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import ssl
import stat
from typing import Unpack

import trio

from ._accept import Handler
from ._checks import check_int
from ._direct_socket import DirectSocketListener
from ._options import ServerOptions
from ._server import DEFAULT_SHUTDOWN_TIMEOUT, Server, check_serving
from ._settings import ServerSettings

__all__ = ["serve_unix"]


async def serve_unix(
    handler: Handler,
    path: str | os.PathLike[str],
    *,
    ssl_context: ssl.SSLContext | None = None,
    max_connections: int | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    backlog: int = 128,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    **options: Unpack[ServerOptions],
) -> None:
    """Serve WebSocket connections on a Unix-domain socket until stopped.

    Same as :func:`serve` otherwise (``backlog``: an int >= 1, default 128). A socket
    file left at ``path`` by an earlier run is replaced (any other kind of file is an
    error); the file is removed at shutdown.
    Clients connect with ``rawsock.connect("ws://localhost/", unix_socket_path=path)``
    (the URL then gives the ``Host`` header and the path).

    Raises:
        TypeError: an unknown option, or an argument or option of the wrong type
            (before anything is bound).
        ValueError: an argument or option out of range (before anything is bound).
        OSError: the path cannot be bound (``FileExistsError``: not a socket).
    """
    check_serving(ssl_context, max_connections, shutdown_timeout)
    check_int("backlog", backlog, 1)
    settings = ServerSettings.from_options(options, "serve_unix")
    path = os.fspath(path)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise FileExistsError(errno.EEXIST, "exists and is not a socket", path)
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    server = Server(
        handler,
        [DirectSocketListener(sock)],
        settings,
        ssl_context=ssl_context,
        max_connections=max_connections,
        shutdown_timeout=shutdown_timeout,
        unix_path=path,
    )
    await server.run(task_status)
