"""The examples of docs/howto/testing.rst ("Testing your handlers"), which includes them
from here: each is application code or a test, run as part of the test suite."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

import rawsock
import rawsock.testing


class ChatRoom:
    """A chat room: what a member sends goes to every other member."""

    def __init__(self) -> None:
        self.members: set[rawsock.WebSocket] = set()

    async def handler(self, ws: rawsock.WebSocket) -> None:
        self.members.add(ws)
        try:
            async for message in ws:
                for member in self.members - {ws}:
                    await member.send(message)
        finally:
            self.members.discard(ws)


async def test_two_clients_talk_in_a_chat_room() -> None:
    room = ChatRoom()
    async with (
        rawsock.testing.connect(room.handler, "/chat") as ada,
        rawsock.testing.connect(room.handler, "/chat") as bob,
    ):
        await trio.testing.wait_all_tasks_blocked()  # both handlers have joined
        await ada.send("hello, bob")
        assert await bob.receive() == "hello, bob"
        await bob.send("hi, ada")
        assert await ada.receive() == "hi, ada"
    assert not room.members  # both left when their connections closed


class Ticker:
    """Sends each price to every subscriber; one that falls behind is closed (1013)."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.subscribers = rawsock.Broadcaster(nursery, max_queue=16 * 1024, policy="close")

    async def handler(self, ws: rawsock.WebSocket) -> None:
        self.subscribers.add(ws)
        async for _ in ws:  # subscribers only listen
            pass

    def publish(self, price: str) -> rawsock.BroadcastResult:
        return self.subscribers.send(price)


async def test_a_slow_subscriber_is_closed_and_the_others_go_on() -> None:
    async with trio.open_nursery() as nursery:
        ticker = Ticker(nursery)
        async with (
            rawsock.testing.connect(ticker.handler) as fast,
            rawsock.testing.connect(ticker.handler) as slow,
        ):
            await trio.testing.wait_all_tasks_blocked()  # both have subscribed
            line = rawsock.testing.transport_of(slow)
            line.to_client.limit = 4096  # a small socket buffer
            line.to_client.pause()  # the slow client stops reading
            closed = []
            for n in range(100):
                price = f"{n}: {os.urandom(500).hex()}"
                closed += ticker.publish(price).closed
                assert await fast.receive() == price  # the fast one gets every price
            assert len(closed) == 1  # the slow one was found out, and closed
            line.to_client.resume()
            with pytest.raises(rawsock.ConnectionClosed) as info:
                async for _ in slow:  # what was sent before the close comes first
                    pass
            assert info.value.code == 1013


async def test_the_keepalive_closes_a_silent_client_in_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    closed: list[tuple[int, float]] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except rawsock.ConnectionClosed as error:
            closed.append((error.code, trio.current_time()))

    started = time.monotonic()
    async with rawsock.testing.connect(handler, ping_interval=20, ping_timeout=20) as ws:
        opened = trio.current_time()
        rawsock.testing.transport_of(ws).pause()  # the network goes silent
        await trio.sleep(60)
    code, when = closed[0]
    assert code == 1011  # "keepalive ping timeout"
    assert 40 <= when - opened < 45  # a ping after 20 s, no pong within 20 s
    assert time.monotonic() - started < 1  # a minute of virtual time


def require_token(request: rawsock.Request) -> rawsock.HTTPResponse | None:
    """The ``handle_request`` hook: a request without the token gets 401."""
    if request.headers.get("Authorization") != "Bearer s3cret":
        challenge = [("WWW-Authenticate", "Bearer")]
        return rawsock.HTTPResponse.text(401, "a token is required", challenge)
    return None  # go on with the upgrade


async def echo(ws: rawsock.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def test_a_request_without_the_token_gets_401() -> None:
    with pytest.raises(rawsock.HandshakeRejected) as refused:
        async with rawsock.testing.connect(echo, handle_request=require_token):
            pytest.fail("the upgrade should have been refused")
    assert refused.value.status_code == 401
    assert refused.value.body == b"a token is required\n"

    token = [("Authorization", "Bearer s3cret")]
    async with rawsock.testing.connect(echo, headers=token, handle_request=require_token) as ws:
        await ws.send("let in")
        assert await ws.receive() == "let in"


@pytest.fixture
async def client() -> AsyncIterator[rawsock.WebSocket]:
    async with rawsock.testing.connect(echo, "/echo", compression=None) as ws:
        yield ws


async def test_with_a_fixture(client: rawsock.WebSocket) -> None:
    await client.send("from the test")
    assert await client.receive() == "from the test"


async def greet(ws: rawsock.WebSocket, name: str) -> None:
    """Code under test that takes a WebSocket."""
    await ws.send(f"hello, {name}")


async def test_code_that_takes_a_websocket() -> None:
    async with rawsock.testing.connection_pair() as (client, server):
        await greet(server, "ada")
        assert await client.receive() == "hello, ada"
