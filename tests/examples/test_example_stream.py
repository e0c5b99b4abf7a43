"""Tests of ``examples/stream``: the commands as real processes, the receiver in memory.

What the commands of examples/stream/README.md do runs as processes: the receiver as
``python -m examples.stream receive ...`` and the sender as ``python -m examples.stream
send ...`` (the 256 MiB transfer in bounded memory, a refused name, resuming, a takeover,
no receiver). What only a misbehaving sender does (corrupted data, bad file names,
malformed messages, a connection cut mid-file) runs the receiver's handler,
``Receiver.handle``, in this process over ``rawsock.testing.connect``, with the server
options ``receive`` serves it with and a directory of its own, no socket. The misbehaving
senders, in memory or (to drop or stall a transfer the real sender then resumes) against
a receiver process, speak the wire protocol themselves, writing the JSON messages
literally as the README documents them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from example_support import ROOT, Program, free_port, start_example, wait_for_port

import rawsock
import rawsock.testing
from examples.stream.protocol import CONNECTION_OPTIONS
from examples.stream.receiver import Receiver

MIB = 1024 * 1024
#: The big transfer, and how much either process may grow while it runs.
BIG_FILE_SIZE = 256 * MIB
MAX_RSS_GROWTH_KIB = 50_000_000 // 1024  # 50 MB
#: Fragment size used by the hand-written senders (the receiver accepts up to 1 MiB).
FRAGMENT = 256 * 1024
#: Bound for each async test and each started sender.
TEST_TIMEOUT = 30.0
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: A header the receiver accepts, in the malformed-message cases.
A_HEADER = json.dumps({"type": "header", "name": "a.bin", "size": 10})
A_START = json.dumps({"type": "start", "offset": 0})


@dataclass
class RunningReceiver:
    """A receiver process listening on loopback, storing into ``directory``."""

    url: str
    directory: Path
    program: Program


@pytest.fixture
def receiver(programs: list[Program], tmp_path: Path) -> RunningReceiver:
    """``python -m examples.stream receive --port PORT --dir DIR --no-progress``."""
    port = free_port()
    directory = tmp_path / "received"
    program = start_example(
        "examples.stream", "receive", "--port", str(port), "--dir", str(directory),
        "--no-progress",
    )
    programs.append(program)
    wait_for_port(port, program)
    return RunningReceiver(f"ws://127.0.0.1:{port}/", directory, program)


def write_random_file(path: Path, size: int) -> str:
    """Fill ``path`` with ``size`` random bytes (1 MiB at a time); returns their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for _ in range(-(-size // MIB)):
            block = os.urandom(min(MIB, size - file.tell()))
            digest.update(block)
            file.write(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for _ in range(-(-path.stat().st_size // MIB)):
            digest.update(file.read(MIB))
    return digest.hexdigest()


# --- memory measurement --------------------------------------------------------------


def read_memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of ``pid`` in KiB, from ``/proc/PID/status``.

    Empty once the process has exited (a zombie's status has no memory lines).
    """
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


class RssSampler:
    """Reads the memory of some processes every 20 ms in a thread, keeping the peaks.

    ``peak_kib(pid)`` is the highest of the ``VmRSS`` samples and the last ``VmHWM``
    read (the kernel's own high-water mark of the process, which also covers the moments
    between samples; it is updated lazily, so a sample can exceed it by a few pages).
    """

    def __init__(self, pids: list[int], interval: float = 0.02, limit: float = 120.0) -> None:
        self.max_rss_kib = dict.fromkeys(pids, 0)
        self.last_hwm_kib = dict.fromkeys(pids, 0)
        self.samples = dict.fromkeys(pids, 0)
        self._interval = interval
        self._limit = limit
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join()

    def peak_kib(self, pid: int) -> int:
        """The peak RSS of ``pid`` seen while sampling, in KiB."""
        return max(self.max_rss_kib[pid], self.last_hwm_kib[pid])

    def _run(self) -> None:
        deadline = time.monotonic() + self._limit
        while time.monotonic() < deadline:
            for pid in self.max_rss_kib:
                memory = read_memory_kib(pid)
                if "VmRSS" in memory:
                    self.max_rss_kib[pid] = max(self.max_rss_kib[pid], memory["VmRSS"])
                    self.last_hwm_kib[pid] = memory["VmHWM"]
                    self.samples[pid] += 1
            if self._stopped.wait(self._interval):
                return


def run_sampled(program: Program) -> None:
    """Wait for ``program``, which a running ``RssSampler`` watches, to exit."""
    try:
        program.process.wait(TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"the sender did not finish:\n{program.output()}") from None


def send_command(path: Path, url: str, *options: str) -> Program:
    """``python -m examples.stream send PATH URL``, started."""
    return start_example("examples.stream", "send", str(path), url, *options)


def test_256_mib_between_two_processes_in_bounded_memory(
    programs: list[Program], tmp_path: Path
) -> None:
    original = tmp_path / "big.bin"
    original_sha256 = write_random_file(original, BIG_FILE_SIZE)
    warm_up = tmp_path / "small.bin"
    write_random_file(warm_up, MIB)
    port = free_port()
    directory = tmp_path / "received"
    receiver = start_example(
        "examples.stream", "receive", "--port", str(port), "--dir", str(directory)
    )
    programs.append(receiver)
    wait_for_port(port, receiver)
    url = f"ws://127.0.0.1:{port}/"
    # Receiver baseline: its RSS once it listens, before any connection.
    receiver_baseline_kib = read_memory_kib(receiver.process.pid)["VmRSS"]

    # Sender baseline: a sender has no idle moment before its transfer to sample, so
    # its baseline is the peak of the same command sending a 1 MiB file: interpreter,
    # imports, connection, the same code path, everything but the size. What the
    # 256 MiB run needs beyond that is what the file size costs. (Peaks come from /proc:
    # wait4's ru_maxrss would count the test process itself, which the child was forked
    # from before it ran the sender.)
    warm_up_sender = send_command(warm_up, url)
    programs.append(warm_up_sender)
    with RssSampler([warm_up_sender.process.pid]) as warm_up_sampler:
        run_sampled(warm_up_sender)
    assert warm_up_sender.process.returncode == 0, warm_up_sender.output()
    sender_baseline_kib = warm_up_sampler.peak_kib(warm_up_sender.process.pid)

    started = time.monotonic()
    sender = send_command(original, url)
    programs.append(sender)
    with RssSampler([receiver.process.pid, sender.process.pid]) as sampler:
        run_sampled(sender)
    elapsed = time.monotonic() - started
    # The receiver lives on: its VmHWM now covers the whole transfer.
    receiver_peak_kib = max(
        read_memory_kib(receiver.process.pid)["VmHWM"], sampler.peak_kib(receiver.process.pid)
    )
    sender_peak_kib = sampler.peak_kib(sender.process.pid)

    assert sender.process.returncode == 0, sender.output()
    received = directory / "big.bin"
    assert received.stat().st_size == BIG_FILE_SIZE
    assert file_sha256(received) == original_sha256
    assert original_sha256 in sender.output()
    assert not (directory / "big.bin.part").exists()

    receiver_growth_kib = receiver_peak_kib - receiver_baseline_kib
    sender_growth_kib = sender_peak_kib - sender_baseline_kib
    print(
        f"\nstream example, {BIG_FILE_SIZE // MIB} MiB over loopback:"
        f"\n  sender process {elapsed:.2f} s from start to exit, "
        f"{BIG_FILE_SIZE / elapsed / 1e6:.0f} MB/s; it reports: "
        f"{sender.output().strip().splitlines()[-1]}"
        f"\n  receiver RSS: baseline {receiver_baseline_kib / 1024:.1f} MiB (listening), "
        f"peak {receiver_peak_kib / 1024:.1f} MiB, growth {receiver_growth_kib / 1024:.1f} "
        f"MiB ({sampler.samples[receiver.process.pid]} samples)"
        f"\n  sender RSS: baseline {sender_baseline_kib / 1024:.1f} MiB (peak of a 1 MiB "
        f"send), peak {sender_peak_kib / 1024:.1f} MiB, growth "
        f"{sender_growth_kib / 1024:.1f} MiB ({sampler.samples[sender.process.pid]} samples)"
    )
    assert sampler.samples[sender.process.pid] > 10  # the sender was watched throughout
    assert receiver_growth_kib < MAX_RSS_GROWTH_KIB
    assert sender_growth_kib < MAX_RSS_GROWTH_KIB


# --- hand-written senders, for what the real one never does --------------------------


def text(**fields: object) -> str:
    """One JSON control message."""
    return json.dumps(fields)


def fragments(data: bytes) -> list[bytes]:
    """``data`` cut into fragments for ``send_stream``."""
    return [data[start : start + FRAGMENT] for start in range(0, len(data), FRAGMENT)]


async def begin(ws: rawsock.WebSocket, name: str, size: int) -> dict[str, object]:
    """Send a header; returns the receiver's answer, which must be an offset."""
    await ws.send(text(type="header", name=name, size=size))
    offer: dict[str, object] = json.loads(await ws.receive())
    assert offer["type"] == "offset", offer
    return offer


async def expect_refusal(ws: rawsock.WebSocket) -> str:
    """The receiver's error message, which must be followed by a 1008 close."""
    reply = json.loads(await ws.receive())
    assert reply["type"] == "error", reply
    with pytest.raises(rawsock.ConnectionClosed) as closed:
        await ws.receive()
    assert closed.value.code == rawsock.CloseCode.POLICY_VIOLATION
    message: str = reply["message"]
    return message


# --- the receiver's handler in memory, for what the real sender never does -----------


@pytest.fixture
def receiver_in_memory(tmp_path: Path) -> Receiver:
    """The handler ``receive`` serves, storing into a directory of its own."""
    directory = tmp_path / "received"
    directory.mkdir()
    return Receiver(directory, max_size=None, show_progress=False)


def connect_to(receiver: Receiver) -> contextlib.AbstractAsyncContextManager[rawsock.WebSocket]:
    """A connection to ``receiver.handle``, in memory, served as ``receive`` serves it."""
    return rawsock.testing.connect(receiver.handle, **CONNECTION_OPTIONS)


async def send_whole(ws: rawsock.WebSocket, name: str, data: bytes) -> None:
    """A complete transfer from the start; the receiver must confirm it."""
    offer = await begin(ws, name, len(data))
    assert offer == {"type": "offset", "offset": 0, "sha256": EMPTY_SHA256}
    await ws.send(text(type="start", offset=0))
    await ws.send_stream(fragments(data))
    sha256 = hashlib.sha256(data).hexdigest()
    await ws.send(text(type="trailer", sha256=sha256))
    assert json.loads(await ws.receive()) == {"type": "done", "size": len(data), "sha256": sha256}


async def assert_still_receives(receiver: Receiver) -> None:
    """The receiver takes a normal file on a new connection after the failure."""
    data = os.urandom(100_000)
    with trio.fail_after(TEST_TIMEOUT):
        async with connect_to(receiver) as ws:
            await send_whole(ws, "after.bin", data)
    assert (receiver.directory / "after.bin").read_bytes() == data


async def test_corrupted_data_is_rejected_and_deleted(receiver_in_memory: Receiver) -> None:
    data = os.urandom(3 * MIB)
    corrupted = bytearray(data)
    corrupted[MIB] ^= 0x01  # one bit flipped in transit
    with trio.fail_after(TEST_TIMEOUT):
        async with connect_to(receiver_in_memory) as ws:
            offer = await begin(ws, "data.bin", len(data))
            assert offer == {"type": "offset", "offset": 0, "sha256": EMPTY_SHA256}
            await ws.send(text(type="start", offset=0))
            await ws.send_stream(fragments(bytes(corrupted)))
            await ws.send(text(type="trailer", sha256=hashlib.sha256(data).hexdigest()))
            assert "SHA-256 mismatch" in await expect_refusal(ws)
    assert not (receiver_in_memory.directory / "data.bin").exists()
    assert not (receiver_in_memory.directory / "data.bin.part").exists()
    await assert_still_receives(receiver_in_memory)


@pytest.mark.parametrize(
    "name",
    ["../escape.bin", "sub/escape.bin", "/tmp/escape.bin", "..", ".", "", "a\\b",
     "nul\x00.bin", "x" * 300, "big.bin.part"],
)
async def test_bad_file_names_are_rejected(
    receiver_in_memory: Receiver, tmp_path: Path, name: str
) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect_to(receiver_in_memory) as ws:
            await ws.send(text(type="header", name=name, size=10))
            assert "name" in await expect_refusal(ws)
    assert not (tmp_path / "escape.bin").exists()
    assert list(receiver_in_memory.directory.iterdir()) == []


@pytest.mark.parametrize(
    ("messages", "explanation"),
    [
        (["not json"], "not valid JSON"),
        ([b"\x00binary"], "expected a JSON text message"),
        (['["header"]'], "expected a JSON object"),
        ([text(type="launch")], "unknown message type"),
        ([text(type="header", name="a.bin")], "fields"),
        ([text(type="header", name="a.bin", size=-1)], "out of range"),
        ([text(type="header", name="a.bin", size=True)], "must be a number"),
        ([text(type="header", name=7, size=1)], "must be a string"),
        ([text(type="trailer", sha256=EMPTY_SHA256)], "expected a header message"),
        ([A_HEADER, text(type="start", offset=5)], "start.offset"),
        ([A_HEADER, A_START, text(type="trailer", sha256=EMPTY_SHA256)], "got text"),
        ([A_HEADER, A_START, b"0123456789abcdef"], "longer than"),
        ([A_HEADER, A_START, b"01234"], "ended after 5 of 10"),
        ([A_HEADER, A_START, b"0123456789", A_START], "expected a trailer"),
        ([A_HEADER, A_START, b"0123456789", text(type="trailer", sha256="00")], "hex digits"),
    ],
)
async def test_malformed_messages_get_a_clear_error(
    receiver_in_memory: Receiver, messages: list[str | bytes], explanation: str
) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with connect_to(receiver_in_memory) as ws:
            for message in messages:
                await ws.send(message)
                if message == A_HEADER:
                    offer = json.loads(await ws.receive())
                    assert offer == {"type": "offset", "offset": 0, "sha256": EMPTY_SHA256}
            assert explanation in await expect_refusal(ws)
    assert not (receiver_in_memory.directory / "a.bin").exists()
    await assert_still_receives(receiver_in_memory)


async def test_a_cut_connection_keeps_what_arrived_for_the_next_one(
    receiver_in_memory: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="examples.stream.receiver")
    data = os.urandom(4 * MIB)
    prefix = data[: 3 * MIB]
    part = receiver_in_memory.directory / "cut.bin.part"

    async def prefix_then_cut(transport: rawsock.testing.Transport) -> AsyncIterator[bytes]:
        for fragment in fragments(prefix):
            yield fragment
        for _ in range(int(TEST_TIMEOUT / 0.01)):  # until the prefix is all on disk
            if part.exists() and part.stat().st_size == len(prefix):
                break
            await trio.sleep(0.01)
        transport.cut()  # a connection reset, between two fragments of the data message
        yield data[len(prefix) :]

    with trio.fail_after(TEST_TIMEOUT):
        async with connect_to(receiver_in_memory) as ws:
            await begin(ws, "cut.bin", len(data))
            await ws.send(text(type="start", offset=0))
            with pytest.raises(rawsock.ConnectionClosed) as closed:
                await ws.send_stream(prefix_then_cut(rawsock.testing.transport_of(ws)))
            assert closed.value.code == rawsock.CloseCode.ABNORMAL_CLOSURE
    # the handler saw the connection lost (1006), not closed, and kept the .part file
    assert f"connection lost (close code 1006); cut.bin.part keeps {3 * MIB} bytes" in caplog.text
    assert part.read_bytes() == prefix
    assert not (receiver_in_memory.directory / "cut.bin").exists()

    with trio.fail_after(TEST_TIMEOUT):  # the next connection resumes after the prefix
        async with connect_to(receiver_in_memory) as ws:
            offer = await begin(ws, "cut.bin", len(data))
            sha256_of_prefix = hashlib.sha256(prefix).hexdigest()
            assert offer == {"type": "offset", "offset": len(prefix), "sha256": sha256_of_prefix}
            await ws.send(text(type="start", offset=len(prefix)))
            await ws.send_stream(fragments(data[len(prefix) :]))
            sha256 = hashlib.sha256(data).hexdigest()
            await ws.send(text(type="trailer", sha256=sha256))
            done = json.loads(await ws.receive())
            assert done == {"type": "done", "size": len(data), "sha256": sha256}
    assert (receiver_in_memory.directory / "cut.bin").read_bytes() == data
    assert not part.exists()


# --- the real sender, or a receiver process ------------------------------------------


async def run_sender(*args: str) -> subprocess.CompletedProcess[bytes]:
    """The real sender, to completion: ``python -m examples.stream send ARGS``."""
    with trio.fail_after(TEST_TIMEOUT):
        return await trio.run_process(
            [sys.executable, "-m", "examples.stream", "send", *args, "--no-progress"],
            cwd=ROOT, capture_stdout=True, capture_stderr=True, check=False,
        )


async def wait_for_log(program: Program, fragment: str) -> None:
    """Wait until ``program`` printed ``fragment``."""
    for _ in range(int(TEST_TIMEOUT / 0.02)):
        if fragment in program.output():
            return
        await trio.sleep(0.02)
    raise TimeoutError(f"{fragment!r} never printed:\n{program.output()}")


async def assert_still_serving(receiver: RunningReceiver, tmp_path: Path) -> None:
    """The receiver survived: it is running and takes a normal file."""
    assert receiver.program.process.poll() is None, receiver.program.output()
    path = tmp_path / "after.bin"
    sha256 = write_random_file(path, 100_000)
    result = await run_sender(str(path), receiver.url)
    assert result.returncode == 0, result.stderr.decode()
    assert file_sha256(receiver.directory / "after.bin") == sha256


async def test_sender_reports_a_refused_name(receiver: RunningReceiver, tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    write_random_file(path, 1000)
    result = await run_sender(str(path), receiver.url, "--name", "../file.bin")
    assert result.returncode == 1
    assert "refused" in result.stderr.decode() and "path separator" in result.stderr.decode()
    assert not (tmp_path / "file.bin.part").exists()
    await assert_still_serving(receiver, tmp_path)

# --- resuming ------------------------------------------------------------------------


class _Dropped(Exception):
    """Raised inside a hand-written sender to cut its connection mid-message."""


async def send_then_drop(url: str, name: str, size: int, prefix: bytes) -> None:
    """Start sending a ``size``-byte file but drop the connection after ``prefix``."""

    async def prefix_then_failure() -> AsyncIterator[bytes]:
        for fragment in fragments(prefix):
            yield fragment
        raise _Dropped

    async with rawsock.connect(url) as ws:
        await begin(ws, name, size)
        await ws.send(text(type="start", offset=0))
        with pytest.raises(_Dropped):
            await ws.send_stream(prefix_then_failure())


async def test_resume_after_a_dropped_connection(
    receiver: RunningReceiver, tmp_path: Path
) -> None:
    path = tmp_path / "resume.bin"
    sha256 = write_random_file(path, 8 * MIB)
    prefix = path.read_bytes()[: 3 * MIB]
    with trio.fail_after(TEST_TIMEOUT):
        await send_then_drop(receiver.url, "resume.bin", 8 * MIB, prefix)
        await wait_for_log(receiver.program, "resume.bin.part keeps")
    part = receiver.directory / "resume.bin.part"
    assert part.read_bytes() == prefix  # everything sent before the drop was kept

    result = await run_sender(str(path), receiver.url)
    assert result.returncode == 0, result.stderr.decode()
    assert f"resuming resume.bin at byte {3 * MIB} of {8 * MIB}" in result.stderr.decode()
    assert file_sha256(receiver.directory / "resume.bin") == sha256
    assert sha256 in result.stdout.decode()  # the final hash covers the skipped prefix too
    assert not part.exists()
    # the summary counts the 5 MiB this run sent, and its rate is theirs, not the file's
    summary = re.fullmatch(
        r"sent resume\.bin: (\d+) bytes in ([\d.]+) s \(([\d.]+) MB/s\), "
        rf"resumed at byte {3 * MIB}: {8 * MIB} bytes in all, sha256 {sha256}\n",
        result.stdout.decode(),
    )
    assert summary is not None, result.stdout.decode()
    sent, elapsed, rate = int(summary[1]), float(summary[2]), float(summary[3])
    assert sent == 5 * MIB
    if elapsed >= 0.01:  # printed to 0.01 s and 0.1 MB/s
        slowest, fastest = sent / (elapsed + 0.005) / 1e6, sent / (elapsed - 0.005) / 1e6
        assert slowest - 0.05 <= rate <= fastest + 0.05, (rate, elapsed)


async def test_a_partial_file_with_other_bytes_is_not_resumed(
    receiver: RunningReceiver, tmp_path: Path
) -> None:
    path = tmp_path / "changed.bin"
    sha256 = write_random_file(path, 4 * MIB)
    with trio.fail_after(TEST_TIMEOUT):
        await send_then_drop(receiver.url, "changed.bin", 4 * MIB, os.urandom(MIB))
        await wait_for_log(receiver.program, "changed.bin.part keeps")
    result = await run_sender(str(path), receiver.url)
    assert result.returncode == 0, result.stderr.decode()
    assert "differ from this file: starting over" in result.stderr.decode()
    assert file_sha256(receiver.directory / "changed.bin") == sha256


async def test_a_new_connection_takes_over_a_stalled_one(
    receiver: RunningReceiver, tmp_path: Path
) -> None:
    path = tmp_path / "stalled.bin"
    sha256 = write_random_file(path, 4 * MIB)
    prefix = path.read_bytes()[:MIB]
    release = trio.Event()
    outcome: list[rawsock.ConnectionClosed] = []

    async def stalled_sender() -> None:
        """Sends 1 MiB, then hangs (a sender whose network went away) until released."""

        async def prefix_then_stall() -> AsyncIterator[bytes]:
            for fragment in fragments(prefix):
                yield fragment
            await release.wait()
            yield b"late"

        async with rawsock.connect(receiver.url) as ws:
            await begin(ws, "stalled.bin", 4 * MIB)
            await ws.send(text(type="start", offset=0))
            try:
                await ws.send_stream(prefix_then_stall())
            except rawsock.ConnectionClosed as closed:
                outcome.append(closed)

    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stalled_sender)
            await wait_for_log(receiver.program, "receiving stalled.bin")
            part = receiver.directory / "stalled.bin.part"
            for _ in range(int(TEST_TIMEOUT / 0.02)):  # until the 1 MiB is on disk
                if part.exists() and part.stat().st_size == MIB:
                    break
                await trio.sleep(0.02)
            result = await run_sender(str(path), receiver.url)
            release.set()
    assert result.returncode == 0, result.stderr.decode()
    assert f"resuming stalled.bin at byte {MIB}" in result.stderr.decode()
    assert file_sha256(receiver.directory / "stalled.bin") == sha256
    assert len(outcome) == 1 and outcome[0].code == rawsock.CloseCode.POLICY_VIOLATION
    assert "took this file over" in outcome[0].reason


def test_sender_fails_when_no_receiver_listens(tmp_path: Path) -> None:
    path = tmp_path / "lonely.bin"
    write_random_file(path, 10)
    port = free_port()
    sender = send_command(path, f"ws://127.0.0.1:{port}/", "--no-progress")
    try:
        assert sender.process.wait(TEST_TIMEOUT) == 1
    finally:
        output = sender.stop()
    assert f"all attempts to connect to 127.0.0.1:{port} failed: Connection refused" in output
