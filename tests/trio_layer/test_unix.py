"""Unix-domain sockets in both roles: ``serve_unix`` and ``connect(unix_socket_path=...)``."""

from __future__ import annotations

import socket
import ssl
from functools import partial
from pathlib import Path

import pytest
import trio
import trustme
from serving_helpers import echo

import rawsock

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")


async def test_unix_socket_round_trip_and_cleanup(tmp_path: Path) -> None:
    path = str(tmp_path / "ws.sock")
    seen: list[tuple[str, str | None]] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        seen.append((ws.path, ws.request_headers.get("Host")))
        await echo(ws)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(partial(rawsock.serve_unix, handler, path))
            assert server.path == path
            with pytest.raises(ValueError, match="no port"):
                server.port  # noqa: B018
            for index in range(3):
                url = f"ws://chat.internal/room/{index}"
                async with rawsock.connect(url, unix_socket_path=path) as ws:
                    await ws.send(f"message {index}")
                    assert await ws.receive() == f"message {index}"
            await server.aclose()
    assert seen == [(f"/room/{i}", "chat.internal") for i in range(3)]
    assert not await trio.Path(path).exists()  # removed at shutdown


async def test_stale_socket_file_is_replaced_but_not_other_files(tmp_path: Path) -> None:
    stale = tmp_path / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(stale))
    leftover.close()  # the file stays, as after a crash
    regular = tmp_path / "data.txt"
    regular.write_text("precious")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(rawsock.serve_unix, echo, stale)
            async with rawsock.connect("ws://localhost/", unix_socket_path=str(stale)) as ws:
                await ws.send(b"\x00\x01")
                assert await ws.receive() == b"\x00\x01"
            await server.aclose()
        with pytest.raises(FileExistsError):
            await rawsock.serve_unix(echo, regular)
    assert regular.read_text() == "precious"


async def test_wss_over_a_unix_socket(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("ws.internal").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    path = str(tmp_path / "tls.sock")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            start = partial(rawsock.serve_unix, echo, path, ssl_context=server_context)
            server = await nursery.start(start)
            async with rawsock.connect(
                "wss://ws.internal/", unix_socket_path=path, ssl_context=client_context
            ) as ws:
                await ws.send("tls over unix")
                assert await ws.receive() == "tls over unix"
            await server.aclose()


async def test_connecting_to_a_missing_socket_is_an_os_error(tmp_path: Path) -> None:
    with trio.fail_after(5), pytest.raises(OSError):
        async with rawsock.connect("ws://localhost/", unix_socket_path=str(tmp_path / "none")):
            pass  # pragma: no cover


@pytest.mark.parametrize("how", ["deadline", "nursery", "with a client"])
async def test_cancelling_serve_unix_removes_its_socket_file(tmp_path: Path, how: str) -> None:
    """Cancelling the scope that runs it stops the server as aclose() does, file included."""
    path = tmp_path / "ws.sock"
    if how == "deadline":
        with trio.move_on_after(0.2):
            await rawsock.serve_unix(echo, path)
    else:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(rawsock.serve_unix, echo, path))
            assert path.is_socket()
            if how == "with a client":
                async with rawsock.connect("ws://localhost/", unix_socket_path=str(path)) as ws:
                    await ws.send("hi")
                    assert await ws.receive() == "hi"
                    nursery.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
    assert not path.exists()
