"""Run a server until Ctrl-C or SIGTERM, then shut it down gracefully."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import Any

import trio

__all__ = ["run_until_signalled"]


async def _serve_until_signalled(serve: Callable[..., Awaitable[Any]], *args: Any) -> None:
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            nursery.start_soon(serve, *args)
            async for _ in signals:
                nursery.cancel_scope.cancel()  # rawsock.serve then closes with 1001
                break


def run_until_signalled(serve: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """``trio.run(serve, *args)``, cancelled by SIGINT or SIGTERM instead of interrupted."""
    trio.run(_serve_until_signalled, serve, *args)
