"""Support for the example applications' end-to-end tests: started programs, ports.

The examples' tests start real programs (the examples themselves, ``redis-server``,
Chromium). On a developer machine without one of those programs the test skips and says
what to install; with ``RAWSOCK_REQUIRE_EXAMPLE_DEPS=1`` (set by ``.ci/run``) a missing
program is a failure instead, so nothing skips in CI.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import IO

import pytest

import rawsock

ROOT = Path(__file__).resolve().parents[2]


def require_program(name: str, install_hint: str) -> str:
    """The path of program ``name``, or skip (fail in CI) with ``install_hint``.

    Call it from a fixture that is not async (as ``redis_url`` and ``chromium`` do), not
    from an async test: pytest-trio reports a skip raised inside one without its reason.
    """
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({install_hint}; .ci/run installs it)"
        if os.environ.get("RAWSOCK_REQUIRE_EXAMPLE_DEPS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, program: Program | None = None, timeout: float = 15.0) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if program is not None and program.process.poll() is not None:
            raise RuntimeError(f"exited before listening:\n{program.output()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Program:
    """A program started for a test; its output goes to a file, so it never blocks."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        self.process = subprocess.Popen(
            args, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    def output(self) -> str:
        """Everything the program printed so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> str:
        """Stop it (SIGINT, then SIGKILL after 10 s) and return what it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log.closed:
            return ""
        text = self.output()
        self.log.close()
        return text


def start_example(*args: str, env: dict[str, str] | None = None) -> Program:
    """``python -m examples.<name> args`` from the repository root, as the README says."""
    return Program([sys.executable, "-m", *args], env)


def serve_example(programs: list[Program], *args: str) -> tuple[Program, int]:
    """Start ``python -m ARGS --port P`` on a free port P, wait until it listens, and
    put it in ``programs`` (the fixture) to be stopped after the test."""
    port = free_port()
    program = start_example(*args, "--port", str(port))
    programs.append(program)
    wait_for_port(port, program)
    return program, port


class Lines:
    """The lines a program prints, read by a thread, so a test can wait with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self._stream = stream
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put("<end of output>")

    def next(self, timeout: float = 10.0) -> str:
        """The next line (fails after ``timeout`` seconds)."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no output within {timeout} s")

    def close(self) -> None:
        """Close the stream once the program has ended (its output is then complete)."""
        self._thread.join(5)
        self._stream.close()


async def refused_status(connection: AbstractAsyncContextManager[object]) -> int:
    """The HTTP status of a connection whose opening handshake must be refused."""
    with pytest.raises(rawsock.HandshakeRejected) as rejected:
        async with connection:
            pass
    return rejected.value.status_code
