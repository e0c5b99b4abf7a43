"""A Python client of the sync server: a :class:`Replica` fed by a rawsock connection.

Run from the repository root, with the server running (``python -m examples.sync``)::

    import trio

    from examples.sync.client import open_sync_client


    async def main() -> None:
        async with open_sync_client("ws://127.0.0.1:8800/ws") as client:
            await client.patch(["form", "name"], "Ada", ref=1)
            version = await client.wait_for_patch(1)  # ours, whatever version that is
            print(version, client.replica.tree)


    trio.run(main)

Nothing happens in the background: the replica changes while a task is inside
:meth:`SyncClient.receive` (or :meth:`SyncClient.wait_for_version`, which calls it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import rawsock

from .document import JSON
from .protocol import (
    AppliedPatch,
    ErrorReply,
    ServerMessage,
    Snapshot,
    encode_json,
    parse_server_message,
)
from .replica import Replica

__all__ = ["PatchRefused", "SyncClient", "open_sync_client", "synced_client"]


class PatchRefused(Exception):
    """The server refused one of our patches; ``error`` is its reply."""

    def __init__(self, error: ErrorReply) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


class SyncClient:
    """One connection to the sync server and the document it keeps up to date.

    Attributes:
        ws: the connection.
        replica: the local copy of the document.
        errors: the error messages the server sent us, oldest first.
    """

    def __init__(self, ws: rawsock.WebSocket) -> None:
        self.ws = ws
        self.replica = Replica()
        self.errors: list[ErrorReply] = []

    async def patch(self, path: Sequence[str], value: JSON, ref: str | int | None = None) -> None:
        """Ask the server to set ``path`` to ``value`` (``None`` deletes)."""
        message: dict[str, Any] = {"type": "patch", "path": list(path), "value": value}
        if ref is not None:
            message["ref"] = ref
        await self.ws.send(encode_json(message))

    async def receive(self) -> ServerMessage:
        """Receive one message from the server and apply it to the replica.

        Raises:
            rawsock.ConnectionClosed: the connection ended.
            ValueError: the server sent something that is not a sync message.
        """
        message = parse_server_message(await self.ws.receive())
        if isinstance(message, Snapshot):
            self.replica.load(message)
        elif isinstance(message, AppliedPatch):
            self.replica.receive(message)
        else:
            self.errors.append(message)
        return message

    async def wait_for_version(self, version: int) -> None:
        """Receive until the replica has reached ``version`` (bound it with a timeout)."""
        while self.replica.version is None or self.replica.version < version:
            await self.receive()

    async def wait_for_patch(self, ref: str | int) -> int:
        """Receive until our patch sent with ``ref`` is applied here too; its version.

        A server that other clients edit too numbers patches in the order it gets them,
        so the version of ours is known only once the server broadcasts it.

        Raises:
            PatchRefused: the server refused that patch.
        """
        while True:
            message = await self.receive()
            if isinstance(message, ErrorReply) and message.ref == ref:
                raise PatchRefused(message)
            if (isinstance(message, AppliedPatch) and message.ref == ref
                    and message.client == self.replica.client):
                await self.wait_for_version(message.version)  # (it may have come early)
                return message.version

    async def wait_for_error(self) -> ErrorReply:
        """Receive until the next error message, and return it."""
        seen = len(self.errors)
        while len(self.errors) == seen:
            await self.receive()
        return self.errors[seen]


async def synced_client(ws: rawsock.WebSocket) -> SyncClient:
    """A client over ``ws``, an open connection to a sync server, once it has the snapshot."""
    client = SyncClient(ws)
    await client.wait_for_version(0)
    return client


@asynccontextmanager
async def open_sync_client(url: str, **options: Any) -> AsyncIterator[SyncClient]:
    """Connect to a sync server and wait for the snapshot.

    Args:
        url: the server's WebSocket URL, such as ``ws://127.0.0.1:8800/ws``.
        options: options of :func:`rawsock.connect`.
    """
    async with rawsock.connect(url, **options) as ws:
        yield await synced_client(ws)
