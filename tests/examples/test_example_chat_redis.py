"""The chat example scaled out: two servers sharing rooms through a real redis-server,
and ``--workers`` processes sharing one port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio
from chat_helpers import chat_user
from example_support import (
    Program,
    free_port,
    require_program,
    serve_example,
    wait_for_port,
)


@pytest.fixture
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of its own on a free loopback port, without persistence."""
    server = require_program("redis-server", "apt-get install redis-server")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    redis = Program([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                     "--appendonly", "no", "--dir", str(workdir)])
    try:
        wait_for_port(port, redis)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        redis.stop()


def chat_server(programs: list[Program], *args: str) -> int:
    """Start ``python -m examples.chat ARGS`` on a free port; return the port."""
    return serve_example(programs, "examples.chat", *args)[1]


async def test_two_servers_share_rooms_and_history_through_redis(
    redis_url: str, programs: list[Program]
) -> None:
    first = chat_server(programs, "--redis", redis_url)
    second = chat_server(programs, "--redis", redis_url)
    url_a, url_b = f"ws://127.0.0.1:{first}/ws", f"ws://127.0.0.1:{second}/ws"
    async with chat_user(url_a, "ada") as ada, chat_user(url_b, "bob") as bob:
        assert ada.server != bob.server  # two processes
        await ada.join("lobby")
        await ada.send(type="say", room="lobby", text="before bob came")
        await ada.expect("message", text="before bob came")
        joined = await bob.join("lobby")  # on the other server: history from Redis
        texts = [event.get("text") for event in joined["history"]]
        assert texts == [None, "before bob came", None]  # ada joined, said, bob joined
        assert joined["members"] == ["ada", "bob"]
        await ada.expect("presence", nick="bob", event="join")
        await ada.send(type="say", room="lobby", text="hello across servers")
        await bob.expect("message", nick="ada", text="hello across servers")
        await bob.send(type="say", room="lobby", text="and back")
        await ada.expect("message", nick="ada", text="hello across servers")
        await ada.expect("message", nick="bob", text="and back")
        await bob.send(type="rooms")
        await bob.until("rooms", rooms={"lobby": 2})
        # a third client, late, on the first server sees everything in order
        async with chat_user(url_a, "cyd") as cyd:
            joined = await cyd.join("lobby")
            history = [(e["type"], e["nick"], e.get("text")) for e in joined["history"]]
            assert history == [
                ("presence", "ada", None),
                ("message", "ada", "before bob came"),
                ("presence", "bob", None),
                ("message", "ada", "hello across servers"),
                ("message", "bob", "and back"),
                ("presence", "cyd", None),
            ]
            seqs = [event["seq"] for event in joined["history"]]
            assert seqs == list(range(1, 7))
        await bob.until("presence", nick="cyd", event="leave")


async def test_concurrent_messages_through_two_servers_arrive_in_one_order(
    redis_url: str, programs: list[Program]
) -> None:
    """Every client, whichever server it is on, sees the room's events in the same order."""
    ports = [chat_server(programs, "--redis", redis_url) for _ in range(2)]
    urls = [f"ws://127.0.0.1:{port}/ws" for port in ports]
    seen: dict[str, list[tuple[str, str]]] = {}

    async def talk(name: str, url: str, go: trio.Event, done: trio.Event) -> None:
        async with chat_user(url, name) as user:
            await user.join("race")
            ready.append(name)
            if len(ready) == 4:
                go.set()
            await go.wait()
            for n in range(25):
                await user.send(type="say", room="race", text=f"{name} {n}")
            events = []
            while len(events) < 100:
                event = await user.next()
                if event["type"] == "message":
                    events.append((event["nick"], event["text"]))
            seen[name] = events
            finished.append(name)
            if len(finished) == 4:
                done.set()
            await done.wait()  # stay in the room until everyone has everything

    ready: list[str] = []
    finished: list[str] = []
    go, done = trio.Event(), trio.Event()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for index, name in enumerate(["a", "b", "c", "d"]):
                nursery.start_soon(talk, name, urls[index % 2], go, done)
    orders = list(seen.values())
    assert all(order == orders[0] for order in orders)
    assert sorted(orders[0]) == sorted((name, f"{name} {n}") for name in "abcd" for n in range(25))


@pytest.fixture(params=["parent", "redis"])
def shared_by(request: pytest.FixtureRequest) -> list[str]:
    """How ``--workers`` share rooms: the options for the parent's broker (none), or for
    Redis (a fixture, so that a missing redis-server skips at setup, with its reason)."""
    return ["--redis", request.getfixturevalue("redis_url")] if request.param == "redis" else []


async def test_workers_share_one_port_and_their_rooms(
    shared_by: list[str], programs: list[Program]
) -> None:
    """``--workers 2``: connections land on both processes, which share rooms (through
    the parent process's broker, or through Redis)."""
    port = chat_server(programs, "--workers", "2", *shared_by)
    url = f"ws://127.0.0.1:{port}/ws"
    servers: dict[str, int] = {}
    async with chat_user(url, "listener") as listener:
        await listener.join("hall")
        for n in range(60):  # the kernel spreads connections over the workers
            async with chat_user(url, f"visitor{n}") as visitor:
                servers[visitor.server] = servers.get(visitor.server, 0) + 1
                await visitor.join("hall")
                await visitor.send(type="say", room="hall", text=f"from {visitor.server}")
                await listener.until("message", nick=f"visitor{n}")
            if len(servers) == 2 and n >= 10:
                break
        assert len(servers) == 2, servers
        assert listener.server in servers
        async with chat_user(url, "late") as late:  # history from either worker
            joined = await late.join("hall")
            nicks = [event["nick"] for event in joined["history"]]
            assert nicks[-3:] == [f"visitor{n}", f"visitor{n}", "late"]  # said, left, joined
    log = programs[-1].stop()
    assert "started 2 workers" in log and "Traceback" not in log, log
