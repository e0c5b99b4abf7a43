"""Every Python example of README.md and docs/ runs as written.

The examples are collected from the sources: the ```python blocks of README.md, and in
``docs/**/*.rst`` every ``.. code-block:: python`` (``python3``, ``py``, or no language:
the documentation's default is Python) and every ``::`` literal block (Python too, by
that default). Each runs as a program of its own, ``python snippet.py``, in a fresh
directory that holds what the pages tell the reader to make first: the certificates of
``python -m trustme`` (``server.pem``, ``server.key``, ``client.pem``).

An example that names a fixed port (8765, 8443) gets a free one instead, and one that
binds all interfaces (``"0.0.0.0"``, as in a container) binds 127.0.0.1. There are three
kinds, told apart by what they call:

- a server (it serves on a fixed port or a socket file, and connects nowhere) must keep
  serving until a SIGINT comes, as Ctrl-C, once it accepts connections; it must then
  stop by itself, quietly or with the ``KeyboardInterrupt`` the pages describe;
- a client (it connects to a fixed port and serves nothing) runs against the server
  example shown before it on the same page (else ``python -m rawsock serve``, an echo
  server) and must exit 0;
- anything else starts what it needs itself and must exit 0 on its own.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Fixed ports the examples use; each run replaces them with free ones.
PORTS = (8765, 8443)
#: Seconds an example may take to end by itself, or to start serving.
TIMEOUT = 30.0
#: Seconds a server may take to stop after SIGINT.
STOP_TIMEOUT = 15.0

_PYTHON_LANGUAGES = {"python", "python3", "py", ""}
_DIRECTIVE = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode)::\s*(\S*)\s*$")
_FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Snippet:
    """One example: where it is and its code."""

    path: Path
    line: int
    code: str

    @property
    def name(self) -> str:
        """``README.md:12``: the file and the line the code starts on."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def fixed_ports(self) -> bool:
        """Whether the code names one of :data:`PORTS`."""
        return any(re.search(rf"\b{port}\b", self.code) for port in PORTS)

    @property
    def connects(self) -> bool:
        """Whether the code opens client connections."""
        return re.search(r"\b(connect|reconnect)\(", self.code) is not None

    @property
    def kind(self) -> str:
        """``"server"``, ``"client"`` or ``"program"`` (see the module docstring)."""
        serves = re.search(r"\b(serve|serve_unix)\b", self.code) is not None
        if serves and not self.connects and (self.fixed_ports or "serve_unix" in self.code):
            return "server"
        if self.connects and not serves and self.fixed_ports:
            return "client"
        return "program"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indented_block(lines: list[str], start: int, outer: int) -> tuple[int, str]:
    """The block indented deeper than ``outer`` from ``lines[start]`` on (blank lines
    and a directive's ``:option:`` lines first are skipped): its first line and text."""
    index = start
    while index < len(lines) and (
        not lines[index].strip()
        or (_indent(lines[index]) > outer and lines[index].strip().startswith(":"))
    ):
        index += 1
    first = index
    body: list[str] = []
    while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > outer):
        body.append(lines[index])
        index += 1
    return first + 1, textwrap.dedent("\n".join(body)).strip() + "\n"


def rst_snippets(path: Path) -> Iterator[Snippet]:
    """The Python code blocks and ``::`` literal blocks of one reStructuredText file."""
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        directive = _DIRECTIVE.match(line)
        stripped = line.strip()
        # "text::" or a lone "::" starts a literal block; ".. name::" is a directive
        literal = stripped.endswith("::") and (stripped == "::" or not stripped.startswith(".."))
        if directive is not None:
            if directive.group(2).lower() not in _PYTHON_LANGUAGES:
                continue
            outer = len(directive.group(1))
        elif literal:
            outer = _indent(line)
        else:
            continue
        first, code = _indented_block(lines, number + 1, outer)
        if code.strip():
            yield Snippet(path, first, code)


def markdown_snippets(path: Path) -> Iterator[Snippet]:
    """The ```python blocks of one Markdown file."""
    lines = path.read_text().splitlines()
    inside: list[str] | None = None
    start = 0
    for number, line in enumerate(lines, start=1):
        fence = _FENCE.match(line)
        if inside is None:
            if fence is not None and fence.group(1).lower() in ("python", "python3", "py"):
                inside, start = [], number + 1
            elif fence is not None and fence.group(1):
                inside, start = None, 0
        elif line.startswith("```"):
            yield Snippet(path, start, "\n".join(inside) + "\n")
            inside = None
        else:
            inside.append(line)


def all_snippets() -> list[Snippet]:
    """Every example of README.md and the documentation, in page order."""
    found = list(markdown_snippets(ROOT / "README.md"))
    for path in sorted(DOCS.rglob("*.rst")):
        if "_build" not in path.parts:
            found.extend(rst_snippets(path))
    return found


SNIPPETS = all_snippets()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _with_ports(code: str, ports: dict[int, int]) -> str:
    code = code.replace('"0.0.0.0"', '"127.0.0.1"')
    for fixed, free in ports.items():
        code = re.sub(rf"\b{fixed}\b", str(free), code)
    return code


def _listening(ports: dict[int, int], directory: Path) -> bool:
    """Whether the program accepts connections on one of its ports or socket files."""
    for port in ports.values():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            pass
    for path in directory.rglob("*"):
        if path.is_socket():
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(str(path))
                    return True
                except OSError:
                    pass
    return False


class Program:
    """A started example (its own process group, so that SIGINT reaches its children)."""

    def __init__(self, code: str, directory: Path, name: str) -> None:
        self.name = name
        self.directory = directory
        self.code = code
        script = directory / f"{name}.py"
        script.write_text(code)
        environment = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.stdout = (directory / f"{name}.out").open("w+")
        self.process = subprocess.Popen(
            [sys.executable, script.name],
            cwd=directory,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=self.stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        """What it printed so far, stdout and stderr."""
        self.stdout.flush()
        return (self.directory / f"{self.name}.out").read_text()

    def wait_listening(self, ports: dict[int, int]) -> None:
        """Wait until it serves; fail if it exits first or takes too long.

        Only the ports its code names are probed: another program listening on one of
        the others would make it look ready before it is (and a SIGINT then reaches its
        processes while they are still starting).
        """
        named = {fixed: port for fixed, port in ports.items() if str(port) in self.code}
        ports = named or ports
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited before serving:\n{self.output()}")
            if _listening(ports, self.directory):
                return
            time.sleep(0.05)
        pytest.fail(f"{self.name} did not serve within {TIMEOUT} s:\n{self.output()}")

    def interrupt(self) -> int:
        """SIGINT to the whole group, as Ctrl-C in a terminal; its exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not stop within {STOP_TIMEOUT} s of SIGINT")

    def wait(self) -> int:
        """Wait for it to end by itself; its exit status."""
        try:
            return self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not end within {TIMEOUT} s:\n{self.output()}")

    def kill(self) -> None:
        """End it and its children whatever state they are in."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.stdout.close()


def _check_stopped(program: Program, status: int) -> None:
    """A server stopped by SIGINT ends quietly, or with a bare ``KeyboardInterrupt``."""
    output = program.output()
    if status == 0:
        assert "Traceback" not in output, output
        return
    last = output.strip().splitlines()[-1] if output.strip() else ""
    assert status == -signal.SIGINT and last == "KeyboardInterrupt", (
        f"{program.name} stopped with {status}:\n{output}"
    )


def _provider(snippet: Snippet) -> Snippet | None:
    """The server example shown before ``snippet`` on its page, if any."""
    before = [s for s in SNIPPETS if s.path == snippet.path and s.line < snippet.line]
    servers = [s for s in before if s.kind == "server" and s.fixed_ports]
    return servers[-1] if servers else None


@pytest.fixture(scope="module")
def certificates() -> Iterator[Path]:
    """A directory with the files of ``python -m trustme``, as the TLS page makes them."""
    with tempfile.TemporaryDirectory(prefix="rawsock-snippet-certs-") as directory:
        subprocess.run(
            [sys.executable, "-m", "trustme", "-q", "-d", directory], check=True, timeout=60
        )
        yield Path(directory)


@pytest.fixture
def workdir(tmp_path: Path, certificates: Path) -> Path:
    """A fresh directory for one example, with the certificates in it."""
    for source in certificates.iterdir():
        (tmp_path / source.name).write_bytes(source.read_bytes())
    return tmp_path


def test_examples_were_found() -> None:
    """The collector finds the README's echo server and client and the pages' examples."""
    readme = [s for s in SNIPPETS if s.path.name == "README.md"]
    assert [s.kind for s in readme[:2]] == ["server", "client"]
    assert len(SNIPPETS) > len(readme) + 10
    assert {s.kind for s in SNIPPETS} == {"server", "client", "program"}


def test_collector_reads_directives_and_literal_blocks(tmp_path: Path) -> None:
    """Python code blocks and ``::`` blocks are collected, other languages are not."""
    page = tmp_path / "page.rst"
    page.write_text(
        "Title\n=====\n\nA literal block::\n\n    print(1)\n\n"
        ".. code-block:: python\n   :caption: two.py\n\n   print(2)\n   if True:\n"
        "       print(3)\n\nText.\n\n.. code-block:: bash\n\n   echo no\n\n"
        ".. toctree::\n\n   other\n"
    )
    found = list(rst_snippets(page))
    assert [s.code for s in found] == ["print(1)\n", "print(2)\nif True:\n    print(3)\n"]
    assert [s.line for s in found] == [6, 11]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.name for s in SNIPPETS])
def test_snippet_runs(snippet: Snippet, workdir: Path) -> None:
    """The example runs as written (see the module docstring for each kind)."""
    ports = {port: _free_port() for port in PORTS}
    started: list[Program] = []
    try:
        if snippet.kind == "client":
            provider = _provider(snippet)
            if provider is not None:
                server = Program(_with_ports(provider.code, ports), workdir, "server")
            else:
                code = (  # python -m rawsock serve --port P
                    "import runpy, sys\n"
                    f"sys.argv = ['rawsock', 'serve', '--port', '{ports[8765]}']\n"
                    "runpy.run_module('rawsock', run_name='__main__')\n"
                )
                server = Program(code, workdir, "server")
            started.append(server)
            server.wait_listening(ports)
        program = Program(_with_ports(snippet.code, ports), workdir, "snippet")
        started.append(program)
        if snippet.kind == "server":
            program.wait_listening(ports)
            _check_stopped(program, program.interrupt())
        else:
            status = program.wait()
            assert status == 0, f"{snippet.name} exited with {status}:\n{program.output()}"
        for server in started[:-1]:
            assert server.process.poll() is None, f"the server ended early:\n{server.output()}"
            _check_stopped(server, server.interrupt())
    finally:
        for started_program in reversed(started):
            started_program.kill()
