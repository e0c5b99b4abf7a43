"""Echo server: every text message comes back as text, every binary one as binary.

    python examples/echo.py --port 8765

It uses rawsock's default settings (1 MiB message limit, 10 s open and close timeouts);
``--max-message-size`` raises the limit (the Autobahn suite sends up to 16 MiB).
"""

from __future__ import annotations

import argparse
import logging
from functools import partial

import trio

import rawsock
import rawsock.sansio


async def echo(ws: rawsock.WebSocket) -> None:
    """Send every message back until the client closes."""
    async for message in ws:
        await ws.send(message)


async def main(host: str, port: int, max_message_size: int) -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(rawsock.serve, echo, host, port, max_message_size=max_message_size)
        )
        logging.info("echo server listening on ws://%s:%d/", host, server.port)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--max-message-size", type=int, default=rawsock.sansio.DEFAULT_MAX_MESSAGE_SIZE
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        trio.run(main, args.host, args.port, args.max_message_size)
    except* KeyboardInterrupt:  # Ctrl-C: the server has shut down; end quietly
        pass
