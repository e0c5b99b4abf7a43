"""Run the chat server: ``python -m examples.chat`` (see examples/chat/README.md).

    python -m examples.chat                           one process, rooms in memory
    python -m examples.chat --workers 4 --redis URL   four processes on one port
    python -m examples.chat --redis redis://host:6379/0   share rooms between servers
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from functools import partial

import trio

from .._signals import run_until_signalled
from .broker import Broker, MemoryBroker
from .server import run_server

logger = logging.getLogger("examples.chat")


async def serve_chat(args: argparse.Namespace) -> None:
    """One chat server process."""
    broker: Broker
    if args.redis:
        from .redis_broker import RedisBroker

        broker = RedisBroker(args.redis, args.history)
    else:
        broker = MemoryBroker(args.history)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(run_server, broker, args.host, args.port, reuse_port=args.reuse_port)
        )
        where = "Redis" if args.redis else "memory"
        logger.info(
            "chat on http://%s:%d/ (process %d, rooms in %s)",
            args.host, server.port, os.getpid(), where,
        )


def run_workers(args: argparse.Namespace) -> int:
    """Start ``args.workers`` server processes sharing one port, like Node's cluster."""
    command = [
        sys.executable, "-m", "examples.chat", "--reuse-port",
        "--host", args.host, "--port", str(args.port), "--history", str(args.history),
        "--redis", args.redis,
    ]
    workers = [subprocess.Popen(command) for _ in range(args.workers)]
    logger.info("started %d workers on port %d: %s", len(workers), args.port,
                " ".join(str(worker.pid) for worker in workers))

    def stop(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        codes = [worker.wait() for worker in workers]
    except KeyboardInterrupt:  # the workers got the terminal's SIGINT too
        stop(signal.SIGINT, None)
        codes = [worker.wait() for worker in workers]
    return max(codes, default=0)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.chat", description="Chat server")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--history", type=int, default=50,
                        help="messages of a room replayed to a late joiner (default 50)")
    parser.add_argument("--redis", metavar="URL",
                        help="share rooms through Redis, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(message)s")
    if args.workers < 1 or not 1 <= args.history <= 10_000:
        parser.error("--workers must be at least 1 and --history between 1 and 10000")
    if args.workers > 1:
        if not args.redis:
            parser.error(
                "--workers N (N > 1) needs --redis URL: the workers are separate processes, "
                "and rooms in memory would not be shared between them"
            )
        if args.port == 0:
            parser.error("--workers needs a fixed --port for all workers to share")
        return run_workers(args)
    run_until_signalled(serve_chat, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
