"""A small protocol-speaking client for the chat example's tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

import rawsock
import rawsock.testing
from examples.chat.hub import ChatHub
from examples.chat.server import CONNECTION_OPTIONS, routes


class ChatUser:
    """One connection to a chat server, speaking its JSON protocol."""

    def __init__(self, ws: rawsock.WebSocket) -> None:
        self.ws = ws
        self.server = ""

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def next(self) -> dict[str, Any]:
        """The next server message (fails the test after 10 s)."""
        with trio.fail_after(10):
            event: dict[str, Any] = json.loads(await self.ws.receive())
            return event

    async def expect(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The next message, which must be of type ``kind`` with these fields."""
        event = await self.next()
        assert event["type"] == kind, event
        for name, value in fields.items():
            assert event[name] == value, (name, event)
        return event

    async def until(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Skip messages until one of type ``kind`` with these fields (at most 200)."""
        for _ in range(200):
            event = await self.next()
            if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                return event
        raise AssertionError(f"no {kind} {fields} in 200 messages")

    async def hello(self, nick: str) -> dict[str, Any]:
        await self.send(type="hello", nick=nick)
        welcome = await self.expect("welcome", nick=nick)
        self.server = welcome["server"]
        return welcome

    async def join(self, room: str) -> dict[str, Any]:
        await self.send(type="join", room=room)
        return await self.expect("joined", room=room)


async def greeted_user(ws: rawsock.WebSocket, nick: str | None) -> ChatUser:
    """A user over ``ws``, greeted with ``nick`` if given."""
    user = ChatUser(ws)
    if nick is not None:
        await user.hello(nick)
    return user


@asynccontextmanager
async def chat_user(url: str, nick: str | None = None) -> AsyncIterator[ChatUser]:
    """A connected user (greeted with ``nick`` if given)."""
    async with rawsock.connect(url) as ws:
        yield await greeted_user(ws, nick)


@asynccontextmanager
async def hub_user(
    hub: ChatHub,
    nick: str | None = None,
    *,
    path: str = "/ws",
    headers: list[tuple[str, str]] | None = None,
    client_options: rawsock.ConnectionOptions | None = None,
) -> AsyncIterator[ChatUser]:
    """A user connected in memory to ``hub``, through the chat server's routes and
    options (greeted with ``nick`` if given)."""
    async with rawsock.testing.connect(
        hub.serve, path, headers=headers, client_options=client_options,
        handle_request=routes, **CONNECTION_OPTIONS,
    ) as ws:
        yield await greeted_user(ws, nick)
