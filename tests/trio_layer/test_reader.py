"""The read side: background tasks only when needed, and a bug in one closes only its connection."""

from __future__ import annotations

import logging
from functools import partial

import pytest
import trio
import trio.testing

import rawsock
from rawsock._reader import IDLE_GRACE


def _all_tasks() -> list[trio.lowlevel.Task]:
    tasks: list[trio.lowlevel.Task] = []
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        if task is None:
            continue
        tasks.append(task)
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return tasks


def _task_names() -> list[str]:
    return [task.name for task in _all_tasks()]


async def test_idle_connections_waiting_in_receive_have_no_background_task() -> None:
    """Open connections whose both ends wait in receive(): no task but theirs and one clock."""
    count = 50
    with trio.fail_after(20):

        async def echo(ws: rawsock.WebSocket) -> None:
            async for message in ws:
                await ws.send(message)

        async with trio.open_nursery() as nursery:
            server = await nursery.start(partial(rawsock.serve, echo, "127.0.0.1", 0))
            before = len(_all_tasks())
            received: list[str | bytes] = []
            all_received = trio.Event()

            async def client() -> None:
                url = f"ws://127.0.0.1:{server.port}/"
                async with rawsock.connect(url, ping_interval=None) as ws:
                    await ws.send("hello")
                    received.append(await ws.receive())
                    if len(received) == count:
                        all_received.set()
                    await ws.receive()  # waits here until the server closes

            for _ in range(count):
                nursery.start_soon(client)
            await all_received.wait()
            await trio.sleep(IDLE_GRACE * 4)  # every grace timer has expired
            names = _task_names()
            assert not [name for name in names if name.endswith(" reader")]
            # The server's clock (its keepalive timers); the clients, whose keepalive is
            # off, have no timer left once their grace period passed.
            assert names.count("rawsock timers") == 1
            # Per connection: the client's task and the server's handler, nothing else.
            assert len(names) - before == 2 * count + 1
            nursery.cancel_scope.cancel()


async def test_a_receiver_that_stops_receiving_gets_a_reader_until_it_comes_back() -> None:
    """Pings are answered while the handler only sends; the reader ends when it receives."""
    with trio.fail_after(10):
        receiving_again = trio.Event()
        stop_sending = trio.Event()

        async def handler(ws: rawsock.WebSocket) -> None:
            await ws.receive()
            while not stop_sending.is_set():
                await ws.send("tick")
                await trio.sleep(0.01)
            receiving_again.set()
            async for _ in ws:
                pass

        async with trio.open_nursery() as nursery:
            server = await nursery.start(partial(rawsock.serve, handler, "127.0.0.1", 0))
            url = f"ws://127.0.0.1:{server.port}/"
            async with rawsock.connect(url, ping_interval=None) as ws:
                await ws.send("start")
                await trio.sleep(IDLE_GRACE * 3)
                assert _task_names().count("rawsock server reader") == 1
                assert await ws.ping() < 5  # answered by the server's background reader
                stop_sending.set()
                await receiving_again.wait()
                await ws.send("wake up")  # ends the reader's last read
                with trio.move_on_after(1):
                    while _task_names().count("rawsock server reader"):  # noqa: ASYNC110
                        await trio.sleep(0.01)
                assert _task_names().count("rawsock server reader") == 0
                assert await ws.ping() < 5  # answered by the handler's receive()
            nursery.cancel_scope.cancel()


class FaultyStream(trio.abc.Stream):
    """A stream whose reads raise an unexpected error once ``armed``: a transport bug."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.armed = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self.armed:
            await trio.lowlevel.checkpoint()
            raise RuntimeError("injected transport fault")
        return await self.stream.receive_some(max_bytes)

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        await self.stream.aclose()


def _faulty_pair() -> tuple[trio.abc.Stream, FaultyStream]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    return client_stream, FaultyStream(server_stream)


@pytest.mark.parametrize("owner", ["serve_stream", "connect"])
async def test_a_bug_in_a_background_task_closes_only_its_connection_with_1011(
    owner: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A background task that raises is logged and fails its connection, nothing else."""
    with trio.fail_after(10):
        faulty_client, faulty_server = _faulty_pair()
        healthy_client, healthy_server = trio.testing.memory_stream_pair()
        handler_done = trio.Event()

        async def only_sends(ws: rawsock.WebSocket) -> None:
            await ws.send("ready")
            with pytest.raises(rawsock.ConnectionClosed):
                while True:  # never receives: its background reader reads
                    await trio.sleep(0.01)
                    if ws.closed:
                        await ws.send("after close")
            handler_done.set()

        async def echo(ws: rawsock.WebSocket) -> None:
            async for message in ws:
                await ws.send(message)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(rawsock.serve_stream, echo, healthy_server)
            if owner == "serve_stream":
                nursery.start_soon(rawsock.serve_stream, only_sends, faulty_server)
                async with rawsock.connect("ws://x/", stream=faulty_client) as faulty:
                    assert await faulty.receive() == "ready"
                    faulty_server.armed = True
                    with pytest.raises(rawsock.ConnectionClosed) as closed:
                        await faulty.receive()
                    assert closed.value.code == 1011
            else:

                async def raw_server() -> None:
                    handshake = rawsock.sansio.ServerHandshake()
                    while (request := handshake.next_request()) is None:
                        handshake.receive_data(await faulty_client.receive_some())
                    await faulty_client.send_all(handshake.accept(handshake.validate(request)))
                    received = b""
                    while chunk := await faulty_client.receive_some():
                        received += chunk
                    parser = rawsock.sansio.FrameParser(require_mask=True)
                    parser.feed(received)
                    close = parser.next_piece()
                    assert close is not None and close.data[:2] == (1011).to_bytes(2, "big")
                    handler_done.set()

                nursery.start_soon(raw_server)
                async with rawsock.connect("ws://x/", stream=faulty_server) as faulty:
                    faulty_server.armed = True  # the connection's background reader trips
                    while not faulty.closed:  # noqa: ASYNC110 - the block does not receive
                        await trio.sleep(0.01)
                    assert faulty.close_code == 1011
            async with rawsock.connect("ws://x/", stream=healthy_client) as healthy:
                await healthy.send("still here")
                assert await healthy.receive() == "still here"
            await handler_done.wait()
    failures = [r for r in caplog.records if r.message == "background task of a connection failed"]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    assert failures[0].exc_info is not None
    assert "injected transport fault" in str(failures[0].exc_info[1])


async def test_a_connection_nobody_owns_leaves_no_task_behind() -> None:
    """accept() on a bare stream: its timers run in a system task, which ends with it."""
    with trio.fail_after(5):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            accepted: list[rawsock.WebSocket] = []

            async def accept() -> None:
                accepted.append(await rawsock.accept(server_stream))

            nursery.start_soon(accept)
            async with rawsock.connect("ws://x/", stream=client_stream) as client:
                await client.send("hello")
                await trio.testing.wait_all_tasks_blocked()
                assert await accepted[0].receive() == "hello"
                assert _task_names().count("rawsock timers") == 2  # the server's, the client's
            await accepted[0].aclose()
            await trio.testing.wait_all_tasks_blocked()
            assert "rawsock timers" not in _task_names()
