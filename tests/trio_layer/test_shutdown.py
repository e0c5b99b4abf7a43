"""Graceful shutdown over loopback: cancelling the serving scope, or ``Server.aclose()``.

Every open connection receives 1001, a handshake in progress gets 503, a client that
sent nothing is disconnected, handlers get ``shutdown_timeout`` to finish, and nothing
hangs.
"""

from __future__ import annotations

import logging
from functools import partial

import pytest
import trio
from serving_helpers import echo, parse_response, read_to_eof, upgrade_request

import rawsock
from rawsock import HTTPResponse, Request


async def wait_for(condition: object, limit: float = 5) -> None:
    with trio.fail_after(limit):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110 - server state
            await trio.sleep(0.005)


class Clients:
    """Rawsock clients that stay connected and record how their connection ended."""

    def __init__(self) -> None:
        self.closes: list[tuple[int | None, str | None]] = []
        self.received_after_close: list[str | bytes] = []

    async def run(self, url: str, *, task_status: trio.TaskStatus[None]) -> None:
        async with rawsock.connect(url) as ws:
            await ws.send("hello")
            assert await ws.receive() == "hello"
            task_status.started()
            async for message in ws:  # ends quietly: 1001 is a normal close
                self.received_after_close.append(message)
        self.closes.append((ws.close_code, ws.close_reason))


async def test_cancelling_the_serving_scope_is_graceful(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rawsock.server")
    clients = Clients()
    with trio.fail_after(10):
        async with trio.open_nursery() as outer:
            async with trio.open_nursery() as serving:
                server = await serving.start(partial(rawsock.serve, echo, "127.0.0.1", 0))
                url = f"ws://127.0.0.1:{server.port}/"
                for _ in range(5):
                    await outer.start(clients.run, url)
                # A handshake in progress (half a request) and a client that sent nothing;
                # like any HTTP client, both read until the server closes, then close.
                answers: dict[str, bytes] = {}

                async def raw_client(name: str, data: bytes) -> None:
                    async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
                        await stream.send_all(data)
                        answers[name] = await read_to_eof(stream)

                outer.start_soon(raw_client, "pending", upgrade_request()[:40])
                outer.start_soon(raw_client, "silent", b"")
                await wait_for(lambda: server.connections == 7)
                started = trio.current_time()
                serving.cancel_scope.cancel()
            stopped_after = trio.current_time() - started
            # Everything has ended when serve() returns.
            assert server.connections == 0
            assert clients.closes == [(1001, "server shutting down")] * 5
            await wait_for(lambda: len(answers) == 2)
            assert answers["silent"] == b""
            answer = parse_response(answers["pending"])
            assert answer.status == 503
            assert answer.body == b"The server is shutting down.\n"
            with pytest.raises(OSError):
                await trio.open_tcp_stream("127.0.0.1", server.port)  # listener closed
    assert stopped_after < 1.0
    assert clients.received_after_close == []
    assert any("shutting down: 5 open, 2 in handshake" in r.getMessage() for r in caplog.records)


async def test_server_aclose_stops_serve_which_returns_normally() -> None:
    hook_entered = trio.Event()
    sender_ended: list[int] = []

    async def slow_hook(request: Request) -> HTTPResponse | None:
        if request.path == "/slow":
            hook_entered.set()
            await trio.sleep_forever()  # interrupted by the shutdown: 503
        return None

    async def sender(ws: rawsock.WebSocket) -> None:
        """A handler that only sends: it learns of the shutdown from send()."""
        try:
            while True:
                await ws.send("tick")
                await trio.sleep(0.01)
        except rawsock.ConnectionClosed as closed:
            sender_ended.append(closed.code)
            raise

    returned = trio.Event()

    async def run_server(*, task_status: trio.TaskStatus[rawsock.Server]) -> None:
        await rawsock.serve(
            sender, "127.0.0.1", 0, handle_request=slow_hook, task_status=task_status
        )
        returned.set()  # reached only when serve() returns without an error

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(run_server)
            async with rawsock.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                assert await ws.receive() == "tick"
                blocked = await trio.open_tcp_stream("127.0.0.1", server.port)
                await blocked.send_all(upgrade_request("/slow"))
                answer: list[bytes] = []

                async def read_answer() -> None:
                    async with blocked:
                        answer.append(await read_to_eof(blocked))

                nursery.start_soon(read_answer)
                await hook_entered.wait()
                await server.aclose()
                assert server.closing and returned.is_set()
                with pytest.raises(rawsock.ConnectionClosed):
                    while True:
                        await ws.receive()  # the ticks sent before the close, then 1001
                assert ws.close_code == 1001
            await wait_for(lambda: answer)
            assert parse_response(answer[0]).status == 503
            await server.aclose()  # a second call returns at once
    assert sender_ended == [1001]


async def test_handlers_that_do_not_finish_are_cancelled_at_the_deadline() -> None:
    cancelled: list[str] = []

    async def stubborn(ws: rawsock.WebSocket) -> None:
        try:
            await trio.sleep_forever()  # never looks at the connection
        except trio.Cancelled:
            cancelled.append(ws.path)
            raise

    options = {"shutdown_timeout": 0.5, "ping_interval": None}
    with trio.fail_after(10):
        async with trio.open_nursery() as outer:
            async with trio.open_nursery() as serving:
                start = partial(rawsock.serve, stubborn, "127.0.0.1", 0, **options)
                server = await serving.start(start)
                url = f"ws://127.0.0.1:{server.port}"
                # A client that never reads, so never answers the close frame either.
                mute = await trio.open_tcp_stream("127.0.0.1", server.port)
                await mute.send_all(upgrade_request("/mute"))
                await mute.receive_some(4096)  # the 101
                closes: list[int | None] = []

                async def polite() -> None:
                    async with rawsock.connect(url + "/polite") as ws:
                        with pytest.raises(rawsock.ConnectionClosed):
                            await ws.receive()
                    closes.append(ws.close_code)

                outer.start_soon(polite)
                await wait_for(lambda: server.connections == 2)
                started = trio.current_time()
                serving.cancel_scope.cancel()
            elapsed = trio.current_time() - started
    assert 0.45 <= elapsed < 1.5
    assert sorted(cancelled) == ["/mute", "/polite"]
    assert closes == [1001]
    await mute.aclose()
