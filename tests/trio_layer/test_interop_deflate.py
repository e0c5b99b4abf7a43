"""permessage-deflate interop with the websockets library, both roles, over loopback."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from functools import partial

import pytest
import trio
from websockets.exceptions import ConnectionClosed
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

    def start(factory: ServerPerMessageDeflateFactory, max_size: int | None = 2**20) -> str:
        server = websockets_serve(
            websockets_echo,
            "127.0.0.1",
            0,
            extensions=[factory],
            compression=None,
            max_size=max_size,
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


@pytest.mark.parametrize("role", ["server", "client"])
async def test_an_incompressible_message_just_under_the_limit_is_accepted(
    role: str, websockets_server: partial[str]
) -> None:
    """Deflate makes random bytes a little larger: on the wire, a compressed frame of a
    message just under the 1 MiB limit is over it. It counts by its decompressed size."""
    message = random.Random(9).randbytes(1024 * 1024 - 16)
    too_big = random.Random(10).randbytes(1024 * 1024 + 1)
    with trio.fail_after(20):
        if role == "server":  # the websockets client sends to our server (defaults)
            async with trio.open_nursery() as nursery:
                server = await nursery.start(rawsock.serve, echo, "127.0.0.1", 0)

                def client() -> tuple[bool, int | None]:
                    url = f"ws://127.0.0.1:{server.port}/"
                    with websockets_connect(url, max_size=None) as ws:
                        ws.send(message)
                        echoed = ws.recv() == message
                        ws.send(too_big)
                        try:
                            ws.recv()
                        except ConnectionClosed as closed:
                            return echoed, closed.rcvd.code if closed.rcvd else None
                        return echoed, None

                assert await trio.to_thread.run_sync(client) == (True, 1009)
                nursery.cancel_scope.cancel()
        else:  # websockets' server (no limit of its own) echoes to our client (defaults)
            url = websockets_server(ServerPerMessageDeflateFactory(), max_size=None)
            async with rawsock.connect(url) as ws:
                extensions = ws.response_headers.get("Sec-WebSocket-Extensions") or ""
                assert extensions.startswith("permessage-deflate")
                await ws.send(message)
                assert await ws.receive() == message
                await ws.send(too_big)  # (our own limit is only on what we receive)
                with pytest.raises(rawsock.ConnectionClosed) as info:
                    await ws.receive()
                assert info.value.code == 1009
