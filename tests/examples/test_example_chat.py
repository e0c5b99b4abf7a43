"""The chat example: protocol, rooms, history, validation, flooding and slow clients in
memory (``rawsock.testing``), then the page on the same port, the terminal client and the
README command over real sockets and processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial

import pytest
import trio
from chat_helpers import hub_user
from example_support import ROOT, Lines, Program, refused_status, serve_example

import rawsock
import rawsock.testing
from examples.chat.broker import MemoryBroker
from examples.chat.client import CLOSED_BY_SERVER, DEFAULT_ROOM, USAGE
from examples.chat.hub import ChatHub
from examples.chat.protocol import MAX_MESSAGE_SIZE, MAX_TEXT, ChatError, Join, Say, parse
from examples.chat.rate import DEFAULT_RATE, MessageRate, RateLimit
from examples.chat.server import open_hub, run_server


@asynccontextmanager
async def chat_hub(
    history: int = 50, rate_limit: RateLimit = DEFAULT_RATE
) -> AsyncIterator[ChatHub]:
    """A running chat hub with an in-memory broker, for users of ``hub_user``."""
    async with open_hub(MemoryBroker(history), rate_limit) as hub:
        yield hub


@asynccontextmanager
async def chat_server() -> AsyncIterator[int]:
    """A chat server on a loopback port in this process; yields the port."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(run_server, MemoryBroker(50), "127.0.0.1", 0))
        yield server.port
        nursery.cancel_scope.cancel()


def test_parse_accepts_each_command_and_rejects_bad_input() -> None:
    assert parse('{"type": "join", "room": "lobby"}') == Join("lobby")
    assert parse('{"type": "say", "room": "a-b.c_1", "text": "héllo"}') == Say("a-b.c_1", "héllo")
    bad = {
        b'{"type": "rooms"}': "bad-request",  # binary
        "[1, 2]": "bad-request",
        "{": "bad-request",
        '{"type": "dance"}': "unknown-type",
        '{"room": "x"}': "unknown-type",
        '{"type": "join", "room": "with space"}': "bad-room",
        '{"type": "join", "room": ""}': "bad-room",
        '{"type": "join", "room": "' + "r" * 33 + '"}': "bad-room",
        '{"type": "hello", "nick": 7}': "bad-nick",
        '{"type": "say", "room": "a", "text": "   "}': "bad-text",
        '{"type": "say", "room": "a", "text": "' + "x" * (MAX_TEXT + 1) + '"}': "bad-text",
    }
    for message, code in bad.items():
        with pytest.raises(ChatError) as raised:
            parse(message)
        assert raised.value.code == code, message


async def test_rooms_messages_presence_and_history_for_late_joiners() -> None:
    async with chat_hub(history=5) as hub, hub_user(hub, "ada") as ada:
        joined = await ada.join("lobby")
        assert joined["members"] == ["ada"]
        for n in range(7):
            await ada.send(type="say", room="lobby", text=f"message {n}")
            await ada.expect("message", room="lobby", nick="ada", text=f"message {n}")
        async with hub_user(hub, "bob") as bob:
            joined = await bob.join("lobby")
            assert joined["members"] == ["ada", "bob"]
            # the last 5 events: messages 3-6 and bob's own arrival
            texts = [event.get("text") for event in joined["history"]]
            assert texts == ["message 3", "message 4", "message 5", "message 6", None]
            assert joined["history"][-1] == {**joined["history"][-1], "type": "presence",
                                             "nick": "bob", "event": "join"}
            seqs = [event["seq"] for event in joined["history"]]
            assert seqs == sorted(seqs) and len(set(seqs)) == 5
            await ada.expect("presence", room="lobby", nick="bob", event="join")
            await bob.send(type="say", room="lobby", text="hi ada")
            await ada.expect("message", nick="bob", text="hi ada")
            await bob.expect("message", nick="bob", text="hi ada")
            await ada.send(type="rooms")
            await ada.expect("rooms", rooms={"lobby": 2})
            await bob.send(type="leave", room="lobby")
            await bob.expect("left", room="lobby")
            await ada.expect("presence", nick="bob", event="leave")
            await ada.send(type="members", room="lobby")
            await ada.expect("members", members=["ada"])
        await ada.send(type="join", room="garden")
        await ada.expect("joined", room="garden")
        await ada.send(type="say", room="garden", text="only here")
        await ada.expect("message", room="garden", text="only here")


async def test_a_disconnect_leaves_every_room_and_frees_the_nickname() -> None:
    async with chat_hub() as hub, hub_user(hub, "ada") as ada:
        await ada.join("a")
        async with hub_user(hub, "bob") as bob:
            await bob.join("a")
            await ada.expect("presence", nick="bob", event="join")
        await ada.expect("presence", nick="bob", event="leave")
        async with hub_user(hub, "bob") as bob_again:  # the name is free again
            assert bob_again.server


async def test_invalid_requests_get_errors_and_the_connection_stays() -> None:
    async with chat_hub() as hub, hub_user(hub) as user:
        await user.send(type="join", room="lobby")
        await user.expect("error", code="hello-first")
        await user.hello("ada")
        await user.send(type="hello", nick="ada2")
        await user.expect("error", code="already-named")
        await user.send(type="say", room="lobby", text="not joined")
        await user.expect("error", code="not-in-room")
        await user.ws.send(b"binary")
        await user.expect("error", code="bad-request")
        await user.send(type="teleport")
        await user.expect("error", code="unknown-type")
        await user.join("lobby")
        await user.send(type="join", room="lobby")
        await user.expect("error", code="already-joined")
        for n in range(15):
            await user.join(f"room{n}")
        await user.send(type="join", room="one-too-many")
        await user.expect("error", code="too-many-rooms")
        async with hub_user(hub) as other:
            await other.send(type="hello", nick="ada")
            await other.expect("error", code="nick-taken")
        await user.send(type="say", room="lobby", text="still here")
        await user.expect("message", text="still here")


def test_message_rate_allows_bursts_then_the_average() -> None:
    rate = MessageRate(RateLimit(per_second=2.0, burst=3), now=100.0)
    assert [rate.allow(100.0) for _ in range(4)] == [True, True, True, False]
    assert not rate.allow(100.4)  # 0.8 of a token
    assert rate.allow(100.5)  # one token after 0.5 s at 2 per second
    assert not rate.allow(100.5)
    assert [rate.allow(200.0) for _ in range(4)] == [True, True, True, False]  # capped


async def test_a_flooding_client_is_refused_beyond_its_rate_and_stays_connected() -> None:
    limit = RateLimit(per_second=2.0, burst=5)
    async with chat_hub(rate_limit=limit) as hub, hub_user(hub, "flood") as flood:
        await flood.join("lobby")  # (hello and join spent 2 of the 5 tokens)
        async with hub_user(hub, "calm") as calm:
            await calm.join("lobby")
            await flood.until("presence", nick="calm")
            start = trio.current_time()
            for n in range(20):
                await flood.send(type="say", room="lobby", text=f"flood {n}")
            replies = [await flood.next() for _ in range(20)]
            elapsed = trio.current_time() - start
            said = [r["text"] for r in replies if r["type"] == "message"]
            refused = [r for r in replies if r["type"] == "error"]
            assert all(r["code"] == "too-fast" for r in refused)
            assert 3 <= len(said) <= 3 + int(2 * elapsed) + 1 < 20
            assert said == [f"flood {n}" for n in range(len(said))]  # the first ones
            for text in said:  # the other member got exactly those
                await calm.expect("message", nick="flood", text=text)
            await trio.sleep(0.6)  # a token is back
            await flood.send(type="say", room="lobby", text="later")
            await calm.expect("message", nick="flood", text="later")


async def test_an_oversized_message_closes_with_1009() -> None:
    async with chat_hub() as hub, hub_user(hub, "ada") as user:
        await user.ws.send("x" * (MAX_MESSAGE_SIZE + 1))
        with pytest.raises(rawsock.ConnectionClosed) as closed:
            await user.next()
        assert closed.value.code == 1009


async def test_a_client_that_stops_reading_is_closed_and_the_room_goes_on() -> None:
    """A reader that never reads fills its outbox; it is closed (1013), others unaffected."""
    unlimited = RateLimit(per_second=1e9, burst=10**9)  # this talker floods on purpose
    async with chat_hub(rate_limit=unlimited) as hub, hub_user(hub, "talker") as talker:
        await talker.join("busy")
        uncompressed: rawsock.ConnectionOptions = {"compression": None}
        async with hub_user(hub, "sleeper", client_options=uncompressed) as slow:
            await slow.join("busy")
            await talker.expect("presence", nick="sleeper")
            to_sleeper = rawsock.testing.transport_of(slow.ws).to_client
            to_sleeper.pause()  # from now on the sleeper reads nothing
            text = "y" * MAX_TEXT
            left = None
            with trio.fail_after(60):
                for _ in range(5000):  # at most ~10 MB of room traffic
                    await talker.send(type="say", room="busy", text=text)
                    while (event := await talker.next())["type"] != "message":
                        if event["type"] == "presence" and event["nick"] == "sleeper":
                            left = event
                    if left is not None:
                        break
            assert left is not None
            assert (left["event"], left["room"]) == ("leave", "busy")
            assert to_sleeper.blocked  # the server's writes had filled the pipe
            to_sleeper.resume()
            with trio.fail_after(10), pytest.raises(rawsock.ConnectionClosed) as closed:
                while True:  # what was sent before the close, then the close frame
                    await slow.ws.receive()
            assert closed.value.code == 1013
            await talker.send(type="say", room="busy", text="after")
            await talker.until("message", text="after")


async def test_upgrades_elsewhere_and_from_another_site_are_refused() -> None:
    async with chat_hub() as hub:
        assert await refused_status(hub_user(hub, path="/other")) == 404
        # another site's page may not connect; the chat's own page may
        evil = [("Origin", "http://evil.example")]
        assert await refused_status(hub_user(hub, headers=evil)) == 403
        own = [("Origin", f"http://{rawsock.testing.DEFAULT_HOST}")]
        async with hub_user(hub, headers=own) as user:
            await user.send(type="rooms")
            await user.expect("error", code="hello-first")


async def test_the_page_is_served_on_the_same_port() -> None:
    async with chat_server() as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            response = b""
            while chunk := await stream.receive_some():
                response += chunk
        assert response.startswith(b"HTTP/1.1 200 ")
        assert b"new WebSocket" not in response and b'<script src="/chat.js">' in response
        own = [("Origin", f"http://127.0.0.1:{port}")]
        url = f"ws://127.0.0.1:{port}/ws"
        async with rawsock.connect(url, extra_headers=own) as ws:
            await ws.send('{"type": "rooms"}')
            assert "hello-first" in str(await ws.receive())


def test_terminal_client_and_readme_command(programs: list[Program]) -> None:
    """``python -m examples.chat`` and two ``python -m examples.chat.client`` talk."""
    server, port = serve_example(programs, "examples.chat")
    url = f"ws://127.0.0.1:{port}/ws"
    with chat_client(url, "--nick", "ada", "--room", "lobby") as (ada, ada_says):
        assert ada_says.next().startswith("* welcome, ada")
        assert ada_says.next().startswith("[lobby] * you joined; members: ada")
        with chat_client(url, "--nick", "bob") as (bob, bob_says):  # the README's command
            assert bob_says.next().startswith("* welcome, bob; rooms: lobby (1)")
            assert bob_says.next() == "[lobby] * you joined; members: ada, bob"
            assert ada_says.next() == "[lobby] * bob joined"
            type_line(bob, "hello from bob")
            assert ada_says.next() == "[lobby] bob: hello from bob"
            assert bob_says.next() == "[lobby] bob: hello from bob"
            assert bob.stdin is not None
            bob.stdin.close()
            assert bob.wait(10) == 0
        assert ada_says.next() == "[lobby] * bob left"
        type_line(ada, "/quit")
        assert ada.wait(10) == 0
    log = server.stop()
    assert f"chat on http://127.0.0.1:{port}/" in log
    assert "Traceback" not in log, log


def test_terminal_client_commands_refusals_and_the_server_stopping(
    programs: list[Program],
) -> None:
    """A refused join keeps the current room; an unknown command gets the usage line; a
    taken nickname and the server stopping each end the client with a status and a line
    on stderr."""
    server, port = serve_example(programs, "examples.chat")
    url = f"ws://127.0.0.1:{port}/ws"
    with chat_client(url, "--nick", "ada") as (ada, ada_says):
        assert ada_says.next().startswith("* welcome, ada")
        assert ada_says.next() == f"[{DEFAULT_ROOM}] * you joined; members: ada"
        type_line(ada, "/join bad room!")
        assert ada_says.next().startswith("! room must be")
        type_line(ada, "still in the lobby")
        assert ada_says.next() == "[lobby] ada: still in the lobby"
        type_line(ada, "/bogus")
        assert ada_says.next() == f"! unknown command /bogus; {USAGE}"
        type_line(ada, "/join garden")
        assert ada_says.next() == "[garden] * you joined; members: ada"
        type_line(ada, "/switch lobby")
        type_line(ada, "back in the lobby")
        assert ada_says.next() == "[lobby] ada: back in the lobby"

        with chat_client(url, "--nick", "ada") as (taken, _):
            assert taken.wait(10) == 1
            assert taken.stderr is not None
            assert taken.stderr.read().splitlines() == [
                "chat: nickname refused: 'ada' is taken, choose another nickname"
            ]

        server.stop()
        assert ada.wait(10) == CLOSED_BY_SERVER == 3
        assert ada.stderr is not None
        assert ada.stderr.read().splitlines() == [
            "chat: the server closed the connection (1001 server shutting down)"
        ]
        assert ada_says.next() == "<end of output>"


def type_line(client: subprocess.Popen[str], line: str) -> None:
    """Type ``line`` into a terminal client."""
    assert client.stdin is not None
    client.stdin.write(line + "\n")
    client.stdin.flush()


@contextmanager
def chat_client(*args: str) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """``python -m examples.chat.client ARGS`` with pipes, and the lines it prints;
    killed at the end if it still runs."""
    client = subprocess.Popen(
        [sys.executable, "-m", "examples.chat.client", *args], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert client.stdout is not None
    lines = Lines(client.stdout)
    try:
        yield client, lines
    finally:
        if client.poll() is None:
            client.kill()
        client.wait()
        lines.close()
        for pipe in (client.stdin, client.stderr):
            if pipe is not None:
                pipe.close()
