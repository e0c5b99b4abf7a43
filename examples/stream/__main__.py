"""Move a file of any size over one WebSocket connection, verified and resumable.

    python -m examples.stream receive --port 9000 --dir received/
    python -m examples.stream send PATH ws://127.0.0.1:9000/
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from functools import partial
from pathlib import Path

import trio

import rawsock

from .._signals import run_until_signalled
from .progress import ProgressLogHandler, say
from .receiver import Receiver, serve_receiver
from .sender import Sent, TransferFailed, send_file

__all__ = ["build_parser", "describe", "main", "summary"]


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``receive`` and ``send`` subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m examples.stream", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)

    receive = commands.add_parser("receive", help="serve, storing incoming files in --dir")
    receive.add_argument("--host", default="127.0.0.1")
    receive.add_argument("--port", type=int, default=9000)
    receive.add_argument("--dir", type=Path, required=True, help="where files are stored")
    receive.add_argument(
        "--max-size", type=int, default=None, metavar="BYTES",
        help="refuse files larger than this (default: no limit but the free disk space)",
    )
    receive.add_argument("--no-progress", action="store_true", help="no progress bars")

    send = commands.add_parser("send", help="send one file to a receiver")
    send.add_argument("path", type=Path, help="the file to send")
    send.add_argument("url", help="the receiver, e.g. ws://127.0.0.1:9000/")
    send.add_argument("--name", help="the name to store it under (default: its own name)")
    send.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


async def run_receiver(receiver: Receiver, host: str, port: int) -> None:
    """Serve, saying where, until cancelled (Ctrl-C or SIGTERM, through
    ``run_until_signalled``): a graceful shutdown, and transfers in progress keep their
    ``.part`` files for a later resume.
    """
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_receiver, receiver, host, port))
        logging.getLogger("examples.stream").info(
            "receiving into %s on ws://%s:%d/", receiver.directory, host, server.port
        )


def receive_command(args: argparse.Namespace) -> int:
    """``receive``: serve until interrupted (Ctrl-C)."""
    handler = ProgressLogHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("rawsock").setLevel(logging.WARNING)  # this program logs its own
    args.dir.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(args.dir, max_size=args.max_size, show_progress=not args.no_progress)
    status = 0
    try:
        run_until_signalled(run_receiver, receiver, args.host, args.port)
    except* OSError as errors:  # the port is taken, the address is not local...
        say(f"error: cannot listen on {args.host}:{args.port}: {errors.exceptions[0]}")
        status = 1
    return status


def send_command(args: argparse.Namespace) -> int:
    """``send``: 0 once the receiver confirmed the file, 1 on any failure."""
    path: Path = args.path
    name: str = args.name if args.name is not None else path.name
    started = time.monotonic()
    try:
        sent = trio.run(
            partial(send_file, path, args.url, name=name, show_progress=not args.no_progress)
        )
    except (TransferFailed, OSError, EOFError, rawsock.RawsockError) as error:
        say(f"error: {describe(error)}")
        return 1
    except KeyboardInterrupt:
        say("interrupted: sending the same file again resumes where it stopped")
        return 130
    print(summary(name, sent, time.monotonic() - started))
    return 0


def summary(name: str, sent: Sent, elapsed: float) -> str:
    """The line printed once the receiver confirmed the file: the bytes this run sent,
    the time and their rate, and the whole file's size when it resumed."""
    rate = f"{sent.sent / elapsed / 1e6:.1f} MB/s" if elapsed > 0 else "-"
    resumed = f", resumed at byte {sent.start}: {sent.size} bytes in all" if sent.start else ""
    return (f"sent {name}: {sent.sent} bytes in {elapsed:.2f} s ({rate}){resumed}, "
            f"sha256 {sent.sha256}")


def describe(error: BaseException) -> str:
    """An error as one line, with the system's reason when Trio gives only a summary
    (``all attempts to connect to HOST:PORT failed``, the reasons in its cause)."""
    cause = error.__cause__
    if not isinstance(error, OSError) or error.errno or cause is None:
        return str(error)
    inner = list(cause.exceptions) if isinstance(cause, BaseExceptionGroup) else [cause]
    reasons = dict.fromkeys(_reason(e) for e in inner)
    return f"{error}: {'; '.join(reasons)}" if reasons else str(error)


def _reason(error: BaseException) -> str:
    """The system's words for one failed attempt (``Connection refused``)."""
    if isinstance(error, OSError) and error.errno and error.errno > 0:
        return os.strerror(error.errno)
    return str(error)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "receive":
        return receive_command(args)
    return send_command(args)


if __name__ == "__main__":
    sys.exit(main())
