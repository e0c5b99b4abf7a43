"""``python -m rawsock``, driven as a subprocess against servers in this process."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trustme
from serving_helpers import running_server

import rawsock
from rawsock import HTTPResponse, Request

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
for _name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    ENV.pop(_name, None)


class Lines:
    """Read a process's output stream line by line."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def line(self) -> str:
        while b"\n" not in self._buffer:
            chunk = await self._stream.receive_some(4096)
            if not chunk:
                raise EOFError(self._buffer.decode())
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    async def rest(self) -> str:
        data = self._buffer
        while chunk := await self._stream.receive_some(4096):
            data += chunk
        self._buffer = b""
        return data.decode()


@asynccontextmanager
async def cli_process(*args: str, stdin: bool = True) -> AsyncIterator[trio.Process]:
    """``python -m rawsock *args`` with pipes; killed and reaped when the block ends."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "rawsock", *args],
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
            for pipe in (process.stdin, process.stdout, process.stderr):
                if pipe is not None:
                    await trio.aclose_forcefully(pipe)


async def run_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run the client to completion with ``stdin``."""
    return await trio.run_process(
        [sys.executable, "-m", "rawsock", *args],
        stdin=stdin,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=ENV,
    )


async def test_send_a_line_see_the_echo_eof_closes_with_1000() -> None:
    ends: list[tuple[int | None, dict[str, str]]] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)
            if message == "binary please":
                await ws.send(b"\x01\x02\xff")
        ends.append((ws.close_code, dict(ws.request_headers)))

    with trio.fail_after(20):
        async with running_server(handler) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            async with cli_process(url, "-H", "X-Token: abc") as process:
                assert process.stdin and process.stdout and process.stderr
                out, err = Lines(process.stdout), Lines(process.stderr)
                assert await err.line() == f"Connected to {url}"
                await process.stdin.send_all("héllo wörld\n".encode())
                assert await out.line() == "< héllo wörld"  # the echo, while stdin is open
                await process.stdin.send_all(b"binary please\n")
                assert await out.line() == "< binary please"
                assert await out.line() == "< (binary) 0102ff"
                await process.stdin.aclose()  # end of input
                assert await err.line() == "Connection closed: 1000."
                assert await process.wait() == 0
            await trio.sleep(0.05)
    assert len(ends) == 1
    close_code, headers = ends[0]
    assert close_code == 1000
    assert headers["X-Token"] == "abc"


async def test_server_close_ends_the_client_with_its_code_and_reason() -> None:
    async def goodbye(ws: rawsock.WebSocket) -> None:
        await ws.send("bye soon")
        await ws.aclose(1001, "maintenance")

    with trio.fail_after(20):
        async with running_server(goodbye) as server:
            # stdin is left open: the server's close must end the client by itself.
            process_cm = cli_process(f"ws://127.0.0.1:{server.port}/")
            async with process_cm as process:
                assert process.stdout and process.stderr
                assert await Lines(process.stdout).line() == "< bye soon"
                assert await process.wait() == 0
                stderr = await Lines(process.stderr).rest()
    assert stderr.splitlines()[-1] == "Connection closed: 1001 maintenance."


async def test_subprotocol_and_no_compression_options() -> None:
    seen: list[tuple[str | None, str | None]] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        seen.append((ws.subprotocol, ws.request_headers.get("Sec-WebSocket-Extensions")))

    with trio.fail_after(20):
        async with running_server(handler, subprotocols=["chat.v2"]) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            result = await run_cli(url, "-s", "chat.v1", "-s", "chat.v2", "--no-compression")
            default = await run_cli(url)
    assert result.returncode == 0, result.stderr
    assert b"(subprotocol chat.v2)" in result.stderr
    assert seen[0] == ("chat.v2", None)
    assert seen[1][1] is not None and "permessage-deflate" in seen[1][1]
    assert default.returncode == 0


async def test_insecure_skips_certificate_checks() -> None:
    ca = trustme.CA()  # not trusted by the subprocess
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with trio.fail_after(20):
        async with running_server(ssl_context=context) as server:
            url = f"wss://127.0.0.1:{server.port}/"
            checked = await run_cli(url, stdin=b"x\n")
            insecure = await run_cli(url, "--insecure", stdin=b"over tls\n")
    assert checked.returncode == 1
    assert checked.stderr.decode().startswith("rawsock: handshake failed:")
    assert "CERTIFICATE_VERIFY_FAILED" in checked.stderr.decode()
    assert len(checked.stderr.splitlines()) == 1
    assert insecure.returncode == 0, insecure.stderr
    assert insecure.stdout == b"< over tls\n"


async def test_one_line_errors() -> None:
    def deny(request: Request) -> HTTPResponse:
        return HTTPResponse.text(403, "no entry")

    with trio.fail_after(20):
        async with running_server(handle_request=deny) as server:
            rejected = await run_cli(f"ws://127.0.0.1:{server.port}/")
        refused = await run_cli(f"ws://127.0.0.1:{server.port}/")  # the server is gone
        bad_url = await run_cli("http://example.com/")
    for result in (rejected, refused, bad_url):
        assert result.returncode == 1
        assert len(result.stderr.splitlines()) == 1
        assert result.stdout == b""
    assert rejected.stderr.decode() == "rawsock: handshake rejected: HTTP 403 Forbidden: no entry\n"
    assert refused.stderr.decode() == (
        f"rawsock: cannot connect to 127.0.0.1:{server.port}: Connection refused\n"
    )
    assert bad_url.stderr.decode().startswith("rawsock: invalid URL: not a WebSocket URL")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_serve_subcommand_echoes_and_stops_gracefully_on_sigint() -> None:
    with trio.fail_after(20):
        async with cli_process("serve", "--port", "0", stdin=False) as process:
            assert process.stderr
            err = Lines(process.stderr)
            banner = await err.line()
            assert banner.startswith("Serving on ws://127.0.0.1:")
            url = banner.split()[2]
            async with rawsock.connect(url) as ws:
                await ws.send("echo me")
                assert await ws.receive() == "echo me"
                process.send_signal(signal.SIGINT)
                with pytest.raises(rawsock.ConnectionClosed):
                    await ws.receive()
                assert (ws.close_code, ws.close_reason) == (1001, "server shutting down")
            assert await process.wait() == 0
            assert await err.line() == "Shutting down..."


async def test_serve_errors_are_one_line_naming_the_address_or_the_file() -> None:
    with trio.fail_after(20):
        async with running_server() as server:
            in_use = await run_cli("serve", "--port", str(server.port))
        no_file = await run_cli("serve", "--port", "0", "--certfile", "/nonexistent.pem")
    for result in (in_use, no_file):
        assert result.returncode == 1
        assert len(result.stderr.splitlines()) == 1, result.stderr
    assert in_use.stderr.decode() == (
        f"rawsock: cannot serve on 127.0.0.1:{server.port}: Address already in use\n"
    )
    assert no_file.stderr.decode() == (
        "rawsock: cannot load the certificate from /nonexistent.pem: No such file or directory\n"
    )


async def test_serve_help_shows_the_defaults() -> None:
    result = await run_cli("serve", "--help")
    text = " ".join(result.stdout.decode().split())
    assert "(default: 127.0.0.1)" in text and "(default: 8765)" in text


async def test_the_client_says_where_it_is_connected_after_a_redirect() -> None:
    def moved(request: Request) -> HTTPResponse | None:
        if request.path == "/old":
            return HTTPResponse.redirect("/new")
        return None

    with trio.fail_after(20):
        async with running_server(handle_request=moved) as server:
            result = await run_cli(f"ws://127.0.0.1:{server.port}/old")
    assert result.stderr.decode().splitlines()[0] == f"Connected to ws://127.0.0.1:{server.port}/new"


async def test_errors_that_say_what_to_do() -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    with trio.fail_after(30):
        async with running_server() as plain:
            tls_to_plain = await run_cli(f"wss://127.0.0.1:{plain.port}/")
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, silent, 0)
            port = listeners[0].socket.getsockname()[1]
            silence = await run_cli(f"ws://127.0.0.1:{port}/")
            nursery.cancel_scope.cancel()
        bad_ipv6 = await run_cli("ws://[::1")
    hint = "the server does not speak TLS: is it a plain ws:// server?"
    assert hint in tls_to_plain.stderr.decode()
    assert "timed out after 10 s (open_timeout)" in silence.stderr.decode()
    assert bad_ipv6.stderr.decode() == (
        "rawsock: invalid URL: cannot parse 'ws://[::1': Invalid IPv6 URL\n"
    )


README_SERVER = """
import trio, rawsock

async def echo(ws):
    async for message in ws:
        await ws.send(message)

try:
    trio.run(rawsock.serve, echo, "127.0.0.1", 0)
except KeyboardInterrupt:
    print("stopped", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_on_the_readme_server_is_a_plain_keyboard_interrupt() -> None:
    """A real SIGINT: the server shuts down, and ``trio.run`` raises KeyboardInterrupt
    itself, not wrapped in exception groups, so ``except KeyboardInterrupt`` works."""
    with trio.fail_after(20):
        process = await trio.lowlevel.open_process(
            [sys.executable, "-c", README_SERVER],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENV,
        )
        try:
            await trio.sleep(1.5)  # (serving: no output to wait for)
            process.send_signal(signal.SIGINT)
            assert process.stdout is not None and process.stderr is not None
            out = await Lines(process.stdout).rest()
            err = await Lines(process.stderr).rest()
            assert await process.wait() == 0, err
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert out == "stopped\n"
    assert "ExceptionGroup" not in err
