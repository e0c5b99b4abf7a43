"""The chat server: the page and the WebSocket endpoint on one port.

``GET /`` (and ``/chat.js``, ``/chat.css``) serve the browser client through rawsock's
``handle_request`` hook; WebSocket connections to ``/ws`` join the chat.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import trio

import rawsock

from .broker import Broker
from .hub import ChatHub
from .protocol import MAX_MESSAGE_SIZE
from .rate import DEFAULT_RATE, RateLimit

__all__ = ["CONNECTION_OPTIONS", "OUTBOX_LIMIT", "open_hub", "routes", "run_server"]

#: Bytes waiting for one client before it counts as too slow and is closed (1013).
OUTBOX_LIMIT = 256 * 1024

#: The options of the chat's connections (with ``handle_request=routes`` on a server).
CONNECTION_OPTIONS: rawsock.ConnectionOptions = {"max_message_size": MAX_MESSAGE_SIZE}

_STATIC = Path(__file__).with_name("static")
_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/chat.js": ("chat.js", "text/javascript; charset=utf-8"),
    "/chat.css": ("chat.css", "text/css; charset=utf-8"),
}
_PAGES = {
    path: rawsock.HTTPResponse(
        200,
        [("Content-Type", kind), ("Cache-Control", "no-cache")],
        (_STATIC / name).read_bytes(),
    )
    for path, (name, kind) in _FILES.items()
}


def routes(request: rawsock.Request) -> rawsock.HTTPResponse | None:
    """Plain HTTP requests get the page; WebSocket upgrades are accepted on ``/ws``.

    A browser's upgrade must come from this server's own page (its ``Origin`` is the
    ``Host`` it asked for), so that another site's page cannot chat in its visitors'
    names (cross-site WebSocket hijacking). Clients that send no ``Origin`` (not
    browsers) are accepted.
    """
    if request.key is None:
        return _PAGES.get(request.path) or rawsock.HTTPResponse.text(404, "not found")
    if request.path != "/ws":
        return rawsock.HTTPResponse.text(404, "the chat's WebSocket endpoint is /ws")
    own = {f"http://{request.host}".lower(), f"https://{request.host}".lower()}
    if request.origin is not None and request.origin.lower() not in own:
        return rawsock.HTTPResponse.text(403, "only this server's page may connect")
    return None


@asynccontextmanager
async def open_hub(
    broker: Broker, rate_limit: RateLimit = DEFAULT_RATE
) -> AsyncIterator[ChatHub]:
    """A running hub: its outbox and its broker's task, until the block ends.

    ``hub.serve`` is the WebSocket handler; serve it with :data:`CONNECTION_OPTIONS` and
    ``handle_request=routes``, over ``rawsock.serve`` or ``rawsock.testing.connect``. The
    broker outlives the block's connections: when they end, their clients leave their
    rooms, which goes through the broker; only then is the broker stopped.
    """
    async with trio.open_nursery() as nursery:
        outbox = rawsock.Broadcaster(nursery, max_queue=OUTBOX_LIMIT, policy="close")
        name = f"{socket.gethostname()}:{os.getpid()}"
        hub = ChatHub(broker, outbox, name, rate_limit)
        broker_scope = trio.CancelScope(shield=True)

        async def run_broker(*, task_status: trio.TaskStatus[None]) -> None:
            with broker_scope:
                await broker.run(hub.deliver, task_status=task_status)

        await nursery.start(run_broker)
        try:
            yield hub
        finally:
            broker_scope.cancel()


async def run_server(
    broker: Broker,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    rate_limit: RateLimit = DEFAULT_RATE,
    task_status: trio.TaskStatus[rawsock.Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the chat until cancelled; with ``nursery.start``, reports the server."""
    async with open_hub(broker, rate_limit) as hub, trio.open_nursery() as serving:
        server = await serving.start(
            partial(
                rawsock.serve,
                hub.serve,
                host,
                port,
                handle_request=routes,
                reuse_port=reuse_port,
                **CONNECTION_OPTIONS,
            )
        )
        task_status.started(server)
