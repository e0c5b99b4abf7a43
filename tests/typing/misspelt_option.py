"""A user's program with two mistakes in rawsock options, for mypy (see test_options.py).

Not a test module: ``tests/trio_layer/test_options.py`` runs ``mypy --strict`` on it and
expects exactly these two errors.
"""

import rawsock


async def handler(ws: rawsock.WebSocket) -> None:
    await ws.send("hello")


async def main() -> None:
    await rawsock.serve(handler, "127.0.0.1", 0, ping_intervall=5)
    async with rawsock.connect("ws://x", max_message_size="1MB") as ws:
        await ws.send("hello")
