"""Run a server until Ctrl-C or SIGTERM, then shut it down gracefully."""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import trio

__all__ = ["cancel_on_signal", "run_until_signalled"]

logger = logging.getLogger("examples")


async def cancel_on_signal(scope: trio.CancelScope) -> None:
    """Wait for SIGINT or SIGTERM, say so, and cancel ``scope`` (``rawsock.serve`` in it
    then closes its connections with 1001)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for number in signals:
            logger.info("stopping (%s)", signal.Signals(number).name)
            scope.cancel()
            return


async def _serve_until_signalled(serve: Callable[..., Awaitable[Any]], *args: Any) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cancel_on_signal, nursery.cancel_scope)
        await serve(*args)
        nursery.cancel_scope.cancel()  # it ended on its own


def run_until_signalled(serve: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """``trio.run(serve, *args)``, cancelled by SIGINT or SIGTERM instead of interrupted."""
    trio.run(_serve_until_signalled, serve, *args)
