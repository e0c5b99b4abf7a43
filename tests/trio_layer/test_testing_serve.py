"""rawsock.testing, under the same conditions as rawsock.serve: the connection pair,
pytest-trio fixtures, the same events and log records as serve and connect over loopback,
and the docstring examples."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from serving_helpers import closed_code, echo

import rawsock
import rawsock.testing
from rawsock.testing import Transport, connect, connection_pair, transport_of

# -- the connection pair --------------------------------------------------------------


async def test_connection_pair_is_open_both_ways_with_the_options_on_both_ends() -> None:
    async with connection_pair("/room?x=1", max_message_size=10) as (client, server):
        assert server.path == client.path == "/room?x=1"
        await client.send("to server")
        assert await server.receive() == "to server"
        await server.send(b"to client")
        assert await client.receive() == b"to client"
        await server.send("x" * 11)
        assert (await closed_code(client))[0] == 1009  # the client's own limit
        assert (await closed_code(server))[0] == 1009
    async with connection_pair() as (client, server):
        pass
    assert client.closed and server.closed
    assert client.close_code == server.close_code == 1000


async def test_transport_of_finds_the_transport_of_either_side() -> None:
    transport = Transport()
    async with connection_pair(transport=transport) as (client, server):
        assert transport_of(client) is transport_of(server) is transport
        assert client.stream is transport.client and server.stream is transport.server
    with pytest.raises(TypeError, match="ws"):
        transport_of("ws")  # type: ignore[arg-type]


async def test_transport_of_refuses_a_websocket_over_another_stream() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(rawsock.serve, echo, "127.0.0.1", 0))
        async with rawsock.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            with pytest.raises(ValueError, match="SocketStream"):
                transport_of(ws)
        nursery.cancel_scope.cancel()


# -- pytest-trio fixtures ---------------------------------------------------------------


@pytest.fixture
async def echo_client() -> AsyncIterator[rawsock.WebSocket]:
    async with connect(echo, "/fixture") as ws:
        yield ws


async def test_a_fixture_holds_the_connection_for_the_test(
    echo_client: rawsock.WebSocket,
) -> None:
    await echo_client.send("from a fixture")
    assert await echo_client.receive() == "from a fixture"
    assert echo_client.path == "/fixture"


async def test_a_fixture_in_virtual_time(
    autojump_clock: trio.testing.MockClock, echo_client: rawsock.WebSocket
) -> None:
    await trio.sleep(3600)  # an hour of keepalive rounds
    await echo_client.send("an hour later")
    assert await echo_client.receive() == "an hour later"


# -- the same events as serve + connect over loopback -------------------------------------


async def scripted(events: list[object], ws: rawsock.WebSocket) -> None:
    """A handler that writes down what it sees."""
    events.append(("open", ws.path, ws.subprotocol, ws.request_headers.get("X-Client")))
    message = await ws.receive()
    events.append(("received", message))
    await ws.send(f"echo {message!s}")
    await ws.send(b"\x00\x01")
    events.append(("ping", type(await ws.ping(b"p")).__name__))
    big = await ws.receive()
    events.append(("received", len(big)))
    await ws.aclose(4000, "done")
    events.append(("closed", ws.close_code, ws.close_reason))


async def _run_client(
    events: list[object],
    opening: Callable[[], AbstractAsyncContextManager[rawsock.WebSocket]],
) -> None:
    async with opening() as ws:
        events.append(("client open", ws.subprotocol))
        await ws.send("hi")
        events.append(("client received", await ws.receive()))
        events.append(("client received", await ws.receive()))
        await ws.send("y" * 100_000)
        code, reason = await closed_code(ws)
        events.append(("client closed", code, reason))


async def test_the_same_events_as_under_serve_and_connect_over_loopback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="rawsock.server")
    headers = [("X-Client", "test")]
    offered = ["b", "a"]

    memory: list[object] = []
    memory_handler: list[object] = []
    await _run_client(
        memory,
        lambda: connect(
            partial(scripted, memory_handler), "/s?q=1",
            headers=headers, subprotocols=offered, server_subprotocols=["a", "b"],
        ),
    )
    memory_log = [r.getMessage().split("] ", 1)[1] for r in caplog.records]
    caplog.clear()

    real: list[object] = []
    real_handler: list[object] = []
    handler = partial(scripted, real_handler)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(rawsock.serve, handler, "127.0.0.1", 0, subprotocols=["a", "b"])
        )
        url = f"ws://127.0.0.1:{server.port}/s?q=1"
        await _run_client(
            real,
            lambda: rawsock.connect(url, extra_headers=headers, subprotocols=offered),
        )
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    real_log = [r.getMessage().split("] ", 1)[1] for r in caplog.records if "] " in r.getMessage()]

    assert memory == real
    assert memory_handler == real_handler
    assert memory[-1] == ("client closed", 4000, "done")
    assert memory_handler[-1] == ("closed", 4000, "done")
    assert memory_log == real_log == ["open: /s?q=1", "closed: 4000 done"]


async def test_a_handler_exception_logs_the_same_record_as_under_serve(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(ws: rawsock.WebSocket) -> None:
        raise ValueError("bad")

    def records() -> list[tuple[str, int, str, object]]:
        found: list[tuple[str, int, str, object]] = [
            (r.name, r.levelno, r.getMessage().split("] ", 1)[1], r.exc_info and r.exc_info[0])
            for r in caplog.records
            if r.name == "rawsock.server" and "] " in r.getMessage()
        ]
        caplog.clear()
        return found

    caplog.set_level(logging.INFO, logger="rawsock.server")
    async with connect(handler) as ws:
        memory_close = await closed_code(ws)
    memory_records = records()
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(rawsock.serve, handler, "127.0.0.1", 0))
        async with rawsock.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            real_close = await closed_code(ws)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    real_records = records()
    assert memory_close == real_close == (1011, "internal error")
    assert memory_records == real_records
    assert ("rawsock.server", logging.ERROR, "connection handler failed; closing the connection "
            "with 1011", ValueError) in memory_records



# -- the examples of the docstrings run as written ----------------------------------------


def _literal_blocks(text: str) -> list[str]:
    """The ``::`` literal blocks of a docstring, dedented."""
    blocks = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        outer = len(line) - len(line.lstrip())
        body = []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= outer:
                break
            body.append(following)
        blocks.append(textwrap.dedent("\n".join(body)).strip() + "\n")
    return blocks


async def test_the_docstring_examples_of_rawsock_testing_run() -> None:
    documented = [rawsock.testing, Transport]
    blocks = [block for item in documented for block in _literal_blocks(item.__doc__ or "")]
    assert len(blocks) == 2
    ran = []
    for block in blocks:
        namespace: dict[str, Any] = {}
        exec(compile(block, "<docstring>", "exec"), namespace)
        for name, value in namespace.items():
            if name.startswith("test_"):
                await value()
                ran.append(name)
    assert ran == ["test_echo"]  # the module's example is a test, and it passed
