"""permessage-deflate figures: server memory per connection and echo throughput.

    python bench/deflate_figures.py            # 1000 connections, 64 x 256 KiB messages

For each compression setting it starts a rawsock echo server in its own process, opens
the connections (each exchanges one 1 KiB text message, so the zlib state that context
takeover keeps exists), reads the server's RSS growth per connection from /proc, then
measures the echo throughput of JSON-like text messages on one connection. Loopback
only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial

import trio

import rawsock

SETTINGS = {
    "off": None,
    "default": rawsock.PerMessageDeflate(),
    "zlib defaults": rawsock.PerMessageDeflate(
        server_max_window_bits=None, client_max_window_bits=None, memory_level=8
    ),
}


def sample_text(size: int) -> str:
    record = {"id": 0, "user": "someone", "room": "general", "text": "hello there", "ok": True}
    parts = []
    index = 0
    while sum(map(len, parts)) < size:
        record["id"] = index
        parts.append(json.dumps(record))
        index += 1
    return ",".join(parts)[:size]


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def serve(mode: str, port: int) -> None:
    async def echo(ws: rawsock.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    await rawsock.serve(
        echo, "127.0.0.1", port, compression=SETTINGS[mode], max_message_size=None
    )


async def measure(mode: str, connections: int, messages: int, size: int) -> dict[str, float]:
    port = 20000 + os.getpid() % 20000
    command = [sys.executable, __file__, "--serve", mode, "--port", str(port)]
    server = await trio.lowlevel.open_process(command)
    try:
        url = f"ws://127.0.0.1:{port}/"
        with trio.fail_after(30):
            while True:
                try:
                    await trio.open_tcp_stream("127.0.0.1", port)
                    break
                except OSError:
                    await trio.sleep(0.05)
        await trio.sleep(0.5)
        base = rss_bytes(server.pid)
        hello = sample_text(1024)
        async with trio.open_nursery() as nursery:
            ready = trio.Semaphore(0)
            done = trio.Event()

            async def idle_client() -> None:
                async with rawsock.connect(url, open_timeout=30) as ws:
                    await ws.send(hello)
                    await ws.receive()
                    ready.release()
                    await done.wait()

            for _ in range(connections):
                nursery.start_soon(idle_client)
            with trio.fail_after(120):
                for _ in range(connections):
                    await ready.acquire()
            await trio.sleep(0.5)
            per_connection = (rss_bytes(server.pid) - base) / connections
            done.set()
        text = sample_text(size)
        async with rawsock.connect(url, max_message_size=None) as ws:
            started = time.perf_counter()
            with trio.fail_after(120):
                for _ in range(messages):
                    await ws.send(text)
                    await ws.receive()
            elapsed = time.perf_counter() - started
        return {
            "kib_per_connection": per_connection / 1024,
            "echo_mb_per_s": messages * size * 2 / elapsed / 1e6,
        }
    finally:
        server.terminate()
        await server.wait()


async def main(connections: int, messages: int, size: int) -> None:
    print(f"{connections} connections; echo of {messages} text messages of {size} bytes")
    print("| compression | server RSS per connection | echo throughput |")
    print("|---|---|---|")
    for mode in SETTINGS:
        figures = await measure(mode, connections, messages, size)
        print(
            f"| {mode} | {figures['kib_per_connection']:.1f} KiB | "
            f"{figures['echo_mb_per_s']:.1f} MB/s |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=list(SETTINGS))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=64)
    parser.add_argument("--size", type=int, default=256 * 1024)
    args = parser.parse_args()
    if args.serve:
        trio.run(partial(serve, args.serve, args.port))
    else:
        trio.run(main, args.connections, args.messages, args.size)
