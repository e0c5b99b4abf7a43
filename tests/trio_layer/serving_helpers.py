"""Helpers for the serving tests: a running server, raw HTTP exchanges, an echo handler,
the close code a client ends with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
import trio

import rawsock

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3


async def echo(ws: rawsock.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def closed_code(ws: rawsock.WebSocket) -> tuple[int, str]:
    """Receive until the connection closes (fails after 30 s); its code and reason."""
    with pytest.raises(rawsock.ConnectionClosed) as info, trio.fail_after(30):
        while True:
            await ws.receive()
    return info.value.code, info.value.reason


@asynccontextmanager
async def running_server(handler: Any = echo, **options: Any) -> AsyncIterator[rawsock.Server]:
    """``rawsock.serve`` on 127.0.0.1, any free port; cancelled when the block ends."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(rawsock.serve, handler, "127.0.0.1", 0, **options))
        yield server
        nursery.cancel_scope.cancel()


def upgrade_request(target: str = "/", method: str = "GET", **changes: str | None) -> bytes:
    """A valid upgrade request; keyword names use ``_`` for ``-``; ``None`` drops one."""
    headers: dict[str, str | None] = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    headers.update({name.replace("_", "-"): value for name, value in changes.items()})
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{n}: {v}" for n, v in headers.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def plain_request(target: str = "/", method: str = "GET", host: str = "127.0.0.1") -> bytes:
    """A plain HTTP/1.1 request, not an upgrade."""
    return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode("latin-1")


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names; the last value of each
    body: bytes


def parse_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ", 2)
    assert version == "HTTP/1.1", status_line
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status), headers, body)


async def read_to_eof(stream: trio.abc.Stream) -> bytes:
    data = bytearray()
    try:
        while chunk := await stream.receive_some(65536):
            data += chunk
    except trio.BrokenResourceError:
        pass  # a reset after the response: what was read is what counts
    return bytes(data)


async def exchange(port: int, request: bytes) -> RawResponse:
    """Send ``request`` on a fresh TCP connection; read and parse what comes back."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = await read_to_eof(stream)
    return parse_response(data)
