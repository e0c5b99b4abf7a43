"""A user's program that uses rawsock's options correctly, for mypy (see test_options.py).

Not a test module: ``tests/trio_layer/test_options.py`` runs ``mypy --strict`` on it and
expects no error.
"""

import ssl
from functools import partial
from pathlib import Path

import trio

import rawsock

LIMITS: rawsock.ConnectionOptions = {"max_message_size": 64 * 1024, "ping_interval": None}


async def handler(ws: rawsock.WebSocket) -> None:
    await ws.send("hello")


def routes(request: rawsock.Request) -> rawsock.HTTPResponse | None:
    return rawsock.HTTPResponse.text(200, "ok") if request.path == "/healthz" else None


async def main(stream: trio.abc.Stream) -> None:
    async with trio.open_nursery() as nursery:
        server: rawsock.Server = await nursery.start(
            partial(
                rawsock.serve,
                handler,
                "127.0.0.1",
                0,
                max_connections=100,
                handle_request=routes,
                allowed_hosts=["example.com"],
                origins=["https://example.com", None],
                basic_auth=rawsock.BasicAuth({"ada": "lovelace"}),
                compression=rawsock.PerMessageDeflate(threshold=256),
                open_timeout=5,
            )
        )
        await nursery.start(partial(rawsock.serve_unix, handler, Path("ws.sock"), max_headers=50))
        url = f"ws://127.0.0.1:{server.port}/"
        async with rawsock.connect(
            url,
            subprotocols=["chat"],
            extra_headers=[("Origin", "https://example.com")],
            ssl_context=ssl.create_default_context(),
            proxy=None,
            max_redirects=0,
            **LIMITS,
        ) as ws:
            await ws.send("hi")
        async for connection in rawsock.reconnect(url, max_attempts=3, unix_socket_path="s"):
            await connection.aclose()
            break
        ws = await rawsock.accept(stream, subprotocols=("a", "b"), receive_buffer=4096)
        await rawsock.serve_stream(handler, stream, max_request_line=1024)
        nursery.cancel_scope.cancel()
