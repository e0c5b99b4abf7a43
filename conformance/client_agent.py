"""rawsock as the client under test of the Autobahn test suite (``wstest -m fuzzingserver``).

::

    python conformance/client_agent.py --url ws://127.0.0.1:9001 --agent rawsock

It asks the suite how many cases there are (``/getCaseCount``), runs each one
(``/runCase?case=N&agent=NAME``) by echoing every message back until the connection
closes, then asks the suite to write its reports (``/updateReports?agent=NAME``).

Many cases end with a protocol error on purpose, so errors raised by rawsock are expected
and only counted; the suite's reports say whether each case passed. Every case is bounded
in time, so that a case that hangs cannot hang the whole run.

Exit status: 0 when every case was run and the reports were written, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from urllib.parse import quote

import trio

import rawsock

#: The largest message in the suite (section 9) is 16 MiB.
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
PROGRESS_EVERY = 50


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions in ``exc``, with exception groups flattened."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _describe(exc: BaseException) -> str:
    return ", ".join(sorted({type(leaf).__name__ for leaf in _leaves(exc)}))


async def get_case_count(base_url: str) -> int:
    async with rawsock.connect(f"{base_url}/getCaseCount") as ws:
        message = await ws.receive()
    text = message if isinstance(message, str) else message.decode("ascii")
    return int(text)


async def echo_case(base_url: str, agent: str, case: int, *, max_message_size: int) -> str:
    """Echo one case until the connection closes; returns how it ended, for the counts."""
    url = f"{base_url}/runCase?case={case}&agent={quote(agent)}"
    try:
        async with rawsock.connect(url, max_message_size=max_message_size) as ws:
            async for message in ws:
                await ws.send(message)
    except rawsock.ConnectionClosed:
        return "closed with an error code"
    except rawsock.RawsockError as exc:
        return type(exc).__name__
    except Exception as exc:
        # Groups of rawsock errors are as expected as single ones; anything else is
        # reported, but the run goes on: the suite's reports judge the case.
        if all(isinstance(leaf, rawsock.RawsockError) for leaf in _leaves(exc)):
            return _describe(exc)
        print(f"case {case}: unexpected {_describe(exc)}: {exc}", flush=True)
        return f"unexpected {_describe(exc)}"
    return "closed normally"


async def update_reports(base_url: str, agent: str) -> None:
    """Ask the suite to write its reports, and wait until it closes the connection."""
    async with rawsock.connect(f"{base_url}/updateReports?agent={quote(agent)}") as ws:
        async for _ in ws:
            pass


async def run(args: argparse.Namespace) -> int:
    base_url: str = args.url.rstrip("/")
    with trio.fail_after(args.case_timeout):
        count = await get_case_count(base_url)
    print(f"case count: {count}", flush=True)
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    for case in range(1, count + 1):
        outcome = "timed out"
        with trio.move_on_after(args.case_timeout) as scope:
            outcome = await echo_case(
                base_url, args.agent, case, max_message_size=args.max_message_size
            )
        if scope.cancelled_caught:
            print(f"case {case}: no end within {args.case_timeout:g} s, abandoned", flush=True)
        outcomes[outcome] += 1
        if case % PROGRESS_EVERY == 0 or case == count:
            elapsed = time.monotonic() - started
            print(f"{case}/{count} cases run ({elapsed:.0f} s)", flush=True)
    print("how the connections ended:", flush=True)
    for outcome, number in outcomes.most_common():
        print(f"  {number:4d}  {outcome}", flush=True)
    with trio.fail_after(args.report_timeout):
        await update_reports(base_url, args.agent)
    print("reports written", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="rawsock client for wstest -m fuzzingserver")
    parser.add_argument("--url", required=True, help="the suite's URL, e.g. ws://127.0.0.1:9001")
    parser.add_argument("--agent", default="rawsock", help="agent name in the reports")
    parser.add_argument(
        "--max-message-size",
        type=int,
        default=DEFAULT_MAX_MESSAGE_SIZE,
        help=f"largest message accepted (default: {DEFAULT_MAX_MESSAGE_SIZE})",
    )
    parser.add_argument(
        "--case-timeout", type=float, default=60.0, help="seconds allowed per case (default: 60)"
    )
    parser.add_argument(
        "--report-timeout",
        type=float,
        default=300.0,
        help="seconds allowed for the suite to write its reports (default: 300)",
    )
    args = parser.parse_args()
    try:
        return trio.run(run, args)
    except (OSError, rawsock.RawsockError, TimeoutError, trio.TooSlowError, ValueError) as exc:
        print(f"client_agent: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
