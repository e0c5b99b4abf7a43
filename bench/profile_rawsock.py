"""Profile rawsock's echo server under the benchmark's load: cProfile and py-spy.

    python bench/profile_rawsock.py                 # every case, both profilers
    python bench/profile_rawsock.py --case rt16 --tool cprofile --duration 5

Cases: ``rt16`` (16 B round trips on one connection), ``rt16x50`` and ``rt1kx50`` (16 B
and 1 KiB round trips on 50 connections), ``tp1m`` (1 MiB messages on one connection) and
``hs50`` (handshakes, 50 at a time: connect, upgrade, closing handshake) on rawsock, and
``floor-rt16``, ``floor-rt16x50`` and ``floor-hs50``: the raw Trio TCP echo under the same
loads, to tell Trio's own cost from rawsock's. For each, a fresh server runs the echo
handler of ``bench/servers/``, the load client drives it, and:

- cProfile: the server switches the profiler on and off on signals (SIGUSR1, SIGUSR2),
  so start-up and imports stay out. There is no warm-up: apart from one handshake, one
  checked echo and the close, everything profiled is in the client's timed window, so
  the figures per operation are exact. Deterministic profiling inflates the cost of
  small calls, so its percentages overweight code that makes many calls; its call counts
  per operation are exact (a coroutine counts one call per resumption).
- py-spy (``pip install py-spy``): samples the unmodified server from outside,
  ``--nonblocking``, and the samples are folded into self and inclusive percentages per
  function. Idle samples (waiting in epoll) are left out: percentages are of busy time.

Both profilers measure wall time, so the server gets a core of its own (CPU 1; the load
client and py-spy run on CPU 0): sharing one core, as the benchmark's one-connection
metrics do, would charge the client's run time to whichever server call was running when
the scheduler switched (the socket ``send`` that wakes the client). cProfile's idle time
(the epoll wait) is left out of its percentages too. Reports go to
``bench/results/profile/`` (``--keep-raw`` keeps the cProfile dumps and py-spy samples
beside them).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "servers"))

from run import START_TIMEOUT, read_line, set_affinity  # noqa: E402

RT16 = {"measure": "roundtrips", "size": 16, "conns": 1}
RT16X50 = {"measure": "roundtrips", "size": 16, "conns": 50}
RT1KX50 = {"measure": "roundtrips", "size": 1024, "conns": 50}
TP1M = {"measure": "throughput", "size": 1024 * 1024, "min_ops": 2}
HS50 = {"measure": "handshakes", "conns": 50}
#: case -> (server: "rawsock" or "floor", what the load client does)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "rt16": ("rawsock", RT16),
    "rt16x50": ("rawsock", RT16X50),
    "rt1kx50": ("rawsock", RT1KX50),
    "tp1m": ("rawsock", TP1M),
    "hs50": ("rawsock", HS50),
    "floor-rt16": ("floor", RT16),
    "floor-rt16x50": ("floor", RT16X50),
    "floor-hs50": ("floor", HS50),
}
#: What one operation of a case is, in the reports.
UNITS = {
    id(RT16): "round trip",
    id(RT16X50): "round trip",
    id(RT1KX50): "round trip",
    id(TP1M): "message",
    id(HS50): "handshake",
}
SCRIPTS = {"rawsock": "echo_rawsock.py", "floor": "echo_trio_tcp.py"}
SERVER_CPU = 1
LOAD_CPU = 0
TOP = 25
EPOLL_WAIT = "<method 'poll' of 'select.epoll' objects>"
#: py-spy cannot see that a thread waits in epoll: a sample whose innermost Python frame
#: is trio's get_events is waiting there (the function does nothing else worth a sample).
PYSPY_WAIT = "EpollIOManager.get_events (trio/_core/_io_epoll.py)"


def area(where: str) -> str:
    """Which part of the stack a function belongs to, for the summary by area."""
    if "rawsock/sansio/" in where:
        return "rawsock core (rawsock/sansio)"
    if "rawsock/" in where:
        return "rawsock Trio layer (rawsock/_*.py)"
    if "_socket.socket" in where:
        return "socket send/recv (syscalls)"
    if "from_bytes" in where or "to_bytes" in where:
        return "int.from_bytes/to_bytes (masking)"
    if "trio/" in where or "outcome" in where:
        return "Trio (and outcome)"
    if "bench/servers" in where or "echo_" in where:
        return "echo handler"
    return "other (stdlib, builtins)"


def by_area(weights: dict[str, float], total: float) -> str:
    sums: collections.Counter[str] = collections.Counter()
    for where, weight in weights.items():
        sums[area(where)] += weight
    lines = ["by area (self time):"]
    for name, weight in sums.most_common():
        lines.append(f"{weight / total * 100:6.1f}%  {name}")
    return "\n".join(lines) + "\n\n"


# -- the server under cProfile (child process) ----------------------------------------------


def serve_profiled(server: str, output: str) -> None:
    """Run an echo server; profile between SIGUSR1 and SIGUSR2, then dump and exit."""
    import cProfile  # noqa: PLC0415 (only the child needs these)

    import _common  # noqa: PLC0415
    import echo_rawsock  # noqa: PLC0415
    import echo_trio_tcp  # noqa: PLC0415
    import trio  # noqa: PLC0415

    import rawsock  # noqa: PLC0415

    _common.raise_file_limit()
    profiler = cProfile.Profile()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            with trio.open_signal_receiver(signal.SIGUSR1, signal.SIGUSR2) as signals:
                if server == "rawsock":
                    serving = partial(
                        rawsock.serve,
                        echo_rawsock.echo,
                        "127.0.0.1",
                        0,
                        max_message_size=_common.MAX_MESSAGE_SIZE,
                    )
                    port = (await nursery.start(serving)).port
                else:
                    serving = partial(trio.serve_tcp, echo_trio_tcp.echo, 0, host="127.0.0.1")
                    port = (await nursery.start(serving))[0].socket.getsockname()[1]
                _common.ready(port)
                async for signum in signals:
                    if signum == signal.SIGUSR1:
                        profiler.enable()
                    else:
                        profiler.disable()
                        profiler.dump_stats(output)
                        nursery.cancel_scope.cancel()
                        return

    trio.run(main)


# -- the driver ----------------------------------------------------------------------------


def start_server(command: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    line = read_line(process.stdout.fileno(), START_TIMEOUT, bytearray())
    if line is None or not line.startswith(b"READY "):
        process.kill()
        process.wait(5)
        raise RuntimeError(f"the server did not start: {command}")
    if (os.cpu_count() or 1) > 1:
        set_affinity(process.pid, {SERVER_CPU})
    return process, int(line.split()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if process.stdout is not None:
        process.stdout.close()


def load(case: str, port: int, pid: int, duration: float, warmup: float) -> dict[str, Any]:
    """Drive the server with the load client (in its own process, on LOAD_CPU)."""
    server, measurement = CASES[case]
    request = {
        "host": "127.0.0.1",
        "port": port,
        "kind": "ws" if server == "rawsock" else "tcp",
        "pid": pid,
        "warmup": warmup,
        "duration": duration,
        **measurement,
    }
    command = [sys.executable, str(BENCH / "client.py"), "--worker"]
    if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
        command = ["taskset", "-c", str(LOAD_CPU), *command]
    done = subprocess.run(
        command,
        input=json.dumps(request).encode() + b"\n",
        capture_output=True,
        timeout=duration + 120,
        check=True,
    )
    reply = json.loads(done.stdout)
    if not reply["ok"]:
        raise RuntimeError(reply["error"])
    return dict(reply["result"])


def describe(case: str, result: dict[str, Any]) -> str:
    unit = UNITS[id(CASES[case][1])]
    rate = f"{result['rate']:.0f} MB/s" if unit == "message" else f"{result['rate']:.0f} {unit}s/s"
    per_op = result["server_cpu"] / result["ops"] * 1e6 if result["ops"] else 0.0
    return (
        f"{result['ops']} ops in {result['seconds']:.1f} s, {rate}, server CPU "
        f"{per_op:.1f} µs per {unit}"
    )


def short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def run_cprofile(case: str, duration: float, raw_dir: Path) -> str:
    stats_path = raw_dir / f"{case}.cprofile"
    server = CASES[case][0]
    process, port = start_server(
        [sys.executable, __file__, "--child-cprofile", server, str(stats_path)]
    )
    try:
        os.kill(process.pid, signal.SIGUSR1)
        result = load(case, port, process.pid, duration, warmup=0.0)
        os.kill(process.pid, signal.SIGUSR2)
        process.wait(30)
    finally:
        stop(process)
    stats = pstats.Stats(str(stats_path))
    table: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    table = stats.stats  # type: ignore[attr-defined]
    idle = sum(entry[2] for key, entry in table.items() if key[2] == EPOLL_WAIT)
    busy = stats.total_tt - idle  # type: ignore[attr-defined]
    ops = max(result["ops"], 1)
    unit = UNITS[id(CASES[case][1])]
    out = io.StringIO()
    out.write(f"cProfile, {case} (under the profiler): {describe(case, result)}\n")
    out.write(f"profiled: {busy:.2f} s busy, {idle:.2f} s waiting in epoll (left out)\n")
    out.write(f"% of busy time; calls and µs per {unit}; the cumulative figures of the")
    out.write(" run loop (run, unrolled_run, get_events) include the epoll wait\n\n")
    out.write(
        by_area(
            {
                f"{key[0]}({key[2]})": entry[2]
                for key, entry in table.items()
                if key[2] != EPOLL_WAIT
            },
            busy,
        )
    )
    rows = [
        (entry[2], entry[3], entry[1], f"{short(key[0])}:{key[1]}({key[2]})")
        for key, entry in table.items()
        if key[2] != EPOLL_WAIT
    ]
    header = f"{'self %':>7} {'cum %':>6} {'calls':>6} {'self µs':>8} {'cum µs':>8}  function\n"
    for title, sort_key in (("by self time", 0), ("by cumulative time", 1)):
        out.write(f"{title}:\n{header}")
        rows.sort(key=lambda row: row[sort_key], reverse=True)
        for tottime, cumtime, calls, where in rows[:TOP]:
            out.write(
                f"{tottime / busy * 100:6.1f}% {min(cumtime / busy, 1) * 100:5.1f}% "
                f"{calls / ops:6.1f} {tottime / ops * 1e6:8.2f} {cumtime / ops * 1e6:8.2f}"
                f"  {where}\n"
            )
        out.write("\n")
    return out.getvalue()


def frame_name(frame: str) -> str:
    """``function (path)`` from one frame of py-spy's raw format."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({short(path)})"


def run_pyspy(case: str, duration: float, raw_dir: Path) -> str:
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        return f"py-spy, {case}: not installed (pip install py-spy)\n"
    raw = raw_dir / f"{case}.pyspy.txt"
    script = BENCH / "servers" / SCRIPTS[CASES[case][0]]
    process, port = start_server([sys.executable, str(script), "--port", "0"])
    try:
        command = [
            py_spy, "record", "--pid", str(process.pid), "--rate", "500", "--nonblocking",
            "--format", "raw", "--output", str(raw), "--duration", str(int(duration + 2)),
        ]  # fmt: skip
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if (os.cpu_count() or 1) > 1:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(spy.pid, {LOAD_CPU})
        time.sleep(0.5)
        result = load(case, port, process.pid, duration, warmup=0.5)
        _, errors = spy.communicate(timeout=duration + 60)
        if spy.returncode != 0 or not raw.exists():
            return f"py-spy, {case}: failed: {errors.decode(errors='replace')[-500:]}\n"
    finally:
        stop(process)
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    samples = waiting = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [frame_name(frame) for frame in stack.split(";")]
        weight = int(count)
        if frames[-1] == PYSPY_WAIT:
            waiting += weight
            continue
        samples += weight
        self_time[frames[-1]] += weight
        for frame in set(frames):
            inclusive[frame] += weight
    samples = max(samples, 1)
    out = io.StringIO()
    out.write(f"py-spy, {case}: {describe(case, result)}\n")
    out.write(f"{samples} busy samples at 500 Hz, {waiting} waiting in epoll (left out)\n\n")
    out.write(by_area(dict(self_time), samples))
    out.write(f"{'self %':>7}  function\n")
    for frame, count in self_time.most_common(TOP):
        out.write(f"{count / samples * 100:6.1f}%  {frame}\n")
    out.write(f"\n{'incl. %':>7}  function (coroutine stacks may come out truncated)\n")
    for frame, count in inclusive.most_common(TOP + 15):
        out.write(f"{count / samples * 100:6.1f}%  {frame}\n")
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--tool", choices=["cprofile", "pyspy", "all"], default="all")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results" / "profile")
    parser.add_argument("--keep-raw", action="store_true", help="keep the raw profiles")
    parser.add_argument("--child-cprofile", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_cprofile:
        serve_profiled(*args.child_cprofile)
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    cases = list(CASES) if args.case == "all" else [args.case]
    with tempfile.TemporaryDirectory(prefix="rawsock-profile-") as scratch:
        raw_dir = args.out_dir if args.keep_raw else Path(scratch)
        for case in cases:
            for tool in ("cprofile", "pyspy"):
                if args.tool not in (tool, "all"):
                    continue
                runner = run_cprofile if tool == "cprofile" else run_pyspy
                report = runner(case, args.duration, raw_dir)
                (args.out_dir / f"{case}.{tool}.report.txt").write_text(report)
                print(report, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
