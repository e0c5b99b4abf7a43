"""TLS certificates and servers for the HTTP/2 tests (RFC 8441), on loopback."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
import trustme

import rawsock


class Certificates:
    """A CA, a server context with its certificate for localhost, and a client context
    that trusts it."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("localhost", "127.0.0.1")

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


async def echo(ws: rawsock.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


@asynccontextmanager
async def http2_server(
    certificates: Certificates,
    handler: Callable[[rawsock.WebSocket], Awaitable[Any]] = echo,
    **options: Any,
) -> AsyncIterator[rawsock.Server]:
    """A rawsock server with ``http2=True`` on 127.0.0.1, stopped when the block ends."""
    async with trio.open_nursery() as nursery:
        server: rawsock.Server = await nursery.start(
            lambda task_status: rawsock.serve(
                handler,
                "127.0.0.1",
                0,
                ssl_context=certificates.server_context(),
                http2=True,
                task_status=task_status,
                **options,
            )
        )
        try:
            yield server
        finally:
            await server.aclose()
