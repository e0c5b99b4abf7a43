"""rawsock.testing.Transport: a Trio stream pair whose controls do what they say: pause
(a slow consumer), limit, cut (1006), delay; Broadcaster policies on a paused client."""

from __future__ import annotations

import pytest
import trio
import trio.lowlevel
import trio.testing

import rawsock
from rawsock.testing import Transport, connect, transport_of

MESSAGE = b"m" * 1000


async def test_the_ends_pass_trio_s_generic_stream_checks() -> None:
    async def make() -> tuple[trio.abc.HalfCloseableStream, trio.abc.HalfCloseableStream]:
        transport = Transport()
        return transport.client, transport.server

    await trio.testing.check_half_closeable_stream(make, None)


async def test_a_paused_client_blocks_the_handler_s_sends_at_the_limit() -> None:
    transport = Transport(limit=4096)
    sent: list[int] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        await ws.receive()
        for n in range(100):
            await ws.send(MESSAGE)
            sent.append(n)

    async with connect(handler, transport=transport, compression=None) as ws:
        pipe = transport.to_client
        pipe.pause()
        await ws.send("go")
        await trio.testing.wait_all_tasks_blocked()
        assert pipe.paused and pipe.blocked
        assert pipe.buffered == 4096
        assert len(sent) == 4  # 4096 bytes hold four 1004-byte frames, not five
        pipe.resume()
        for _ in range(100):
            assert await ws.receive() == MESSAGE
        assert len(sent) == 100 and not pipe.blocked


async def test_without_a_limit_a_paused_client_never_blocks_the_sender() -> None:
    transport = Transport(limit=None)
    done = trio.Event()

    async def handler(ws: rawsock.WebSocket) -> None:
        for _ in range(1000):
            await ws.send(MESSAGE)
        done.set()
        await ws.receive()

    async with connect(handler, transport=transport, compression=None):
        transport.to_client.pause()
        with trio.fail_after(5):
            await done.wait()
        assert transport.to_client.buffered >= 1000 * len(MESSAGE)
        assert not transport.to_client.blocked


async def test_raising_the_limit_lets_a_blocked_writer_go_on() -> None:
    transport = Transport(limit=10)
    transport.to_server.pause()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(transport.client.send_all, b"x" * 25)
        await trio.testing.wait_all_tasks_blocked()
        assert transport.to_server.blocked and transport.to_server.buffered == 10
        transport.to_server.limit = 30
        await trio.testing.wait_all_tasks_blocked()
        assert not transport.to_server.blocked and transport.to_server.buffered == 25
    transport.to_server.resume()
    assert await transport.server.receive_some() == b"x" * 25


async def test_a_paused_client_is_closed_by_a_broadcaster_with_the_close_policy() -> None:
    results: list[rawsock.BroadcastResult] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        async with trio.open_nursery() as nursery:
            broadcaster = rawsock.Broadcaster(nursery, max_queue=8 * len(MESSAGE), policy="close")
            broadcaster.add(ws)
            for _ in range(200):
                result = broadcaster.send(MESSAGE)
                results.append(result)
                if result.closed:
                    break
                await trio.lowlevel.checkpoint()
            await closed_quietly(ws)

    transport = Transport(limit=4096)
    async with connect(handler, transport=transport, compression=None) as ws:
        transport.to_client.pause()
        await trio.testing.wait_all_tasks_blocked()
        assert results[-1].closed, "the paused client was never found slow"
        transport.to_client.resume()
        received = 0
        with pytest.raises(rawsock.ConnectionClosed) as info:
            while True:
                assert await ws.receive() == MESSAGE
                received += 1
    assert info.value.code == 1013
    assert 0 < received < len(results)


async def test_a_paused_client_gets_fewer_messages_under_the_drop_policy() -> None:
    dropped: list[int] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        await ws.receive()
        async with trio.open_nursery() as nursery:
            broadcaster = rawsock.Broadcaster(nursery, max_queue=8 * len(MESSAGE), policy="drop")
            broadcaster.add(ws)
            for n in range(100):
                if broadcaster.send(f"{n}".encode() * 250).dropped:
                    dropped.append(n)
                await trio.lowlevel.checkpoint()
            await closed_quietly(ws)
            broadcaster.remove(ws)

    transport = Transport(limit=4096)
    async with connect(handler, transport=transport, compression=None) as ws:
        transport.to_client.pause()
        await ws.send("go")
        await trio.testing.wait_all_tasks_blocked()
        transport.to_client.resume()
        got: list[int] = []
        with trio.move_on_after(1):
            while len(got) + len(dropped) < 100:
                got.append(int((await ws.receive())[:1]))
    assert dropped and got and len(got) + len(dropped) == 100


async def closed_quietly(ws: rawsock.WebSocket) -> None:
    try:
        while True:
            await ws.receive()
    except rawsock.ConnectionClosed:
        pass


async def test_a_cut_connection_is_1006_on_both_sides() -> None:
    seen: list[int] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        try:
            await ws.receive()
        except rawsock.ConnectionClosed as closed:
            seen.append(closed.code)

    async with connect(handler) as ws:
        transport = transport_of(ws)
        assert not transport.is_cut
        transport.cut()
        assert transport.is_cut
        with pytest.raises(rawsock.ConnectionClosed) as info:
            await ws.receive()
        assert info.value.code == 1006
    assert seen == [1006]


async def test_after_a_cut_every_read_and_write_fails_as_after_a_reset() -> None:
    transport = Transport()
    await transport.client.send_all(b"lost in flight")
    transport.cut()
    for end in (transport.client, transport.server):
        with pytest.raises(trio.BrokenResourceError):
            await end.receive_some()
        with pytest.raises(trio.BrokenResourceError):
            await end.send_all(b"x")
        await end.aclose()  # closing still works
        with pytest.raises(trio.ClosedResourceError):
            await end.send_all(b"x")


async def test_a_cut_fails_a_handler_blocked_in_send() -> None:
    seen: list[int] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        await ws.receive()
        try:
            while True:
                await ws.send(MESSAGE)
        except rawsock.ConnectionClosed as closed:
            seen.append(closed.code)

    transport = Transport(limit=2048)
    async with connect(handler, transport=transport, compression=None) as ws:
        transport.to_client.pause()
        await ws.send("go")
        await trio.testing.wait_all_tasks_blocked()
        assert transport.to_client.blocked
        transport.cut()
    assert seen == [1006]


async def test_delay_holds_each_write_back_in_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connect(echo_at_once) as ws:
        transport = transport_of(ws)
        transport.to_server.delay = 1.5
        transport.to_client.delay = 2.5
        start = trio.current_time()
        await ws.send("one")
        await ws.send("two")
        assert await ws.receive() == "one"
        assert trio.current_time() - start == pytest.approx(4.0, abs=0.05)
        assert await ws.receive() == "two"
        transport.to_server.delay = transport.to_client.delay = 0
        start = trio.current_time()
        await ws.send("three")
        assert await ws.receive() == "three"
        assert trio.current_time() - start < 0.05


async def echo_at_once(ws: rawsock.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def test_a_delayed_handshake_meets_the_client_s_open_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    transport = Transport(delay=3)
    started = trio.current_time()
    with pytest.raises(rawsock.HandshakeError) as info:
        async with connect(echo_at_once, transport=transport, client_options={"open_timeout": 5}):
            pytest.fail("the handshake took 6 s")
    assert info.value.status_code == 408
    assert trio.current_time() - started == pytest.approx(5, abs=0.1)


async def test_pausing_the_transport_pauses_both_directions() -> None:
    transport = Transport()
    transport.pause()
    assert transport.to_client.paused and transport.to_server.paused
    await transport.client.send_all(b"up")
    await transport.server.send_all(b"down")
    with trio.move_on_after(0.05) as waited:
        await transport.server.receive_some()
    assert waited.cancelled_caught
    transport.resume()
    assert not transport.to_client.paused and not transport.to_server.paused
    assert await transport.server.receive_some() == b"up"
    assert await transport.client.receive_some() == b"down"


async def test_closing_an_end_ends_the_other_s_reads_and_fails_its_writes() -> None:
    transport = Transport()
    transport.to_client.pause()
    await transport.server.send_all(b"unread")
    async with trio.open_nursery() as nursery:
        failures: list[type[BaseException]] = []

        async def receive() -> None:
            try:
                await transport.client.receive_some()
            except trio.ClosedResourceError as error:
                failures.append(type(error))

        nursery.start_soon(receive)
        await trio.testing.wait_all_tasks_blocked()
        await transport.client.aclose()
    assert failures == [trio.ClosedResourceError]
    assert transport.to_client.buffered == 0  # what it did not read is gone
    with pytest.raises(trio.BrokenResourceError):
        await transport.server.send_all(b"more")
    with pytest.raises(trio.ClosedResourceError):
        await transport.client.send_all(b"on a closed end")
    assert await transport.server.receive_some() == b""


@pytest.mark.parametrize(
    ("arguments", "error", "name"),
    [
        ({"limit": 0}, ValueError, "limit"),
        ({"limit": 1.5}, TypeError, "limit"),
        ({"delay": -1}, ValueError, "delay"),
        ({"delay": "1"}, TypeError, "delay"),
    ],
)
def test_wrong_transport_arguments_fail_naming_them(
    arguments: dict[str, object], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        Transport(**arguments)  # type: ignore[arg-type]
    pipe = Transport().to_client
    with pytest.raises(error, match=name):
        setattr(pipe, name, arguments[name])
