"""N WebSockets over one HTTP/2 connection (RFC 8441) against N over HTTP/1.1, side by side.

    python bench/http2.py            # N = 1, 10, 100; 5 repeats; about 3 minutes
    python bench/http2.py --quick    # N = 1, 10; 1 repeat, short counts; under 30 s
    python bench/http2.py --write    # also writes bench/results/http2.md

One rawsock server, ``rawsock.serve(echo, "127.0.0.1", 0, ssl_context=ctx, http2=True)``
with a trustme certificate, runs in its own process (this script with ``--serve``); it
offers ALPN ``h2`` and ``http/1.1``. The client is rawsock too, in this process, under
Trio: ``rawsock.connect("wss://127.0.0.1:PORT/", http2=True)`` opens every WebSocket as a
stream of one shared HTTP/2 connection (the server allows 100 streams per connection, so
N <= 100 is one connection), ``http2=False`` opens each on its own TCP + TLS connection
with the HTTP/1.1 upgrade. Compression is off on both sides (as in ``bench/run.py``).
Both modes are measured in the same run, alternating (the first mode of each repeat
alternates too), and the tables give medians and ratios HTTP/2 / HTTP/1.1:

* open time: N WebSockets opened concurrently (one task each, in a nursery), from the
  first ``connect`` until the last opening handshake has completed; every repeat opens a
  new connection, TLS handshake included;
* round trips: on those N WebSockets, each one does a bounded count of sequential echo
  round trips (16 B, then 1 KiB binary messages), all N concurrently, after an untimed
  warm-up; round trips per second, and the CPU time (user + system, ``/proc/PID/stat``
  and ``getrusage``) of the server process and of the client process per round trip;
* memory per WebSocket: a fresh server process and a fresh client process (this script
  with ``--memory-client``) per measurement; after a warm-up (20 WebSockets of the same
  mode in groups of N at most, one echo each, closed), M WebSockets are opened (M = 1000
  by default) as M / N groups of N, 50 opening at a time, and each does one 16 B echo;
  0.5 s later, the growth of the server's RSS (``VmRSS``) and of the client's, / M. Over
  HTTP/2 each group is one HTTP/2 connection (each group has its own client
  ``ssl.SSLContext``, which keeps the client's connection pool from sharing between
  groups), so the figure is the cost of a WebSocket when N share a connection; over
  HTTP/1.1 every WebSocket is its own connection whatever N is. The server's TCP
  connections (the growth of its socket descriptors) are counted then.

Everything runs on loopback (127.0.0.1), unpinned (the client takes one core, the server
the other on a 2-core machine); every wait has a time limit and every loop a count.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import math
import os
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import trio

import rawsock

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from client import process_cpu, process_rss, raise_file_limit  # noqa: E402
from run import load_average, log, machine_info, machine_line, read_line  # noqa: E402

HOST = "127.0.0.1"
MODES = ("1.1", "2")  # the WebSockets' http_version
MODE_LABEL = {"1.1": "HTTP/1.1", "2": "HTTP/2"}
#: Seconds the server has to print its ready line, and to exit once asked to.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
#: Seconds allowed for opening a set of WebSockets, for closing it, and for one
#: round-trip measurement.
OPEN_LIMIT = 60.0
CLOSE_LIMIT = 30.0
ROUND_TRIP_LIMIT = 120.0
#: WebSockets opening at once in the memory measurement (the open-time one opens all).
MEMORY_CONCURRENCY = 50
#: WebSockets opened, each with one echo, and closed before the server's RSS is read.
WARM_TOTAL = 20
#: The message of the one echo each WebSocket does in the memory measurement.
PROBE = b"0123456789abcdef"
SIZES = (16, 1024)
KIB = 1024


@dataclass(frozen=True)
class Settings:
    counts: tuple[int, ...]  # N: WebSockets open at once
    repeats: int  # of the open-time and round-trip measurements
    memory_repeats: int
    memory_total: int  # M: WebSockets open at once in the memory measurement
    round_trips: int  # per measurement, shared by the N WebSockets
    min_per_socket: int  # round trips each WebSocket does at least
    settle: float  # seconds idle before the RSS is read
    time_limit: float  # seconds for the whole run


FULL = Settings(
    counts=(1, 10, 100),
    repeats=5,
    memory_repeats=3,
    memory_total=1000,
    round_trips=6000,
    min_per_socket=40,
    settle=0.5,
    time_limit=900.0,
)
QUICK = Settings(
    counts=(1, 10),
    repeats=1,
    memory_repeats=1,
    memory_total=100,
    round_trips=2000,
    min_per_socket=10,
    settle=0.1,
    time_limit=60.0,
)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    ratio: bool = True  # in the table of ratios


METRICS = [
    Metric("open_ms", "time to open N", "ms", False),
    Metric("rt16", "round trips, 16 B", "/s", True),
    Metric("rt1k", "round trips, 1 KiB", "/s", True),
    Metric("srv_cpu16", "server CPU per round trip, 16 B", "µs", False),
    Metric("srv_cpu1k", "server CPU per round trip, 1 KiB", "µs", False),
    Metric("cli_cpu16", "client CPU per round trip, 16 B", "µs", False),
    Metric("cli_cpu1k", "client CPU per round trip, 1 KiB", "µs", False),
    Metric("srv_mem", "server memory per WebSocket", "KiB", False),
    Metric("cli_mem", "client memory per WebSocket", "KiB", False),
    Metric("srv_conns", "server TCP connections for M WebSockets", "", False, ratio=False),
    Metric("srv_share16", "server CPU share, 16 B round trips", "cores", False, ratio=False),
    Metric("cli_share16", "client CPU share, 16 B round trips", "cores", False, ratio=False),
    Metric("srv_share1k", "server CPU share, 1 KiB round trips", "cores", False, ratio=False),
    Metric("cli_share1k", "client CPU share, 1 KiB round trips", "cores", False, ratio=False),
]  # fmt: skip


# -- the server process -------------------------------------------------------------------


async def echo(ws: rawsock.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def serve_main(cert: str, key: str) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(rawsock.serve, echo, HOST, 0, ssl_context=context, http2=True,
                    compression=None)
        )  # fmt: skip
        print(f"READY {server.port}", flush=True)


def serve_forever(cert: str, key: str) -> None:
    """The ``--serve`` mode: the echo server, until SIGTERM (or Ctrl-C)."""
    raise_file_limit()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        trio.run(serve_main, cert, key)
    except* KeyboardInterrupt:
        pass


def process_sockets(pid: int) -> int:
    """The open socket descriptors of process ``pid``."""
    count = 0
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            if os.readlink(f"{fd_dir}/{name}").startswith("socket:"):
                count += 1
    return count


class ServerProcess:
    """This script with ``--serve``; it reports its port on stdout."""

    def __init__(self, cert: Path, key: Path, log_path: Path) -> None:
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--cert", str(cert), "--key", str(key)],
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
        )
        self.pid = self.process.pid
        assert self.process.stdout is not None
        line = read_line(self.process.stdout.fileno(), START_TIMEOUT, bytearray())
        if line is None or not line.startswith(b"READY "):
            self.stop()
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the server did not start:\n{tail}")
        self.port = int(line.split()[1])

    def check(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the server exited ({self.process.returncode}):\n{tail}")

    def cpu(self) -> float:
        return process_cpu(self.pid)

    def rss(self) -> int:
        return process_rss(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()


# -- the client -----------------------------------------------------------------------------


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def own_rss() -> int:
    return process_rss(os.getpid())


class Fleet:
    """WebSockets held open, each by its own task in a nursery, until released."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.sockets: list[rawsock.WebSocket] = []
        self.opened_at: list[float] = []
        self.all_open = trio.Event()
        self.release = trio.Event()

    async def hold(
        self,
        url: str,
        mode: str,
        context: ssl.SSLContext,
        limiter: trio.CapacityLimiter | None,
    ) -> None:
        async with contextlib.AsyncExitStack() as stack:
            async with limiter or contextlib.nullcontext():
                ws = await stack.enter_async_context(
                    rawsock.connect(url, ssl_context=context, http2=mode == "2",
                                    compression=None, proxy=None)
                )  # fmt: skip
            self.opened_at.append(time.perf_counter())
            if ws.http_version != mode:
                raise RuntimeError(f"asked for HTTP/{mode}, got HTTP/{ws.http_version}")
            self.sockets.append(ws)
            if len(self.sockets) == self.count:
                self.all_open.set()
            await self.release.wait()


@contextlib.asynccontextmanager
async def open_fleet(
    url: str,
    mode: str,
    contexts: Sequence[ssl.SSLContext],
    per_context: int,
    limiter: trio.CapacityLimiter | None = None,
) -> AsyncIterator[Fleet]:
    """``len(contexts) * per_context`` WebSockets, open; closed on leaving (bounded)."""
    fleet = Fleet(len(contexts) * per_context)
    async with trio.open_nursery() as nursery:
        try:
            with trio.fail_after(OPEN_LIMIT):
                for context in contexts:
                    for _ in range(per_context):
                        nursery.start_soon(fleet.hold, url, mode, context, limiter)
                await fleet.all_open.wait()
            yield fleet
        finally:
            fleet.release.set()
            nursery.cancel_scope.deadline = trio.current_time() + CLOSE_LIMIT


async def round_trip(ws: rawsock.WebSocket, message: bytes, count: int) -> None:
    for _ in range(count):
        await ws.send(message)
        reply = await ws.receive()
        if len(reply) != len(message):
            raise RuntimeError(f"echo of {len(message)} B came back as {len(reply)} B")


async def check_echo(ws: rawsock.WebSocket, message: bytes) -> None:
    await ws.send(message)
    if await ws.receive() != message:
        raise RuntimeError("the echo differs from the message sent")


async def on_all(
    sockets: Sequence[rawsock.WebSocket], job: Callable[[rawsock.WebSocket], Any]
) -> None:
    async with trio.open_nursery() as nursery:
        for ws in sockets:
            nursery.start_soon(job, ws)


def payload(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


@dataclass
class Certificates:
    cert: Path
    key: Path
    ca: Path


def client_context(ca: Path | str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(ca))
    return context


def make_certificates(directory: Path) -> Certificates:
    import trustme  # noqa: PLC0415 (only the runner needs it)

    ca = trustme.CA()
    issued = ca.issue_cert(HOST, "localhost")
    cert, key, ca_file = directory / "server.pem", directory / "server.key", directory / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    for extra in issued.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    return Certificates(cert, key, ca_file)


Sample = dict[str, float]


async def measure_open_and_round_trips(
    server: ServerProcess, url: str, mode: str, count: int, context: ssl.SSLContext, *,
    settings: Settings,
) -> Sample:  # fmt: skip
    """Open ``count`` WebSockets at once (timed), then the round trips at each size."""
    sample: Sample = {}
    start = time.perf_counter()
    async with open_fleet(url, mode, [context], count) as fleet:
        sample["open_ms"] = (max(fleet.opened_at) - start) * 1000
        per_socket = max(settings.min_per_socket, settings.round_trips // count)
        warm = max(2, per_socket // 10)
        for size, name in zip(SIZES, ("16", "1k"), strict=True):
            message = payload(size)
            with trio.fail_after(ROUND_TRIP_LIMIT):
                await on_all(fleet.sockets, partial(check_echo, message=message))
                await on_all(fleet.sockets, partial(round_trip, message=message, count=warm))
                server_before, client_before = server.cpu(), own_cpu()
                begun = time.perf_counter()
                await on_all(fleet.sockets, partial(round_trip, message=message, count=per_socket))
                elapsed = time.perf_counter() - begun
            ops = per_socket * count
            server_cpu, client_cpu = server.cpu() - server_before, own_cpu() - client_before
            sample[f"rt{name}"] = ops / elapsed
            sample[f"srv_cpu{name}"] = server_cpu / ops * 1e6
            sample[f"cli_cpu{name}"] = client_cpu / ops * 1e6
            sample[f"srv_share{name}"] = server_cpu / elapsed
            sample[f"cli_share{name}"] = client_cpu / elapsed
            sample[f"seconds{name}"] = elapsed
    server.check()
    return sample


async def memory_client(
    *, port: int, server_pid: int, mode: str, count: int, groups: int, settle: float, ca: str
) -> Sample:
    """The ``--memory-client`` mode (a fresh process): RSS growth, M open as M/N groups of N."""
    url = f"wss://{HOST}:{port}/"
    total = groups * count
    # the warm-up: WARM_TOTAL WebSockets in the same shape (groups of N, at most)
    per_group = min(count, WARM_TOTAL)
    warm = [client_context(ca) for _ in range(max(1, round(WARM_TOTAL / per_group)))]
    async with open_fleet(url, mode, warm, per_group) as fleet:
        with trio.fail_after(ROUND_TRIP_LIMIT):
            await on_all(fleet.sockets, partial(check_echo, message=PROBE))
    if mode == "2":  # one context per group: one HTTP/2 connection per group
        contexts = [client_context(ca) for _ in range(groups)]
    else:
        contexts = [client_context(ca)] * groups
    await trio.sleep(settle)
    sockets_before, rss_before = process_sockets(server_pid), process_rss(server_pid)
    own_before = own_rss()
    limiter = trio.CapacityLimiter(MEMORY_CONCURRENCY)
    async with open_fleet(url, mode, contexts, count, limiter) as fleet:
        with trio.fail_after(ROUND_TRIP_LIMIT):
            await on_all(fleet.sockets, partial(check_echo, message=PROBE))
        await trio.sleep(settle)
        sockets_after, rss_after = process_sockets(server_pid), process_rss(server_pid)
        own_after = own_rss()
    return {
        "srv_mem": (rss_after - rss_before) / total / KIB,
        "cli_mem": (own_after - own_before) / total / KIB,
        "srv_conns": float(sockets_after - sockets_before),
        "srv_rss_before": rss_before / KIB,
        "cli_rss_before": own_before / KIB,
        "total": float(total),
        "groups": float(groups),
    }


def memory_client_main(request: str) -> None:
    raise_file_limit()
    args = json.loads(request)
    sample = trio.run(partial(memory_client, **args))
    print(json.dumps(sample), flush=True)


async def measure_memory(
    certs: Certificates, mode: str, count: int, settings: Settings, log_dir: Path
) -> Sample:
    """Memory per WebSocket: a fresh server process, and a fresh client process."""
    server = ServerProcess(certs.cert, certs.key, log_dir / "server.log")
    try:
        request = {
            "port": server.port,
            "server_pid": server.pid,
            "mode": mode,
            "count": count,
            "groups": max(1, round(settings.memory_total / count)),
            "settle": settings.settle,
            "ca": str(certs.ca),
        }
        command = [sys.executable, __file__, "--memory-client", json.dumps(request)]
        with trio.fail_after(OPEN_LIMIT + CLOSE_LIMIT + ROUND_TRIP_LIMIT):
            done = await trio.run_process(
                command, capture_stdout=True, capture_stderr=True, check=False
            )
        if done.returncode != 0:
            tail = "\n".join(done.stderr.decode(errors="replace").splitlines()[-40:])
            raise RuntimeError(f"the memory client failed ({done.returncode}):\n{tail}")
        server.check()
    finally:
        server.stop()
    return dict(json.loads(done.stdout.decode().splitlines()[-1]))


#: N -> mode -> samples (the memory ones and the open-time and round-trip ones)
Samples = dict[int, dict[str, list[Sample]]]


def mode_order(index: int) -> tuple[str, ...]:
    return MODES if index % 2 == 0 else MODES[::-1]


async def run(settings: Settings, log_dir: Path) -> Samples:
    samples: Samples = {n: {mode: [] for mode in MODES} for n in settings.counts}
    certs = make_certificates(log_dir)
    with trio.fail_after(settings.time_limit):
        turn = 0
        for repeat in range(settings.memory_repeats):
            for count in settings.counts:
                for mode in mode_order(turn):
                    sample = await measure_memory(certs, mode, count, settings, log_dir)
                    samples[count][mode].append(sample)
                    log(
                        f"[memory {repeat + 1}/{settings.memory_repeats}] N={count:<4} "
                        f"{MODE_LABEL[mode]:<8} server {sample['srv_mem']:7.1f} KiB/ws, "
                        f"client {sample['cli_mem']:7.1f} KiB/ws, "
                        f"{sample['srv_conns']:.0f} connections for {sample['total']:.0f}"
                    )
                turn += 1
        server = ServerProcess(certs.cert, certs.key, log_dir / "server.log")
        try:
            url = f"wss://{HOST}:{server.port}/"
            contexts = {mode: client_context(certs.ca) for mode in MODES}
            for mode in MODES:  # warm-up: both paths of the server and of the client
                async with open_fleet(url, mode, [contexts[mode]], 2) as fleet:
                    await on_all(fleet.sockets, partial(round_trip, message=PROBE, count=20))
            for repeat in range(settings.repeats):
                for count in settings.counts:
                    for mode in mode_order(turn):
                        sample = await measure_open_and_round_trips(
                            server, url, mode, count, contexts[mode], settings=settings
                        )
                        samples[count][mode].append(sample)
                        log(
                            f"[{repeat + 1}/{settings.repeats}] N={count:<4} "
                            f"{MODE_LABEL[mode]:<8} open {sample['open_ms']:7.1f} ms, "
                            f"16 B {sample['rt16']:8,.0f}/s, 1 KiB {sample['rt1k']:8,.0f}/s, "
                            f"server CPU {sample['srv_cpu16']:5.1f} µs/rt"
                        )
                    turn += 1
        finally:
            server.stop()
    return samples


# -- the report -------------------------------------------------------------------------------


def values(samples: list[Sample], key: str) -> list[float]:
    return [sample[key] for sample in samples if key in sample]


def median_and_spread(numbers: list[float]) -> tuple[float | None, float | None]:
    if not numbers:
        return None, None
    mid = statistics.median(numbers)
    spread = (max(numbers) - min(numbers)) / 2 / abs(mid) if mid else None
    return mid, spread


def fmt(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "cores":
        return f"{value:.2f}"
    if unit == "" or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def markdown(report: dict[str, Any]) -> str:
    samples: Samples = report["samples"]
    settings: Settings = report["settings"]
    counts = settings.counts
    lines = [
        f"# WebSockets over HTTP/2 and over HTTP/1.1, {report['date']}",
        "",
        machine_line(report["machine"]) + f" {report['openssl']}." + report["source"],
        "",
        f"Command: `{report['command']}`: {settings.repeats} repeat(s) of the open times and "
        f"round trips, {settings.memory_repeats} of the memory, both modes interleaved, "
        f"medians; load average {report['load_before']} before, {report['load_after']} "
        f"after; {report['elapsed']:.0f} s.",
        "",
        'Server: `rawsock.serve(echo, "127.0.0.1", 0, ssl_context=ctx, http2=True, '
        "compression=None)` in its own process (trustme certificate; ALPN `h2` and "
        "`http/1.1`). Client: rawsock in the runner's process, `rawsock.connect(url, "
        "http2=True)` (all N WebSockets share one HTTP/2 connection: N <= 100, the server's "
        "stream limit) or `http2=False` (each WebSocket its own TCP + TLS connection, "
        "HTTP/1.1 upgrade), compression off. Loopback, not pinned to cores.",
        "",
        "## HTTP/2 / HTTP/1.1",
        "",
        "The median over HTTP/2 divided by the median over HTTP/1.1, for N WebSockets open "
        "at once. Speed: above 1 means HTTP/2 is faster; time, CPU and memory: below 1 "
        "means HTTP/2 takes less.",
        "",
        "| metric | " + " | ".join(f"N = {n}" for n in counts) + " |",
        "|---|" + "---:|" * len(counts),
    ]
    for metric in METRICS:
        if not metric.ratio:
            continue
        cells = []
        for n in counts:
            h1, _ = median_and_spread(values(samples[n]["1.1"], metric.key))
            h2, _ = median_and_spread(values(samples[n]["2"], metric.key))
            cells.append(f"{h2 / h1:.2f}" if h1 and h2 is not None else "-")
        better = "higher is better" if metric.higher_is_better else "lower is better"
        lines.append(f"| {metric.label} ({better}) | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Medians",
        "",
        "± is half the range over the repeats, relative to the median.",
        "",
        "| metric | unit | N | HTTP/1.1 | HTTP/2 | HTTP/2 / HTTP/1.1 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for metric in METRICS:
        for n in counts:
            cells = []
            mids = []
            for mode in MODES:
                mid, spread = median_and_spread(values(samples[n][mode], metric.key))
                mids.append(mid)
                cell = fmt(mid, metric.unit)
                if spread is not None and len(values(samples[n][mode], metric.key)) > 1:
                    cell += f" ±{spread * 100:.0f}%"
                cells.append(cell)
            h1, h2 = mids
            cells.append(f"{h2 / h1:.2f}" if h1 and h2 is not None else "-")
            lines.append(f"| {metric.label} | {metric.unit} | {n} | " + " | ".join(cells) + " |")
    per_socket = {n: max(settings.min_per_socket, settings.round_trips // n) for n in counts}
    groups = {n: max(1, round(settings.memory_total / n)) for n in counts}
    lines += [
        "",
        "## How",
        "",
        "- **time to open N**: N `rawsock.connect` started at once, one task each, until the "
        "last one's opening handshake completed (TLS handshake included: every repeat "
        "opens new connections).",
        "- **round trips**: on the same N WebSockets, each one sends a binary message and "
        "waits for its echo, in a loop, all N at once; "
        + ", ".join(f"{per_socket[n]} per WebSocket for N = {n}" for n in counts)
        + " (after an untimed warm-up of a tenth of that); total round trips / wall time.",
        "- **CPU per round trip**: user + system CPU time of the server process "
        "(`/proc/PID/stat`) and of the client process (`getrusage`) during the timed "
        "round trips, / round trips. **CPU share**: the same CPU time / wall time (1.00 = "
        "one core): a process near 1.00 is what limits the round trips (the client is "
        "rawsock too, and on a 2-core machine each process has about one core).",
        f"- **memory per WebSocket**: a fresh server process and a fresh client process "
        f"(this script with `--memory-client`) each time; after a warm-up "
        f"({WARM_TOTAL} WebSockets of the same mode, in groups of N at most, one 16 B echo "
        "each, closed), M WebSockets opened as "
        "M / N groups of N ("
        + ", ".join(f"{groups[n]} x {n}" for n in counts)
        + "), each doing one 16 B echo; after "
        f"{settings.settle} s, the growth of the server's RSS (`VmRSS`) / M, and of the "
        "client's RSS / M. Over HTTP/2 each group has its own client "
        "`ssl.SSLContext`, so that each group is one HTTP/2 connection; over HTTP/1.1 each "
        "WebSocket is its own connection for every N. **server TCP connections** is the "
        "growth of the server's socket descriptors then.",
    ]
    if report["errors"]:
        lines += ["", "## Errors", ""] + [f"- {error}" for error in report["errors"]]
    return "\n".join(lines) + "\n"


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for package in ("rawsock", "trio", "h2", "h11", "trustme"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def rawsock_source() -> str:
    """Where rawsock was imported from, when it is not this checkout (``PYTHONPATH``),
    and whether that copy is the commit's ``rawsock/`` (compared by git blob hashes)."""
    package = Path(rawsock.__file__).resolve().parent
    if package == BENCH.parent / "rawsock":
        return ""
    note = f" rawsock imported from `{package}`, not from this checkout"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        tree = subprocess.run(
            ["git", "ls-tree", "-r", "HEAD", "rawsock"],
            cwd=BENCH.parent, capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        committed = {}
        for line in tree.splitlines():
            meta, _, path = line.partition("\t")
            committed[path.removeprefix("rawsock/")] = meta.split()[2]
        files = sorted(
            str(path.relative_to(package))
            for path in package.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        )
        hashes = subprocess.run(
            ["git", "hash-object", "--", *files],
            cwd=package, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.split()  # fmt: skip
        if dict(zip(files, hashes, strict=True)) == committed:
            head = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=BENCH.parent, capture_output=True, text=True, check=True, timeout=30,
            ).stdout.strip()  # fmt: skip
            note += f": a copy of rawsock/ at {head}, as committed"
    return note + "."


def parse_counts(text: str) -> tuple[int, ...]:
    counts = tuple(int(part) for part in text.split(",") if part.strip())
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("give positive counts, like 1,10,100")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (< 30 s)")
    parser.add_argument("--write", action="store_true", help="write bench/results/http2.md")
    parser.add_argument("--counts", type=parse_counts, help="N values, e.g. 1,10,100")
    parser.add_argument("--repeats", type=int, help="repeats of open time and round trips")
    parser.add_argument("--memory-total", type=int, help="M, WebSockets open for memory")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cert", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--memory-client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever(args.cert, args.key)
        return 0
    if args.memory_client:
        memory_client_main(args.memory_client)
        return 0
    settings = QUICK if args.quick else FULL
    if args.counts:
        settings = replace(settings, counts=args.counts)
    if args.repeats:
        settings = replace(settings, repeats=args.repeats)
    if args.memory_total:
        settings = replace(settings, memory_total=args.memory_total)
    raise_file_limit()

    started = time.monotonic()
    load_before = load_average()
    errors: list[str] = []
    samples: Samples = {n: {mode: [] for mode in MODES} for n in settings.counts}
    with tempfile.TemporaryDirectory(prefix="rawsock-http2-bench-") as log_dir:
        try:
            samples = trio.run(run, settings, Path(log_dir))
        except Exception as error:  # reported, with its traceback, and the run fails
            traceback.print_exc()
            errors.append(f"{type(error).__name__}: {error}")
    machine = machine_info()
    machine["versions"] = package_versions()
    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": ("python bench/http2.py " + " ".join(sys.argv[1:])).strip(),
        "machine": machine,
        "openssl": ssl.OPENSSL_VERSION,
        "source": rawsock_source(),
        "settings": settings,
        "load_before": load_before,
        "load_after": load_average(),
        "elapsed": time.monotonic() - started,
        "samples": samples,
        "errors": errors,
    }
    text = markdown(report)
    print(text)
    if args.write and errors:
        log("not written: the run had errors")
    elif args.write:
        path = BENCH / "results" / "http2.md"
        path.write_text(text)
        log(f"wrote {path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
