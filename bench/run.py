"""Run the echo benchmark: every server side by side, interleaved, medians and ratios.

    python bench/run.py            # the full run (a few minutes); writes bench/results/latest.*
    python bench/run.py --smoke    # a few seconds: every server starts, every metric is a number

Each repeat starts every server in ``bench/servers`` afresh, measures their memory per
idle connection first (a fresh process), then runs each metric on every server in turn,
the servers' order rotating from one repeat to the next, so that drift on a noisy
machine spreads evenly over all of them. The load client (``bench/client.py``) runs in
its own process for the whole run. One-connection metrics run with the server and the
client pinned to one shared core (``sched_setaffinity``, what ``taskset -c 0`` does),
which gives steadier figures on small machines; the others may use every core.

Results are medians over the repeats, and ratios to the raw Trio TCP echo (the floor:
what Trio sockets cost without any WebSocket framing).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import math
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
FLOOR = "trio-tcp"
#: Seconds a server has to print its ready line, and the client to answer a request.
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 180.0
PIN_CPU = 0


@dataclass(frozen=True)
class ServerSpec:
    name: str
    script: str
    kind: str  # "ws" or "tcp"
    description: str


SERVERS = [
    ServerSpec(FLOOR, "echo_trio_tcp.py", "tcp", "raw Trio TCP echo, no framing (the floor)"),
    ServerSpec("rawsock", "echo_rawsock.py", "ws", "rawsock.serve"),
    ServerSpec("websockets-trio", "echo_websockets_trio.py", "ws", "websockets.trio.server"),
    ServerSpec("trio-websocket", "echo_trio_websocket.py", "ws", "trio_websocket"),
    ServerSpec(
        "websockets-asyncio", "echo_websockets_asyncio.py", "ws", "websockets.asyncio.server"
    ),
    ServerSpec("picows", "echo_picows.py", "ws", "picows (asyncio, Cython)"),
]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    request: dict[str, Any]  # what the load client is asked (empty for derived metrics)
    pinned: bool = False
    derived_from: str | None = None  # server CPU per operation of another metric


KIB = 1024
MIB = 1024 * 1024
METRICS = [
    Metric("rt16_1", "round trips, 16 B, 1 connection", "/s", True,
           {"measure": "roundtrips", "size": 16, "conns": 1}, pinned=True),
    Metric("rt16_50", "round trips, 16 B, 50 connections", "/s", True,
           {"measure": "roundtrips", "size": 16, "conns": 50}),
    Metric("rt1k_1", "round trips, 1 KiB, 1 connection", "/s", True,
           {"measure": "roundtrips", "size": KIB, "conns": 1}, pinned=True),
    Metric("rt1k_50", "round trips, 1 KiB, 50 connections", "/s", True,
           {"measure": "roundtrips", "size": KIB, "conns": 50}),
    Metric("tp1m", "throughput, 1 MiB messages", "MB/s", True,
           {"measure": "throughput", "size": MIB}, pinned=True),
    Metric("tp16m", "throughput, 16 MiB messages", "MB/s", True,
           {"measure": "throughput", "size": 16 * MIB}, pinned=True),
    Metric("hs_seq", "handshakes, sequential", "/s", True,
           {"measure": "handshakes", "conns": 1}, pinned=True),
    Metric("hs_50", "handshakes, 50 concurrent", "/s", True,
           {"measure": "handshakes", "conns": 50}),
    Metric("mem_idle", "memory per idle connection", "KiB", False,
           {"measure": "idle_memory"}),
    Metric("cpu_rt16_1", "server CPU per round trip, 16 B, 1 connection", "µs", False,
           {}, derived_from="rt16_1"),
    Metric("cpu_rt16_50", "server CPU per round trip, 16 B, 50 connections", "µs", False,
           {}, derived_from="rt16_50"),
]  # fmt: skip
MEASURED = [metric for metric in METRICS if metric.derived_from is None]
SPEED = [metric for metric in MEASURED if metric.key != "mem_idle"]

#: rawsock's targets, as ratios to the floor.
TARGETS = {
    "rt16_1": ">= 0.9",
    "rt16_50": ">= 0.8",
    "rt1k_1": ">= 0.9",
    "rt1k_50": ">= 0.75",
    "tp1m": ">= 1.0",
    "tp16m": ">= 0.95",
    "hs_seq": ">= 0.8",
    "hs_50": ">= 0.6",
    "mem_idle": "<= 2x",
    "cpu_rt16_1": "<= 1.25x",
    "cpu_rt16_50": "<= 1.25x",
}


@dataclass(frozen=True)
class Settings:
    repeats: int
    warmup: float
    duration: float
    throughput_16m_duration: float
    min_ops: int
    idle_conns: int
    settle: float
    pin: bool

    def request_for(self, metric: Metric) -> dict[str, Any]:
        request = {"warmup": self.warmup, "duration": self.duration, **metric.request}
        if metric.request.get("measure") == "throughput":
            request["min_ops"] = self.min_ops
            if metric.key == "tp16m":
                request["duration"] = self.throughput_16m_duration
        if metric.key == "mem_idle":
            request.update(conns=self.idle_conns, settle=self.settle)
        return request


FULL = Settings(
    repeats=5,
    warmup=0.2,
    duration=1.0,
    throughput_16m_duration=1.5,
    min_ops=2,
    idle_conns=2000,
    settle=0.5,
    pin=True,
)
SMOKE = Settings(
    repeats=1,
    warmup=0.02,
    duration=0.05,
    throughput_16m_duration=0.05,
    min_ops=1,
    idle_conns=50,
    settle=0.1,
    pin=True,
)


# -- processes ----------------------------------------------------------------------------


def read_line(fd: int, timeout: float, pending: bytearray) -> bytes | None:
    """One line from a pipe, within ``timeout`` seconds; None on EOF or timeout."""
    deadline = time.monotonic() + timeout
    while b"\n" not in pending:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return line


def all_cpus() -> set[int]:
    return set(range(os.cpu_count() or 1))


def set_affinity(pid: int, cpus: set[int]) -> None:
    """Move every thread of process ``pid`` to ``cpus`` (like ``taskset -a -p``)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), cpus)


class Server:
    """One echo server process, started with ``--port 0``; it reports its port."""

    def __init__(self, spec: ServerSpec, log_dir: Path) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.name}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH / "servers" / spec.script), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
        )
        self.pid = self.process.pid
        self.port = 0

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = read_line(self.process.stdout.fileno(), START_TIMEOUT, bytearray())
        if line is None or not line.startswith(b"READY "):
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"server {self.spec.name} did not start:\n{tail}")
        self.port = int(line.split()[1])

    def terminate(self) -> None:
        """Ask the server to stop (SIGTERM: SIGINT may be ignored in a background job)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        if self.process.poll() is None:
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()

    def target(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "kind": self.spec.kind, "pid": self.pid}


class Client:
    """The load client process, answering one JSON request at a time."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH / "client.py"), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.pending = bytearray()

    def measure(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        line = read_line(self.process.stdout.fileno(), REQUEST_TIMEOUT, self.pending)
        if line is None:
            raise RuntimeError("the load client did not answer in time (or died)")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        return dict(reply["result"])

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


# -- the run ------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def value_of(metric: Metric, result: dict[str, Any]) -> float:
    if metric.key == "mem_idle":
        return float(result["bytes_per_conn"]) / 1024
    return float(result["rate"])


def run(servers: list[ServerSpec], settings: Settings, log_dir: Path) -> dict[str, Any]:
    """Every repeat: fresh servers, idle memory, then each metric on each server in turn."""
    pin = settings.pin and (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity")
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        spec.name: {metric.key: [] for metric in MEASURED} for spec in servers
    }
    errors: list[str] = []
    client = Client()
    try:
        for repeat in range(settings.repeats):
            shift = repeat % len(servers)
            order = servers[shift:] + servers[:shift]
            running = [Server(spec, log_dir) for spec in order]
            try:
                for server in running:
                    server.wait_ready()
                for metric in [m for m in MEASURED if m.key == "mem_idle"] + SPEED:
                    for server in running:
                        name = server.spec.name
                        begun = time.monotonic()
                        request = {**server.target(), **settings.request_for(metric)}
                        pinned = pin and metric.pinned
                        if pinned:
                            set_affinity(server.pid, {PIN_CPU})
                            set_affinity(client.process.pid, {PIN_CPU})
                        try:
                            result = client.measure(request)
                        except (RuntimeError, ValueError) as error:
                            errors.append(f"{name} {metric.key} (repeat {repeat + 1}): {error}")
                            log(f"  error: {error}")
                            if client.process.poll() is not None or "did not answer" in str(error):
                                client.stop()
                                client = Client()
                            continue
                        finally:
                            if pinned:
                                set_affinity(server.pid, all_cpus())
                                set_affinity(client.process.pid, all_cpus())
                        result["pinned"] = pinned
                        result["value"] = value_of(metric, result)
                        log(
                            f"[{repeat + 1}/{settings.repeats}] {metric.key:<9} {name:<18} "
                            f"{result['value']:12,.1f} {metric.unit:<4} "
                            f"({time.monotonic() - begun:.1f} s)"
                        )
                        samples[name][metric.key].append(result)
            finally:
                for server in running:
                    server.terminate()
                for server in running:
                    server.stop()
    finally:
        client.stop()
    return {"samples": samples, "errors": errors, "pinned": pin}


def summarize(samples: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Medians, ratios to the floor, spreads and the load client's CPU share."""
    median: dict[str, dict[str, float | None]] = {}
    spread: dict[str, dict[str, float | None]] = {}
    client_share: dict[str, dict[str, float | None]] = {}
    for name, by_metric in samples.items():
        median[name], spread[name], client_share[name] = {}, {}, {}
        for metric in METRICS:
            runs = by_metric.get(metric.derived_from or metric.key, [])
            if metric.derived_from:
                values = [r["server_cpu"] / r["ops"] * 1e6 for r in runs if r["ops"]]
            else:
                values = [r["value"] for r in runs]
            mid = statistics.median(values) if values else None
            median[name][metric.key] = mid
            spread[name][metric.key] = (
                (max(values) - min(values)) / 2 / mid if values and mid else None
            )
            shares = [r["client_cpu"] / r["seconds"] for r in runs if "client_cpu" in r]
            client_share[name][metric.key] = (
                statistics.median(shares) if shares and not metric.derived_from else None
            )
    ratio: dict[str, dict[str, float | None]] = {}
    floor = median.get(FLOOR, {})
    for name, values in median.items():
        ratio[name] = {}
        for key, value in values.items():
            base = floor.get(key)
            ratio[name][key] = value / base if value is not None and base else None
    return {"median": median, "ratio": ratio, "spread": spread, "client_cpu_share": client_share}


# -- reporting ------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as file:
        for line in file:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("rawsock", "trio", "h11", "websockets", "trio-websocket", "picows",
                    "aiofastnet"):  # fmt: skip
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "rawsock"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        commit = head + (" (rawsock/ modified)" if dirty else "") if head else None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "versions": versions,
        "rawsock_commit": commit,
    }


def load_average() -> str:
    with contextlib.suppress(OSError), open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])
    return "unknown"


def machine_line(machine: dict[str, Any]) -> str:
    """The results' header line: CPU, kernel, Python, package versions, rawsock's commit."""
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}, "
        f"{machine['implementation']} {machine['python']}; {versions}; "
        f"rawsock at {machine['rawsock_commit']}."
    )


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "error"
    if unit == "µs" or value < 100:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def fmt_ratio(ratio: float | None, higher_is_better: bool) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.2f}" if higher_is_better else f"{ratio:.1f}x"


def markdown(report: dict[str, Any]) -> str:
    names = list(report["servers"])
    # (header, server, whether the column shows rawsock's targets instead of ratios)
    columns: list[tuple[str, str, bool]] = []
    for name in names:
        if name != FLOOR:
            columns.append((name, name, False))
            if name == "rawsock":
                columns.append(("rawsock target", name, True))
    median, ratio = report["median"], report["ratio"]
    lines = [
        f"# Echo benchmark, {report['date']}",
        "",
        machine_line(report["machine"]),
        "",
        f"Command: `{report['command']}`: {report['settings']['repeats']} repeat(s), servers "
        f"interleaved, medians; load average {report['load_before']} before, "
        f"{report['load_after']} after; {report['elapsed']:.0f} s.",
        "One-connection metrics (1-connection round trips, throughput, sequential handshakes) "
        + (
            f"ran with server and client pinned to CPU {PIN_CPU}."
            if report["pinned"]
            else "ran unpinned."
        ),
        "",
        "## Ratios to the raw Trio TCP floor",
        "",
        "Speed: higher is better (1.00 = as fast as the floor). Memory and CPU: lower is "
        "better (1.0x = as little as the floor).",
        "",
        "| metric | " + " | ".join(header for header, _, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for metric in METRICS:
        cells = []
        for _, name, target in columns:
            if target:
                cells.append(TARGETS.get(metric.key, ""))
            else:
                cells.append(fmt_ratio(ratio[name][metric.key], metric.higher_is_better))
        lines.append(f"| {metric.label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Medians",
        "",
        "± is half the range over the repeats, relative to the median.",
        "",
        "| metric | unit | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for metric in METRICS:
        cells = []
        for name in names:
            value = median[name][metric.key]
            cell = fmt_value(value, metric.unit)
            spread = report["spread"][name][metric.key]
            if value is not None and spread is not None and report["settings"]["repeats"] > 1:
                cell += f" ±{spread * 100:.0f}%"
            cells.append(cell)
        lines.append(f"| {metric.label} | {metric.unit} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Load client CPU share",
        "",
        "CPU time of the load client over wall time in the timed window (1.00 = one full "
        "core). On the pinned metrics it shares one core with the server.",
        "",
        "| metric | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for metric in MEASURED:
        if metric.key == "mem_idle":
            continue
        shares = [report["client_cpu_share"][name][metric.key] for name in names]
        lines.append(
            f"| {metric.label} | "
            + " | ".join("-" if s is None else f"{s:.2f}" for s in shares)
            + " |"
        )
    if report["errors"]:
        lines += ["", "## Errors", ""] + [f"- {error}" for error in report["errors"]]
    return "\n".join(lines) + "\n"


def smoke_failures(report: dict[str, Any]) -> list[str]:
    """What keeps a smoke run from passing: a metric without a usable number."""
    failures = list(report["errors"])
    for name in report["servers"]:
        for metric in METRICS:
            value = report["median"][name][metric.key]
            if value is None or not math.isfinite(value):
                failures.append(f"{name}: no value for {metric.key}")
            elif value <= 0 and metric.key != "mem_idle":
                failures.append(f"{name}: {metric.key} = {value}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds; checks only")
    parser.add_argument("--repeats", type=int, help="repeats of every measurement")
    parser.add_argument("--duration", type=float, help="seconds per timed window")
    parser.add_argument(
        "--servers",
        help="comma-separated subset (the floor is always included): "
        + ", ".join(spec.name for spec in SERVERS),
    )
    parser.add_argument("--no-pin", action="store_true", help="never pin to one core")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="where latest.md/json go (default: bench/results; "
        "the smoke run writes nothing unless given)",
    )
    args = parser.parse_args()
    settings = SMOKE if args.smoke else FULL
    overrides: dict[str, Any] = {}
    if args.repeats:
        overrides["repeats"] = args.repeats
    if args.duration:
        overrides["duration"] = args.duration
    if args.no_pin:
        overrides["pin"] = False
    if overrides:
        settings = Settings(**{**settings.__dict__, **overrides})
    servers = SERVERS
    if args.servers:
        wanted = {FLOOR, *args.servers.split(",")}
        unknown = wanted - {spec.name for spec in SERVERS}
        if unknown:
            parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
        servers = [spec for spec in SERVERS if spec.name in wanted]

    started = time.monotonic()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="rawsock-bench-") as log_dir:
        try:
            outcome = run(servers, settings, Path(log_dir))
        except RuntimeError as error:  # a server that does not start
            log(str(error))
            log("Are the peers installed? pip install -e '.[bench]'")
            return 1
    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/run.py " + " ".join(sys.argv[1:]),
        "machine": machine_info(),
        "settings": settings.__dict__,
        "pinned": outcome["pinned"],
        "load_before": load_before,
        "load_after": load_average(),
        "elapsed": time.monotonic() - started,
        "servers": [spec.name for spec in servers],
        "descriptions": {spec.name: spec.description for spec in servers},
        "metrics": {
            metric.key: {
                "label": metric.label,
                "unit": metric.unit,
                "higher_is_better": metric.higher_is_better,
                "pinned": metric.pinned,
            }
            for metric in METRICS
        },
        **summarize(outcome["samples"]),
        "errors": outcome["errors"],
        "samples": outcome["samples"],
    }
    report["command"] = report["command"].strip()
    write_results(report, markdown(report), args.out_dir, args.smoke, "latest")
    if args.smoke:
        return smoke_verdict(smoke_failures(report), f"{len(servers)} servers, "
                             f"{len(METRICS)} metrics, {report['elapsed']:.1f} s")
    return 1 if report["errors"] else 0


def write_results(
    report: dict[str, Any], text: str, out_dir: Path | None, smoke: bool, name: str
) -> None:
    """Print the Markdown; write NAME.md and NAME.json (a smoke run only with --out-dir)."""
    print(text)
    out_dir = out_dir or (None if smoke else BENCH / "results")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{name}.md").write_text(text)
        (out_dir / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
        log(f"wrote {out_dir / f'{name}.md'} and {out_dir / f'{name}.json'}")


def smoke_verdict(failures: list[str], summary: str) -> int:
    """Log a smoke run's failures and verdict; its exit status."""
    for failure in failures:
        log(f"FAIL {failure}")
    log(f"smoke: {'FAILED' if failures else 'ok'}: {summary}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
