"""websockets' asyncio implementation (``websockets.asyncio.server``): defaults, 32 MiB limit."""

from __future__ import annotations

import asyncio

import _common
from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def main(host: str, port: int) -> None:
    async with serve(echo, host, port, max_size=_common.MAX_MESSAGE_SIZE) as server:
        _common.ready(next(iter(server.sockets)).getsockname()[1])
        await server.serve_forever()


if __name__ == "__main__":
    args = _common.parse_args(__doc__.splitlines()[0])
    _common.run_until_interrupted(asyncio.run, main(args.host, args.port))
