"""What every benchmark echo server shares: its command line, file limit and ready line.

Each server is run as ``python bench/servers/NAME.py --port P`` and prints one line,
``READY <port>``, on stdout once it accepts connections (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
from collections.abc import Callable
from typing import Any

#: Message and frame limit of every WebSocket server: room for 16 MiB messages.
MAX_MESSAGE_SIZE = 32 * 1024 * 1024
#: Bytes asked of the socket per read where a server lets us choose.
READ_SIZE = 64 * 1024


def parse_args(description: str) -> argparse.Namespace:
    """Parse ``--host`` and ``--port``, raise the file limit and quiet the logs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    args = parser.parse_args()
    raise_file_limit()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    return args


def raise_file_limit(wanted: int = 65536) -> int:
    """Raise RLIMIT_NOFILE's soft limit towards ``wanted`` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def ready(port: int) -> None:
    """Tell the benchmark runner that the server is listening on ``port``."""
    print(f"READY {port}", flush=True)


def run_until_interrupted(run: Callable[..., Any], *args: Any) -> None:
    """``run(*args)`` (``trio.run`` or ``asyncio.run``); Ctrl-C ends it without a traceback.

    Trio may raise the KeyboardInterrupt inside an exception group, hence ``except*``.
    """
    try:
        run(*args)
    except* KeyboardInterrupt:
        pass
