"""Broadcast: many receivers, slow ones handled by the policy, everyone else on time."""

from __future__ import annotations

import resource
import socket
from functools import partial

import pytest
import trio

import rawsock

SMALL_BUFFER = 4096


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < needed:
        pytest.fail(f"this test needs {needed} file descriptors")


async def slow_reader(port: int) -> trio.SocketStream:
    """A client that completes the handshake and then never reads, with a tiny buffer."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    handshake = rawsock.sansio.ClientHandshake(f"127.0.0.1:{port}", "/")
    await stream.send_all(handshake.request_bytes())
    while handshake.next_response() is None:
        handshake.receive_data(await stream.receive_some())
    return stream


async def run_room(
    *,
    readers: int,
    slow: int,
    messages: int,
    size: int,
    policy: str,
    compression: rawsock.PerMessageDeflate | None = None,
) -> tuple[list[rawsock.BroadcastResult], list[int], dict[rawsock.WebSocket, int], set[int]]:
    raise_file_limit(2 * (readers + slow) + 100)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    received = [0] * readers
    all_received = trio.Event()
    results: list[rawsock.BroadcastResult] = []
    slow_ports: set[int] = set()
    ports: dict[rawsock.WebSocket, int] = {}  # each member's client-side port
    async with trio.open_nursery() as nursery:
        broadcaster = rawsock.Broadcaster(nursery, max_queue=64 * 1024, policy=policy)  # type: ignore[arg-type]
        joined = trio.Semaphore(0)

        async def member(ws: rawsock.WebSocket, peer_port: int) -> None:
            ports[ws] = peer_port
            broadcaster.add(ws)
            joined.release()
            async for _ in ws:
                pass

        async def serve_one(stream: trio.SocketStream) -> None:
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
            handler = partial(member, peer_port=stream.socket.getpeername()[1])
            await rawsock.serve_stream(handler, stream, compression=compression)

        await nursery.start(trio.serve_listeners, serve_one, listeners)
        done = trio.Event()

        async def reader(index: int, ready: trio.Semaphore) -> None:
            async with rawsock.connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
                ready.release()
                for _ in range(messages):
                    message = await ws.receive()
                    assert len(message) == size
                    received[index] += 1
                if sum(received) == readers * messages:
                    all_received.set()
                await done.wait()

        ready = trio.Semaphore(0)
        for index in range(readers):
            nursery.start_soon(reader, index, ready)
        slow_streams = []
        for _ in range(slow):
            stream = await slow_reader(port)
            slow_ports.add(stream.socket.getsockname()[1])
            slow_streams.append(stream)
        for _ in range(readers + slow):
            await joined.acquire()
        for _ in range(readers):
            await ready.acquire()
        payload = "x" * size
        for _ in range(messages):
            results.append(broadcaster.send(payload))
            await trio.sleep(0.001)
        with trio.fail_after(30):
            await all_received.wait()
        done.set()
        for stream in slow_streams:
            await stream.aclose()
        nursery.cancel_scope.cancel()
    return results, received, ports, slow_ports


async def test_a_thousand_members_ten_slow_ones_closed() -> None:
    with trio.fail_after(120):
        results, received, ports, slow_ports = await run_room(
            readers=990, slow=10, messages=60, size=2048, policy="close"
        )
    closed = [ws for result in results for ws in result.closed]
    assert {ports[ws] for ws in closed} == slow_ports  # exactly the slow ones
    assert all(not result.dropped for result in results)
    assert received == [60] * 990  # every reader got every message
    assert all(ws.close_code is not None for ws in closed)


async def test_drop_policy_keeps_slow_members_but_skips_messages() -> None:
    with trio.fail_after(60):
        results, received, ports, slow_ports = await run_room(
            readers=20, slow=2, messages=200, size=2048, policy="drop"
        )
    dropped = {ports[ws] for result in results for ws in result.dropped}
    assert dropped == slow_ports
    assert all(not result.closed for result in results)
    assert received == [200] * 20


async def test_shared_compressed_frames_decode_everywhere() -> None:
    """Without context takeover, the frame is compressed once and shared."""
    settings = rawsock.PerMessageDeflate(server_no_context_takeover=True, threshold=0)
    with trio.fail_after(60):
        _, received, _, _ = await run_room(
            readers=20, slow=0, messages=30, size=5000, policy="close", compression=settings
        )
    assert received == [30] * 20


async def test_members_leave_when_closed_and_can_be_removed() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            async def idle(ws: rawsock.WebSocket) -> None:
                async for _ in ws:
                    pass

            server = await nursery.start(partial(rawsock.serve, idle, "127.0.0.1", 0))
            broadcaster = rawsock.Broadcaster(nursery)
            async with rawsock.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                broadcaster.add(ws)
                assert broadcaster.connections == [ws]
                broadcaster.remove(ws)
                assert broadcaster.connections == []
                broadcaster.add(ws)
            result = broadcaster.send("after the close")
            assert broadcaster.connections == [] and not result.closed
            with pytest.raises(ValueError):
                rawsock.Broadcaster(nursery, policy="ignore")  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()


async def test_send_to_some_members_keeps_per_connection_order() -> None:
    """``to=`` reaches only the named members, in order with full broadcasts."""
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server_sides: list[rawsock.WebSocket] = []
            all_joined = trio.Event()

            async def member(ws: rawsock.WebSocket) -> None:
                server_sides.append(ws)
                if len(server_sides) == 3:
                    all_joined.set()
                async for _ in ws:
                    pass

            server = await nursery.start(partial(rawsock.serve, member, "127.0.0.1", 0))
            url = f"ws://127.0.0.1:{server.port}/"
            async with (
                rawsock.connect(url) as first,
                rawsock.connect(url) as second,
                rawsock.connect(url) as third,
            ):
                await all_joined.wait()
                broadcaster = rawsock.Broadcaster(nursery)
                for ws in server_sides:
                    broadcaster.add(ws)
                outsider = server_sides[0]
                broadcaster.remove(outsider)
                for n in range(20):
                    broadcaster.send(f"all {n}")
                    broadcaster.send(f"some {n}", to=[server_sides[1], outsider, server_sides[1]])
                got = {"second": [await second.receive() for _ in range(40)]}
                got["third"] = [await third.receive() for _ in range(20)]
                with trio.move_on_after(0.2):
                    got["first"] = [await first.receive()]
            assert got["second"] == [m for n in range(20) for m in (f"all {n}", f"some {n}")]
            assert got["third"] == [f"all {n}" for n in range(20)]
            assert "first" not in got  # not a member: nothing, not even the targeted ones
            nursery.cancel_scope.cancel()
