"""rawsock echo server: ``rawsock.serve`` with its defaults but a 32 MiB message limit."""

from __future__ import annotations

from functools import partial

import _common
import trio

import rawsock


async def echo(ws: rawsock.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def main(host: str, port: int) -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(rawsock.serve, echo, host, port, max_message_size=_common.MAX_MESSAGE_SIZE)
        )
        _common.ready(server.port)


if __name__ == "__main__":
    args = _common.parse_args(__doc__.splitlines()[0])
    _common.run_until_interrupted(trio.run, main, args.host, args.port)
