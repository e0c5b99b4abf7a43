"""Shared form server: a JSON document edited live from browsers and WebSocket clients.

    python -m examples.sync --port 8800

then open http://127.0.0.1:8800/ in two windows. The WebSocket endpoint is ``/ws``.
"""

from __future__ import annotations

import argparse
import logging

import trio

from .._signals import run_until_signalled
from .document import Limits
from .server import DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_QUEUE, SOCKET_PATH, SyncServer


async def main(host: str, port: int, server: SyncServer) -> None:
    """Run ``server`` on ``host``:``port`` until cancelled (by SIGINT or SIGTERM, through
    ``run_until_signalled``), which closes every connection with 1001 first."""
    async with trio.open_nursery() as nursery:
        listening = await nursery.start(server.run, host, port)
        logging.info(
            "sync server: page http://%s:%d/, WebSocket ws://%s:%d%s",
            host, listening.port, host, listening.port, SOCKET_PATH,
        )


def parse_arguments() -> argparse.Namespace:
    """The command line."""
    defaults = Limits()
    parser = argparse.ArgumentParser(
        prog="python -m examples.sync", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument(
        "--max-message-size", type=int, default=DEFAULT_MAX_MESSAGE_SIZE,
        help="largest message a client may send, in bytes (beyond it: closed with 1009)",
    )
    parser.add_argument(
        "--max-document-size", type=int, default=defaults.max_document_size,
        help="largest document, in bytes of compact JSON",
    )
    parser.add_argument(
        "--max-queue", type=int, default=DEFAULT_MAX_QUEUE,
        help="bytes of broadcasts waiting for one client before it is closed as too slow",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every refusal")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_arguments()
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
    )
    sync_server = SyncServer(
        Limits(max_document_size=arguments.max_document_size),
        max_message_size=arguments.max_message_size,
        max_queue=arguments.max_queue,
    )
    run_until_signalled(main, arguments.host, arguments.port, sync_server)
