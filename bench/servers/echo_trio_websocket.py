"""trio-websocket echo server: ``serve_websocket`` with its defaults, 32 MiB limit."""

from __future__ import annotations

import contextlib
from functools import partial

import _common
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket


async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.send_message(await ws.get_message())


async def main(host: str, port: int) -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(
                serve_websocket,
                echo,
                host,
                port,
                ssl_context=None,
                max_message_size=_common.MAX_MESSAGE_SIZE,
            )
        )
        _common.ready(server.port)


if __name__ == "__main__":
    args = _common.parse_args(__doc__.splitlines()[0])
    _common.run_until_interrupted(trio.run, main, args.host, args.port)
