"""Raw Trio TCP echo server, no WebSocket framing: the floor of what Trio sockets cost."""

from __future__ import annotations

import contextlib
from functools import partial

import _common
import trio


async def echo(stream: trio.SocketStream) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while data := await stream.receive_some(_common.READ_SIZE):
            await stream.send_all(data)


async def main(host: str, port: int) -> None:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, echo, port, host=host))
        _common.ready(listeners[0].socket.getsockname()[1])


if __name__ == "__main__":
    args = _common.parse_args(__doc__.splitlines()[0])
    _common.run_until_interrupted(trio.run, main, args.host, args.port)
