"""How per-connection costs grow with the number of open connections.

    python bench/scaling.py            # 1,000, 5,000, 10,000 connections; about 40 s
    python bench/scaling.py --smoke    # a few seconds: every server starts, every figure is set

Each server (default: the floor ``trio-tcp``, ``rawsock`` and ``websockets-asyncio``) is
started afresh, alone, and a load client in its own process opens idle connections to it in
steps, up to a cumulative number of open connections per step (``--steps``). Every
connection does the opening handshake and one 16 B echo (the floor: connect and one 16 B
echo), then stays open and idle. At each step:

* memory per connection: the growth of the server's RSS (``VmRSS``) since before the first
  connection, read once the step's connections have been idle for 0.5 s, divided by the
  connections open; and the marginal memory per connection, the growth since the previous
  step divided by the connections that step added. The "before" is read after a warm-up of
  20 connections, opened and closed;
* the handshake rate: the step's new connections / the time taken to open them, 50 in
  flight at a time;
* round trips: 16 B binary messages echoed in a closed loop on one more connection (0.2 s
  warm-up, 1 s timed window) while all the others stay idle; the server and the load
  client are pinned to one shared core for it, as ``bench/run.py`` does for its
  one-connection metrics (``--no-pin`` turns it off).

With ``--repeats N`` every repeat starts each server afresh, the servers' order rotating,
and the tables give medians. Results go to ``bench/results/scaling.{md,json}``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import itertools
import json
import math
import os
import resource
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import client  # noqa: E402
from run import (  # noqa: E402
    FLOOR,
    PIN_CPU,
    ROOT,
    SERVERS,
    Server,
    ServerSpec,
    all_cpus,
    fmt_value,
    load_average,
    log,
    machine_info,
    machine_line,
    read_line,
    set_affinity,
    smoke_verdict,
    write_results,
)

DEFAULT_SERVERS = (FLOOR, "rawsock", "websockets-asyncio")
#: Connections opened and closed before the server's baseline RSS is read.
WARM_CONNS = 20
#: Size of the messages echoed: the probe of every connection, and the round trips.
MESSAGE_SIZE = 16
#: A cap on round trips in one timed window (the window's length bounds it first).
MAX_ROUND_TRIPS = 10_000_000
#: File descriptors the load client needs besides its connections (pipes, epoll, ...).
FD_MARGIN = 64
#: Seconds the runner grants the load client beyond a request's own limit to answer.
GRACE = 10.0
#: Seconds allowed for closing all the connections at the end of a server's run.
CLOSE_LIMIT = 30.0
LINGER_ABORT = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets, no TIME_WAIT


class TimeLimitExceeded(Exception):
    """The whole run went past ``--time-limit``."""


@dataclass(frozen=True)
class Settings:
    steps: tuple[int, ...]  # cumulative open connections at each step
    repeats: int
    warmup: float  # seconds of round trips before the timed window
    duration: float  # seconds of the round trips' timed window
    settle: float  # seconds idle before the RSS is read
    step_limit: float  # seconds one step's connections may take to open
    pin: bool


FULL = Settings(
    steps=(1000, 5000, 10_000),
    repeats=1,
    warmup=0.2,
    duration=1.0,
    settle=0.5,
    step_limit=120.0,
    pin=True,
)
SMOKE = Settings(
    steps=(20, 50),
    repeats=1,
    warmup=0.02,
    duration=0.05,
    settle=0.1,
    step_limit=30.0,
    pin=True,
)


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    unit: str
    how: str


FIGURES = [
    Figure(
        "mem_per_conn",
        "Memory per connection",
        "KiB",
        "(server RSS - its RSS before the first connection) / open connections, "
        "after {settle} s idle.",
    ),
    Figure(
        "mem_marginal",
        "Marginal memory per connection",
        "KiB",
        "Growth of the server's RSS since the previous step / connections the step added "
        "(the first step: since before the first connection).",
    ),
    Figure(
        "handshake_rate",
        "Handshake rate",
        "/s",
        "The step's new connections / the time taken to open them, "
        f"{client.OPEN_CONCURRENCY} in flight; each one is the opening handshake and a "
        f"{MESSAGE_SIZE} B echo (the floor: connect and a {MESSAGE_SIZE} B echo).",
    ),
    Figure(
        "roundtrip_rate",
        "Round trips on one more connection, all the others idle",
        "/s",
        f"{MESSAGE_SIZE} B binary messages echoed in a closed loop, {{warmup}} s warm-up, "
        "{duration} s timed window{pinned}.",
    ),
    Figure("rss_mib", "Server RSS", "MiB", "VmRSS when the step's memory was read."),
    Figure(
        "open_client_share",
        "Load client CPU share while opening",
        "",
        "CPU time of the load client / wall time while it opened the step's connections "
        "(1.00 = one full core): close to 1 means the handshake rate is the client's.",
    ),
]
FIGURE_KEYS = [figure.key for figure in FIGURES]


# -- the load client (its own process: ``scaling.py --worker``) ---------------------------


class IdleConnections:
    """The load client's connections to one server, opened step by step and kept idle."""

    def __init__(self, target: client.Target) -> None:
        if target.pid is None:
            raise client.BenchError("the server's process id is needed for its RSS")
        self.target = target
        self.pid = target.pid
        self.socks: list[socket.socket] = []

    def _open(self, count: int, limit: float) -> list[socket.socket]:
        """Open ``count`` connections (handshake, one echo), failing after ``limit`` s."""
        machine = client.Connector(self.target, client.OPEN_CONCURRENCY, keep=True)
        try:
            # With stop_at, run() returns once `count` connections are done, and its
            # duration only sets its hard limit: BenchError after duration + OVERRUN s.
            machine.run(limit - client.OVERRUN, count, stop_at=count)
        except BaseException:
            for sock in machine.kept:
                sock.close()
            raise  # the connections still opening are closed when the process exits
        machine.drain()
        if len(machine.kept) != count:
            raise client.BenchError(f"opened {len(machine.kept)} of {count} connections")
        return machine.kept

    def warm_up(self, conns: int, settle: float, limit: float) -> dict[str, Any]:
        """Open and close a few connections, wait, then read the server's baseline RSS."""
        client.close_many(self.target, self._open(conns, limit))
        time.sleep(settle)
        return {"rss": client.process_rss(self.pid)}

    def grow(self, total: int, settle: float, limit: float) -> dict[str, Any]:
        """Open connections up to ``total`` open, wait ``settle`` s, read the server's RSS."""
        new = total - len(self.socks)
        if new <= 0:
            raise client.BenchError(f"{total} connections are already open")
        window = client.Window(self.pid)
        window.open()
        try:
            self.socks += self._open(new, limit)
        except client.BenchError as error:
            raise client.BenchError(
                f"opening {new} connections (limit {limit:g} s): {error}"
            ) from None
        window.close()
        time.sleep(settle)
        rss = client.process_rss(self.pid)
        closed, wrote = self.disturbed()
        if closed:
            raise client.BenchError(f"the server closed {closed} of the idle connections")
        return {**window.result(new), "open": len(self.socks), "rss": rss, "wrote": wrote}

    def disturbed(self) -> tuple[int, int]:
        """How many idle connections the server closed, and how many it sent something on."""
        by_fd = {sock.fileno(): sock for sock in self.socks}
        poller = select.poll()
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        closed = wrote = 0
        for fd, _ in poller.poll(0):
            try:
                data = by_fd[fd].recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                wrote += 1
            else:
                closed += 1
        return closed, wrote

    def roundtrips(self, warmup: float, duration: float) -> dict[str, Any]:
        """Closed-loop 16 B round trips on one more connection (opened, then closed)."""
        return client.roundtrips_one(
            self.target,
            size=MESSAGE_SIZE,
            warmup=warmup,
            duration=duration,
            max_ops=MAX_ROUND_TRIPS,
        )

    def close(self) -> dict[str, Any]:
        """Reset every connection (SO_LINGER 0): no closing handshakes, no TIME_WAIT."""
        count = len(self.socks)
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ABORT)
            sock.close()
        self.socks = []
        return {"closed": count}


def answer(request: dict[str, Any], state: list[IdleConnections]) -> dict[str, Any]:
    """Carry out one request of the runner; ``state`` holds the connections, if any."""
    op = request["op"]
    if op == "warm_up":
        fds = int(request["max_conns"]) + FD_MARGIN
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft != resource.RLIM_INFINITY and soft < fds:
            raise client.BenchError(f"the load client may open {soft} files, not {fds}")
        target = client.Target(**request["target"])
        state[:] = [IdleConnections(target)]
        return state[0].warm_up(request["conns"], request["settle"], request["limit"])
    if not state:
        raise client.BenchError(f"{op!r} before 'warm_up'")
    if op == "grow":
        return state[0].grow(request["total"], request["settle"], request["limit"])
    if op == "roundtrips":
        return state[0].roundtrips(request["warmup"], request["duration"])
    if op == "close":
        return state.pop().close()
    raise client.BenchError(f"unknown request {op!r}")


def worker() -> None:
    """Answer the runner's requests, one JSON object per line, until stdin closes."""
    client.raise_file_limit()
    state: list[IdleConnections] = []
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply: dict[str, Any] = {"ok": True, "result": answer(json.loads(line), state)}
        except Exception as error:  # reported to the runner, which ends this process
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


# -- the runner ----------------------------------------------------------------------------


class Worker:
    """The load client process, as seen by the runner: one request, one answer."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.pid = self.process.pid
        self.pending = bytearray()

    def ask(self, request: dict[str, Any], limit: float, deadline: float) -> dict[str, Any]:
        """Send ``request``; its answer must come within ``limit`` s and before ``deadline``."""
        assert self.process.stdin is not None and self.process.stdout is not None
        timeout = min(limit, deadline - time.monotonic())
        if timeout <= 0:
            raise TimeLimitExceeded(f"no time left for '{request['op']}'")
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except OSError as error:  # the process has gone
            self.kill()
            raise RuntimeError(f"the load client is gone: {error}") from None
        line = read_line(self.process.stdout.fileno(), timeout, self.pending)
        if line is None:
            died = self.process.poll() is not None
            self.kill()
            if died:
                raise RuntimeError(f"the load client exited with {self.process.returncode}")
            if timeout < limit:
                raise TimeLimitExceeded(f"'{request['op']}' was still running")
            raise RuntimeError(f"'{request['op']}' took longer than its limit of {limit:g} s")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        return dict(reply["result"])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)

    def stop(self) -> None:
        """End the process: stdin closed, then killed if it does not exit within 5 s."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()


def server_failure(server: Server) -> str:
    """A note on the server's state for an error: whether it exited, its log's end."""
    code = server.process.poll()
    if code is None or server.log.closed:  # running, or its failure to start was told
        return ""
    server.log.flush()
    tail = server.log_path.read_text(errors="replace")[-600:].strip()
    return f" (the server exited with {code}; its log ends: {tail})"


def pin_both(pids: tuple[int, int], cpus: set[int]) -> None:
    """Move the server and the load client to ``cpus`` (a process that has gone is skipped)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            set_affinity(pid, cpus)


def measure_server(
    spec: ServerSpec, settings: Settings, log_dir: Path, deadline: float, pin: bool
) -> tuple[dict[str, Any], list[str], list[str]]:
    """One fresh server through every step: its samples, what went wrong, and notes."""
    sample: dict[str, Any] = {"rss_before": None, "steps": []}
    errors: list[str] = []
    notes: list[str] = []
    if time.monotonic() >= deadline:
        raise TimeLimitExceeded(f"before starting {spec.name}")
    server = Server(spec, log_dir)
    work: Worker | None = None
    phase = "start"
    try:
        server.wait_ready()
        work = Worker()
        phase = "warm-up"
        target = {key: server.target()[key] for key in ("host", "port", "kind", "pid")}
        base = work.ask(
            {
                "op": "warm_up",
                "target": target,
                "max_conns": max(settings.steps),
                "conns": WARM_CONNS,
                "settle": settings.settle,
                "limit": settings.step_limit,
            },
            settings.step_limit + GRACE,
            deadline,
        )
        sample["rss_before"] = rss_before = previous_rss = base["rss"]
        previous_open = 0
        for step in settings.steps:
            phase = f"step {step:,}"
            begun = time.monotonic()
            grow = {"op": "grow", "total": step, "settle": settings.settle}
            grown = work.ask(
                {**grow, "limit": settings.step_limit},
                settings.step_limit + settings.settle + GRACE,
                deadline,
            )
            if pin:
                pin_both((server.pid, work.pid), {PIN_CPU})
            try:
                trips = work.ask(
                    {"op": "roundtrips", "warmup": settings.warmup, "duration": settings.duration},
                    settings.warmup + settings.duration + client.OVERRUN + GRACE,
                    deadline,
                )
            finally:
                if pin:
                    pin_both((server.pid, work.pid), all_cpus())
            rss, added = grown["rss"], grown["open"] - previous_open
            record = {
                "conns": grown["open"],
                "mem_per_conn": (rss - rss_before) / grown["open"] / 1024,
                "mem_marginal": (rss - previous_rss) / added / 1024,
                "handshake_rate": grown["rate"],
                "roundtrip_rate": trips["rate"],
                "rss_mib": rss / 1024 / 1024,
                "open_client_share": grown["client_cpu"] / grown["seconds"],
                "open": grown,
                "roundtrips": trips,
            }
            sample["steps"].append(record)
            previous_rss, previous_open = rss, grown["open"]
            if grown["wrote"]:
                notes.append(
                    f"{spec.name}: the server sent data on {grown['wrote']} of the "
                    f"{grown['open']} idle connections (step {step})"
                )
            log(
                f"  {spec.name:<18} {step:>7,} conns: "
                f"{record['mem_per_conn']:6.1f} KiB/conn (marginal "
                f"{record['mem_marginal']:5.1f}), {record['handshake_rate']:7,.0f} handshakes/s, "
                f"{record['roundtrip_rate']:7,.0f} round trips/s "
                f"({time.monotonic() - begun:.1f} s)"
            )
    except RuntimeError as error:
        errors.append(f"{spec.name} ({phase}): {error}{server_failure(server)}")
        log(f"  error: {errors[-1]}")
    except TimeLimitExceeded as error:
        raise TimeLimitExceeded(f"{spec.name}, {phase}: {error}") from None
    finally:
        if work is not None:
            if work.process.poll() is None:
                # reset the connections before the server goes (no closing handshakes)
                with contextlib.suppress(RuntimeError, TimeLimitExceeded):
                    work.ask({"op": "close"}, CLOSE_LIMIT, math.inf)
            work.stop()
        server.stop()
    return sample, errors, notes


def run(
    servers: list[ServerSpec], settings: Settings, log_dir: Path, time_limit: float
) -> dict[str, Any]:
    """Every repeat: each server afresh, alone, through every step; order rotating."""
    deadline = time.monotonic() + time_limit
    pin = settings.pin and (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity")
    samples: dict[str, list[dict[str, Any]]] = {spec.name: [] for spec in servers}
    errors: list[str] = []
    notes: list[str] = []
    timed_out = None
    try:
        for repeat in range(settings.repeats):
            shift = repeat % len(servers)
            for spec in servers[shift:] + servers[:shift]:
                log(f"[{repeat + 1}/{settings.repeats}] {spec.name}")
                sample, failures, remarks = measure_server(spec, settings, log_dir, deadline, pin)
                samples[spec.name].append(sample)
                errors += failures
                notes += remarks
    except TimeLimitExceeded as error:
        timed_out = f"the run went past its time limit of {time_limit:g} s ({error})"
        errors.append(timed_out)
        log(f"FAIL {timed_out}")
    return {
        "samples": samples,
        "errors": errors,
        "notes": notes,
        "pinned": pin,
        "timed_out": timed_out,
    }


def summarize(
    samples: dict[str, list[dict[str, Any]]], steps: tuple[int, ...]
) -> dict[str, dict[str, dict[str, dict[str, float | None]]]]:
    """Per server, figure and step: the median over the repeats and the spread."""
    median: dict[str, dict[str, dict[str, float | None]]] = {}
    spread: dict[str, dict[str, dict[str, float | None]]] = {}
    for name, repeats in samples.items():
        median[name] = {key: {} for key in FIGURE_KEYS}
        spread[name] = {key: {} for key in FIGURE_KEYS}
        for step in steps:
            records = [
                record
                for sample in repeats
                for record in sample["steps"]
                if record["conns"] == step
            ]
            for key in FIGURE_KEYS:
                values = [float(record[key]) for record in records]
                mid = statistics.median(values) if values else None
                median[name][key][str(step)] = mid
                spread[name][key][str(step)] = (
                    (max(values) - min(values)) / 2 / abs(mid) if values and mid else None
                )
    return {"median": median, "spread": spread}


# -- checks, reporting ---------------------------------------------------------------------


def kernel_problems(max_conns: int) -> list[str]:
    """What keeps this machine from holding ``max_conns`` loopback connections at once."""
    problems = []
    needed = max_conns + WARM_CONNS + FD_MARGIN
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < needed:
        problems.append(
            f"the open-file hard limit is {hard}, {needed} are needed (ulimit -Hn; "
            "limits.conf or the service's LimitNOFILE)"
        )
    with contextlib.suppress(OSError, ValueError):
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        if high - low + 1 < needed:
            problems.append(
                f"the ephemeral port range {low}-{high} has {high - low + 1} ports, "
                f"{needed} are needed (sysctl net.ipv4.ip_local_port_range)"
            )
    with contextlib.suppress(OSError, ValueError):
        tracked = int(Path("/proc/sys/net/netfilter/nf_conntrack_max").read_text())
        if tracked < needed:
            problems.append(
                f"nf_conntrack_max is {tracked}, {needed} are needed "
                "(sysctl net.netfilter.nf_conntrack_max)"
            )
    return problems


def rawsock_source() -> dict[str, str | None]:
    """Where the servers import rawsock from, and that tree's commit if it is not ours."""
    spec = importlib.util.find_spec("rawsock")
    if spec is None or spec.origin is None:
        return {"path": None, "commit": None}
    package = Path(spec.origin).resolve().parent
    commit = None
    if not package.is_relative_to(ROOT):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            commit = (
                subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"],
                    cwd=package,
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout.strip()
                or None
            )
    return {"path": str(package), "commit": commit}


def markdown(report: dict[str, Any]) -> str:
    names = report["servers"]
    settings = report["settings"]
    source = report["rawsock_source"]
    pinned = f", server and client pinned to CPU {PIN_CPU}" if report["pinned"] else ""
    repeats = f"{settings['repeats']} repeats, medians" if settings["repeats"] > 1 else "one repeat"
    lines = [
        f"# Connection scaling benchmark, {report['date']}",
        "",
        machine_line(report["machine"]),
    ]
    if source["path"] and not Path(source["path"]).is_relative_to(ROOT):
        lines.append(
            f"The servers imported rawsock from {source['path']} (at {source['commit']}), "
            "not from this checkout."
        )
    lines += [
        "",
        f"Command: `{report['command']}`: {repeats}, each server started afresh and run "
        "alone; "
        f"load average {report['load_before']} before, {report['load_after']} after; "
        f"{report['elapsed']:.0f} s.",
        "Rows: idle connections open at once (each did the opening handshake and one "
        f"{MESSAGE_SIZE} B echo).",
    ]
    for figure in FIGURES:
        how = figure.how.format(
            settle=settings["settle"],
            warmup=settings["warmup"],
            duration=settings["duration"],
            pinned=pinned,
        )
        unit = f" ({figure.unit})" if figure.unit else ""
        lines += [
            "",
            f"## {figure.title}{unit}",
            "",
            how + (" ± is half the range over the repeats." if settings["repeats"] > 1 else ""),
            "",
            "| open connections | " + " | ".join(names) + " |",
            "|---:|" + "---:|" * len(names),
        ]
        for step in map(str, settings["steps"]):
            cells = []
            for name in names:
                value = report["median"][name][figure.key][step]
                if figure.unit or value is None:
                    cell = fmt_value(value, figure.unit)
                else:
                    cell = f"{value:.2f}"  # a share
                spread = report["spread"][name][figure.key][step]
                if value is not None and spread is not None and settings["repeats"] > 1:
                    cell += f" ±{spread * 100:.0f}%"
                cells.append(cell)
            lines.append(f"| {int(step):,} | " + " | ".join(cells) + " |")
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report["notes"]]
    if report["errors"]:
        lines += ["", "## Errors", ""] + [f"- {error}" for error in report["errors"]]
    return "\n".join(lines) + "\n"


def smoke_failures(report: dict[str, Any]) -> list[str]:
    """What keeps a smoke run from passing: an error, or a figure without a number."""
    failures = list(report["errors"])
    for name in report["servers"]:
        for key in FIGURE_KEYS:
            for step, value in report["median"][name][key].items():
                if value is None or not math.isfinite(value):
                    failures.append(f"{name}: no value for {key} at {step} connections")
                elif value <= 0 and key in ("handshake_rate", "roundtrip_rate", "rss_mib"):
                    failures.append(f"{name}: {key} = {value} at {step} connections")
    return failures


def parse_steps(text: str) -> tuple[int, ...]:
    """``1000,5000,10000`` -> (1000, 5000, 10000): positive and increasing."""
    try:
        steps = tuple(int(part.replace("_", "")) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not steps or steps[0] <= 0 or any(a >= b for a, b in itertools.pairwise(steps)):
        raise argparse.ArgumentTypeError("steps must be positive and increasing")
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="steps 20,50; checks only")
    parser.add_argument(
        "--steps",
        type=parse_steps,
        help="cumulative open connections per step (default 1000,5000,10000)",
    )
    parser.add_argument(
        "--servers",
        help=f"comma-separated (default {','.join(DEFAULT_SERVERS)}), among: "
        + ", ".join(spec.name for spec in SERVERS),
    )
    parser.add_argument("--repeats", type=int, help="runs of every server (default 1)")
    parser.add_argument(
        "--duration", type=float, help="seconds of the round trips' timed window (default 1)"
    )
    parser.add_argument(
        "--step-limit", type=float, help="seconds one step may take to open (default 120)"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        help="seconds the whole run may take (default: 60 + 120 per server and repeat)",
    )
    parser.add_argument("--no-pin", action="store_true", help="never pin to one core")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="where scaling.md/json go (default: bench/results; "
        "the smoke run writes nothing unless given)",
    )
    args = parser.parse_args()
    if args.worker:
        worker()
        return 0
    settings = SMOKE if args.smoke else FULL
    overrides: dict[str, Any] = {}
    if args.steps:
        overrides["steps"] = args.steps
    if args.repeats:
        overrides["repeats"] = args.repeats
    if args.duration:
        overrides["duration"] = args.duration
    if args.step_limit:
        overrides["step_limit"] = args.step_limit
    if args.no_pin:
        overrides["pin"] = False
    if overrides:
        settings = Settings(**{**asdict(settings), **overrides})
    wanted = args.servers.split(",") if args.servers else list(DEFAULT_SERVERS)
    unknown = set(wanted) - {spec.name for spec in SERVERS}
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    servers = [spec for spec in SERVERS if spec.name in wanted]
    time_limit = args.time_limit or 60.0 + 120.0 * len(servers) * settings.repeats
    problems = kernel_problems(max(settings.steps))
    for problem in problems:
        log(f"FAIL {problem}")
    if problems:
        return 1

    started = time.monotonic()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="rawsock-scaling-") as log_dir:
        outcome = run(servers, settings, Path(log_dir), time_limit)
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": ("python bench/scaling.py " + " ".join(sys.argv[1:])).strip(),
        "machine": machine_info(),
        "rawsock_source": rawsock_source(),
        "settings": {**asdict(settings), "time_limit": time_limit},
        "pinned": outcome["pinned"],
        "load_before": load_before,
        "load_after": load_average(),
        "elapsed": time.monotonic() - started,
        "servers": [spec.name for spec in servers],
        "descriptions": {spec.name: spec.description for spec in servers},
        "figures": {f.key: {"title": f.title, "unit": f.unit} for f in FIGURES},
        **summarize(outcome["samples"], settings.steps),
        "errors": outcome["errors"],
        "notes": outcome["notes"],
        "samples": outcome["samples"],
    }
    write_results(report, markdown(report), args.out_dir, args.smoke, "scaling")
    if outcome["timed_out"]:
        return 2
    if args.smoke:
        return smoke_verdict(smoke_failures(report), f"{len(servers)} servers, "
                             f"{len(settings.steps)} steps, {report['elapsed']:.1f} s")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
