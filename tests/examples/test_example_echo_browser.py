"""Headless Chromium against the echo example: the close code always reaches the page.

The server is started as its docstring says (``python -m examples.echo --port N``, its
default 1 MiB message limit); the page comes from a small HTTP server of the test's own
(a WebSocket needs a page with an origin). Two ways of closing while the page is still
sending, each tried several times, since a TCP reset is a race:

- the page sends one 16 MiB message: the server refuses it with 1009 while the rest
  is still arriving; the page must see 1009 with ``wasClean`` (before the server read
  until the page answered instead of closing under it, Chromium saw 1006 or an unclean
  1009 every time);
- the page sends a message every 20 ms and the server is stopped (SIGINT): the page
  must see 1001, "going away", with ``wasClean``.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from browser import Chromium
from example_support import Program, serve_example

TRIES = 3
PAGE = b"<!doctype html><title>rawsock close test</title>"

#: Opens a WebSocket, sends as ``mode`` says, and stores how it closed in window.socketClosed.
OPEN = """
const [port, mode, done] = arguments;
window.socketClosed = null;
const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
ws.binaryType = "arraybuffer";
ws.onclose = (event) => { window.socketClosed = {code: event.code, clean: event.wasClean}; };
ws.onopen = () => {
  if (mode === "big") {
    ws.send(new Uint8Array(16 * 1024 * 1024));
  } else {
    const timer = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) { clearInterval(timer); return; }
      ws.send(new Uint8Array(1024));
    }, 20);
  }
  done("open");
};
"""
#: Waits until window.socketClosed is set and returns it.
WAIT_CLOSED = """
const done = arguments[arguments.length - 1];
const poll = () => window.socketClosed ? done(window.socketClosed) : setTimeout(poll, 10);
poll();
"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def page_server() -> Iterator[str]:
    """An HTTP server for the page on a free loopback port; yields the page's URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def closed_after(driver: Any, port: int, mode: str, stop: Program | None = None) -> Any:
    """Open a WebSocket from the page, send (``mode``), stop ``stop`` if given, and
    return how the page saw the connection close."""
    assert driver.execute_async_script(OPEN, port, mode) == "open"
    if stop is not None:
        stop.stop()
    return driver.execute_async_script(WAIT_CLOSED)


def test_a_message_over_the_limit_reaches_chromium_as_a_clean_1009(
    programs: list[Program], chromium: Chromium
) -> None:
    _, port = serve_example(programs, "examples.echo")
    with page_server() as url, tempfile.TemporaryDirectory() as profile, chromium.open(
        Path(profile)
    ) as driver:
        driver.set_script_timeout(30)
        driver.get(url)
        seen = [closed_after(driver, port, "big") for _ in range(TRIES)]
    assert seen == [{"code": 1009, "clean": True}] * TRIES


def test_stopping_the_server_reaches_a_sending_chromium_as_a_clean_1001(
    programs: list[Program], chromium: Chromium
) -> None:
    seen = []
    with page_server() as url, tempfile.TemporaryDirectory() as profile, chromium.open(
        Path(profile)
    ) as driver:
        driver.set_script_timeout(30)
        driver.get(url)
        for _ in range(TRIES):
            server, port = serve_example(programs, "examples.echo")
            seen.append(closed_after(driver, port, "paced", stop=server))
    assert seen == [{"code": 1001, "clean": True}] * TRIES
