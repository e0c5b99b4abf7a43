"""websockets' Trio implementation (``websockets.trio.server``): defaults, 32 MiB limit."""

from __future__ import annotations

from functools import partial

import _common
import trio
from websockets.trio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def main(host: str, port: int) -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(serve, echo, port, host=host, max_size=_common.MAX_MESSAGE_SIZE)
        )
        _common.ready(server.listeners[0].socket.getsockname()[1])


if __name__ == "__main__":
    args = _common.parse_args(__doc__.splitlines()[0])
    _common.run_until_interrupted(trio.run, main, args.host, args.port)
