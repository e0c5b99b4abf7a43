"""``--workers N``: N chat server processes on one port, like Node's cluster module.

Each worker is ``python -m examples.chat`` with ``--reuse-port``, so all of them bind the
same port and the kernel spreads connections over them. Rooms must be shared: with
``--redis`` the workers use Redis; without it this process serves one in-memory broker
to them over a Unix socket (``shared_broker.py``). SIGINT or SIGTERM stops the workers
gracefully (each closes its connections with 1001), then the broker.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import trio

from .._signals import cancel_on_signal
from .shared_broker import serve_broker

__all__ = ["supervise"]

logger = logging.getLogger("examples.chat")


async def supervise(args: argparse.Namespace) -> None:
    """Run ``args.workers`` workers until they exit or a signal stops them."""
    with tempfile.TemporaryDirectory(prefix="chat-") as directory:
        command = [
            sys.executable, "-m", "examples.chat", "--reuse-port", "--host", args.host,
            "--port", str(args.port), "--history", str(args.history), "--rate", str(args.rate),
        ]
        async with trio.open_nursery() as nursery:
            if args.redis:
                command += ["--redis", args.redis]
            else:
                path = str(Path(directory) / "broker.sock")
                await nursery.start(serve_broker, path, args.history)
                command += ["--broker-socket", path]
            async with trio.open_nursery() as workers:
                nursery.start_soon(cancel_on_signal, workers.cancel_scope)
                for _ in range(args.workers):
                    workers.start_soon(_run_worker, command)
                logger.info("started %d workers on port %d", args.workers, args.port)
            nursery.cancel_scope.cancel()  # the workers are gone: stop the broker


async def _run_worker(command: list[str]) -> None:
    # when cancelled, trio sends SIGTERM (the worker shuts down gracefully), then
    # SIGKILL 5 s later
    result = await trio.run_process(command, check=False)
    if result.returncode != 0:
        logger.error("a worker exited with %d", result.returncode)
