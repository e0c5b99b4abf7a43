"""Where an HTTP/2 round trip's time goes: N WebSockets on one HTTP/2 connection.

    python bench/profile_http2.py 100 50 16           # N, round trips each, message size
    python bench/profile_http2.py 1 3000 16 --profile # and a cProfile of the client side

Server and client run in this one process (one Trio run, loopback, TLS with a trustme
certificate, compression off): the figure is both sides' CPU time per round trip, for
comparing two versions of rawsock on the same machine, not for comparing with peers
(``bench/http2.py`` does that, in two processes). See bench/PROFILE.md.
"""

from __future__ import annotations

import cProfile
import pstats
import ssl
import sys
import time

import trio
import trustme

import rawsock


async def echo(ws: rawsock.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def main(count: int, round_trips: int, size: int, profile: bool) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    go = trio.Event()
    message = bytes(size)
    profiler = cProfile.Profile()

    async def client(url: str, ready: trio.Event) -> None:
        async with rawsock.connect(
            url, ssl_context=client_context, http2=True, compression=None
        ) as ws:
            assert ws.http_version == "2"
            ready.set()
            await go.wait()
            for _ in range(round_trips):
                await ws.send(message)
                assert await ws.receive() == message

    with trio.fail_after(300):
        async with trio.open_nursery() as nursery:
            server: rawsock.Server = await nursery.start(
                lambda task_status: rawsock.serve(
                    echo,
                    "127.0.0.1",
                    0,
                    ssl_context=server_context,
                    http2=True,
                    compression=None,
                    task_status=task_status,
                )
            )
            url = f"wss://localhost:{server.port}/"
            async with trio.open_nursery() as clients:
                for _ in range(count):
                    ready = trio.Event()
                    clients.start_soon(client, url, ready)
                    await ready.wait()
                if profile:
                    profiler.enable()
                cpu, wall = time.process_time(), time.perf_counter()
                go.set()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            profiler.disable()
            await server.aclose()
    total = count * round_trips
    print(
        f"N={count}, {size} B: {cpu / total * 1e6:.1f} us CPU, "
        f"{wall / total * 1e6:.1f} us wall per round trip"
    )
    if profile:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--profile"]
    count, round_trips, size = (int(a) for a in arguments) if arguments else (100, 50, 16)
    trio.run(main, count, round_trips, size, "--profile" in sys.argv)
