"""permessage-deflate interop with the websockets library, both roles, over loopback."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from functools import partial

import pytest
import trio
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.sync.client import connect as websockets_connect
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as websockets_serve

import rawsock

MESSAGES: list[str | bytes] = [
    "Hello, compressed world! " * 40,
    "Hello, compressed world! " * 40,  # context takeover makes this one tiny
    bytes(range(256)) * 64,
    "ünïcödé " * 300,
    "short",  # under the default threshold
    random.Random(7).randbytes(3000) * 2,  # matches 3000 bytes back: beyond a 9-bit window
    random.Random(8).randbytes(20000) * 2,  # and beyond a 12-bit one
]

# (server_no_context_takeover, client_no_context_takeover, server_max_window_bits,
#  client_max_window_bits) — every combination both libraries support (zlib: 9 to 15).
COMBINATIONS = list(
    itertools.product([False, True], [False, True], [None, 9, 12, 15], [None, 9, 12, 15])
)


def combination_id(combination: tuple[bool, bool, int | None, int | None]) -> str:
    snct, cnct, smwb, cmwb = combination
    return f"snct={int(snct)}-cnct={int(cnct)}-smwb={smwb}-cmwb={cmwb}"


async def echo(ws: rawsock.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.mark.parametrize("combination", COMBINATIONS, ids=combination_id)
async def test_websockets_client_against_our_server(
    combination: tuple[bool, bool, int | None, int | None],
) -> None:
    snct, cnct, smwb, cmwb = combination
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=snct,
        client_no_context_takeover=cnct,
        server_max_window_bits=smwb,
        client_max_window_bits=True if cmwb is None else cmwb,
    )

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(rawsock.serve, echo, "127.0.0.1", 0)

            def client() -> str:
                url = f"ws://127.0.0.1:{server.port}/"
                with websockets_connect(url, extensions=[factory], compression=None) as ws:
                    for message in MESSAGES:
                        ws.send(message)
                        assert ws.recv() == message
                    assert ws.response is not None
                    return ws.response.headers["Sec-WebSocket-Extensions"]

            answered = await trio.to_thread.run_sync(client)
            assert answered.startswith("permessage-deflate")
            if snct:
                assert "server_no_context_takeover" in answered
            if smwb is not None:
                assert f"server_max_window_bits={min(smwb, 12)}" in answered
            nursery.cancel_scope.cancel()


def websockets_echo(connection: ServerConnection) -> None:
    for message in connection:
        connection.send(message)


@pytest.fixture
def websockets_server() -> Iterator[partial[str]]:
    """Start websockets' own echo server with given deflate settings; yields a starter."""
    servers = []

    def start(factory: ServerPerMessageDeflateFactory) -> str:
        server = websockets_serve(
            websockets_echo, "127.0.0.1", 0, extensions=[factory], compression=None
        )
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"

    yield partial(start)
    for server in servers:
        server.shutdown()


@pytest.mark.parametrize("combination", COMBINATIONS, ids=combination_id)
async def test_our_client_against_websockets_server(
    combination: tuple[bool, bool, int | None, int | None],
    websockets_server: partial[str],
) -> None:
    snct, cnct, smwb, cmwb = combination
    url = websockets_server(
        ServerPerMessageDeflateFactory(
            server_no_context_takeover=snct,
            client_no_context_takeover=cnct,
            server_max_window_bits=smwb,
            client_max_window_bits=cmwb,
        )
    )
    with trio.fail_after(20):
        async with rawsock.connect(url) as ws:
            answered = ws.response_headers.get("Sec-WebSocket-Extensions") or ""
            assert answered.startswith("permessage-deflate")
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.receive() == message
        assert ws.close_code == 1000


@pytest.mark.parametrize("combination", COMBINATIONS[::3], ids=combination_id)
async def test_our_client_offers_every_parameter(
    combination: tuple[bool, bool, int | None, int | None],
    websockets_server: partial[str],
) -> None:
    snct, cnct, smwb, cmwb = combination
    url = websockets_server(ServerPerMessageDeflateFactory())
    settings = rawsock.PerMessageDeflate(
        server_no_context_takeover=snct,
        client_no_context_takeover=cnct,
        server_max_window_bits=smwb,
        client_max_window_bits=cmwb,
        threshold=0,
    )
    with trio.fail_after(20):
        async with rawsock.connect(url, compression=settings) as ws:
            answered = ws.response_headers.get("Sec-WebSocket-Extensions") or ""
            assert answered.startswith("permessage-deflate")
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.receive() == message


async def test_compression_off_on_either_side(websockets_server: partial[str]) -> None:
    url = websockets_server(ServerPerMessageDeflateFactory())
    with trio.fail_after(10):
        async with rawsock.connect(url, compression=None) as ws:
            assert ws.response_headers.get("Sec-WebSocket-Extensions") is None
            await ws.send(MESSAGES[0])
            assert await ws.receive() == MESSAGES[0]
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(rawsock.serve, echo, "127.0.0.1", 0, compression=None)
            )
            async with rawsock.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                assert ws.response_headers.get("Sec-WebSocket-Extensions") is None
                await ws.send(MESSAGES[0])
                assert await ws.receive() == MESSAGES[0]
            nursery.cancel_scope.cancel()
