"""Run the chat server: ``python -m examples.chat`` (see examples/chat/README.md).

    python -m examples.chat                           one process, rooms in memory
    python -m examples.chat --workers 4               four processes on one port
    python -m examples.chat --redis redis://host:6379/0   share rooms between servers
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from functools import partial

import trio

from .._signals import run_until_signalled
from .broker import Broker, MemoryBroker
from .rate import DEFAULT_RATE, RateLimit
from .server import run_server
from .shared_broker import SocketBroker
from .workers import supervise

logger = logging.getLogger("examples.chat")


async def serve_chat(args: argparse.Namespace) -> None:
    """One chat server process."""
    broker: Broker
    if args.redis:
        from .redis_broker import RedisBroker

        broker = RedisBroker(args.redis, args.history)
    elif args.broker_socket:
        broker = SocketBroker(args.broker_socket)
    else:
        broker = MemoryBroker(args.history)
    async with trio.open_nursery() as nursery:
        rate = RateLimit(per_second=args.rate, burst=max(1, round(2 * args.rate)))
        server = await nursery.start(
            partial(
                run_server, broker, args.host, args.port,
                reuse_port=args.reuse_port, rate_limit=rate,
            )
        )
        where = "Redis" if args.redis else "the parent" if args.broker_socket else "memory"
        logger.info(
            "chat on http://%s:%d/ (process %d, rooms in %s)",
            args.host, server.port, os.getpid(), where,
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.chat", description="Chat server")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--history", type=int, default=50,
                        help="messages of a room replayed to a late joiner (default 50)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE.per_second,
                        help="messages per second one client may send, in bursts of twice "
                             "that (default 20); more are refused with an error")
    parser.add_argument("--redis", metavar="URL",
                        help="share rooms through Redis, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--broker-socket", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(message)s")
    if args.workers < 1 or not 1 <= args.history <= 10_000 or not args.rate > 0:
        parser.error("--workers must be at least 1, --history between 1 and 10000, "
                     "--rate above 0")
    if args.workers > 1:
        if args.port == 0:
            parser.error("--workers needs a fixed --port for all workers to share")
        trio.run(supervise, args)
        return 0
    run_until_signalled(serve_chat, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
