"""Headless Chromium speaks WebSockets over HTTP/2 (RFC 8441) with rawsock's server.

The server runs in the test's own Trio loop: ``rawsock.serve(..., ssl_context=...,
http2=True)`` with its default permessage-deflate, a trustme certificate that Chromium
is told to accept (``--ignore-certificate-errors-spki-list``, the SHA-256 of the
certificate's public key), and ``handle_request`` serving the page. Selenium's blocking
calls run in threads (``trio.to_thread.run_sync``), so the server keeps serving.

Chromium carries a WebSocket over HTTP/2 only on an HTTP/2 connection it already has to
the origin, whose SETTINGS allowed extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL):
that is why the page comes from the same server. The handler records what each
WebSocket was carried by (``ws.http_version``), its negotiated extensions, every
message and the close code, so the server's side proves what the page's side reports.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from browser import Chromium
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from selenium import webdriver

import rawsock

#: Seconds a whole test may take; each Selenium call is bounded by SCRIPT_TIMEOUT too.
TIMEOUT = 90
SCRIPT_TIMEOUT = 30

PAGE = (
    '<!doctype html><meta charset="utf-8"><title>rawsock over HTTP/2</title>'
    "<p>WebSockets over HTTP/2</p>"
)

#: Texts each socket sends (its number is appended): non-ASCII, outside the BMP too.
TEXTS = ["héllo, wörld", "Grüße — 日本語 — \N{PARTY POPPER}\N{GRINNING FACE}", "x" * 5000]
#: Sizes of the binary messages each socket sends: the last is larger than HTTP/2's
#: default flow-control windows (64 KiB) and than Chromium's frames.
SIZES = [1, 126, 70_000, 300_000]
SOCKETS = 3

#: Opens ``sockets`` WebSockets to ``base + "/ws/" + n``; each sends TEXTS (with " #n"),
#: then binary messages of SIZES (``pattern(size, n)``), checks every echo byte for byte
#: as it comes back, closes with 1000 once all are back, and reports how it went.
ECHO_SCRIPT = """
const [base, sockets, texts, sizes, done] = arguments;
const pattern = (size, seed) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8)) & 255;
  return bytes;
};
const same = (a, b) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};
const run = (n) => new Promise((resolve) => {
  const report = {opened: false, echoes: [], close: null, error: null};
  const expected = [...texts.map((text) => `${text} #${n}`), ...sizes.map((s) => pattern(s, n))];
  const ws = new WebSocket(`${base}/ws/${n}`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    report.opened = true;
    report.extensions = ws.extensions;
    for (const message of expected) ws.send(message);
  };
  ws.onmessage = (event) => {
    const want = expected[report.echoes.length];
    if (typeof event.data === "string") {
      report.echoes.push(typeof want === "string" && event.data === want);
    } else {
      report.echoes.push(typeof want !== "string" && same(new Uint8Array(event.data), want));
    }
    if (report.echoes.length === expected.length) ws.close(1000, "done");
  };
  ws.onerror = () => { report.error = "error event"; };
  ws.onclose = (event) => {
    report.close = {code: event.code, reason: event.reason, clean: event.wasClean};
    resolve(report);
  };
});
Promise.all([...Array(sockets).keys()].map(run)).then(done, (e) => done(String(e)));
"""

#: Opens one WebSocket and calls back once it is open; its close goes to window.socketClosed.
OPEN_SCRIPT = """
const [url, done] = arguments;
window.socketClosed = null;
const ws = new WebSocket(url);
ws.onopen = () => done("open");
ws.onclose = (event) => {
  window.socketClosed = {code: event.code, reason: event.reason, clean: event.wasClean};
  done("closed before it opened");
};
"""
WAIT_CLOSED_SCRIPT = """
const done = arguments[arguments.length - 1];
const poll = () => (window.socketClosed ? done(window.socketClosed) : setTimeout(poll, 10));
poll();
"""


def pattern(size: int, seed: int) -> bytes:
    """The bytes the page's ``pattern(size, seed)`` makes."""
    return bytes((i * 31 + seed * 7 + (i >> 8)) & 255 for i in range(size))


def expected_messages(n: int) -> list[str | bytes]:
    """What socket ``n`` of ECHO_SCRIPT sends, in order."""
    return [f"{text} #{n}" for text in TEXTS] + [pattern(size, n) for size in SIZES]


@dataclass
class Seen:
    """What the server saw of one WebSocket."""

    path: str
    http_version: str
    offered: str  # the request's Sec-WebSocket-Extensions
    agreed: str  # the response's
    received: list[str | bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None


@dataclass
class Recorder:
    """The server's handler and request hook; records what they saw."""

    sockets: list[Seen] = field(default_factory=list)
    page_loads: list[str] = field(default_factory=list)  # http_version of each GET /
    ended: trio.Event = field(default_factory=trio.Event)
    expected_sockets: int = SOCKETS

    def handle_request(self, request: rawsock.Request) -> rawsock.HTTPResponse | None:
        if request.path == "/":
            self.page_loads.append(request.http_version)
            return rawsock.HTTPResponse.html(PAGE)
        if request.path.startswith("/ws/"):
            return None  # on to the WebSocket handshake
        return rawsock.HTTPResponse.text(404, "Not found.")

    async def handler(self, ws: rawsock.WebSocket) -> None:
        seen = Seen(
            ws.path,
            ws.http_version,
            ws.request_headers.get("Sec-WebSocket-Extensions") or "",
            ws.response_headers.get("Sec-WebSocket-Extensions") or "",
        )
        self.sockets.append(seen)
        try:
            async for message in ws:
                seen.received.append(message)
                await ws.send(message)
        finally:
            seen.close_code, seen.close_reason = ws.close_code, ws.close_reason
            if sum(s.close_code is not None for s in self.sockets) == self.expected_sockets:
                self.ended.set()


@dataclass(frozen=True)
class Certificate:
    server_context: ssl.SSLContext
    spki_sha256: str  # base64, as --ignore-certificate-errors-spki-list wants it


@pytest.fixture
def certificate() -> Certificate:
    """A trustme certificate for 127.0.0.1 and localhost, and its public key's hash."""
    issued = trustme.CA().issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    issued.configure_cert(context)
    leaf = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
    spki = leaf.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return Certificate(context, base64.b64encode(hashlib.sha256(spki).digest()).decode())


@contextmanager
def open_chromium(chromium: Chromium, profile: Path, spki: str) -> Iterator[webdriver.Chrome]:
    """Headless Chromium (browser.py's) that accepts the certificate whose public key
    hashes to ``spki``, and only that one."""
    flag = f"--ignore-certificate-errors-spki-list={spki}"
    with chromium.open(profile, flag) as driver:
        driver.set_script_timeout(SCRIPT_TIMEOUT)
        driver.set_page_load_timeout(SCRIPT_TIMEOUT)
        yield driver


async def in_thread(function: Any, *args: Any) -> Any:
    """A blocking Selenium call, in a thread, so the server goes on serving."""
    return await trio.to_thread.run_sync(partial(function, *args))


@asynccontextmanager
async def server_and_chromium(
    recorder: Recorder, chromium: Chromium, certificate: Certificate, profile: Path
) -> AsyncIterator[tuple[rawsock.Server, webdriver.Chrome, str]]:
    """rawsock's HTTP/2 server on 127.0.0.1 (any free port) with ``recorder``'s handler
    and hook, and a Chromium that trusts its certificate; yields them and the
    ``host:port``. Chromium quits, then the server stops (``aclose``), when the block ends."""
    async with trio.open_nursery() as nursery:
        server: rawsock.Server = await nursery.start(
            partial(
                rawsock.serve,
                recorder.handler,
                "127.0.0.1",
                0,
                ssl_context=certificate.server_context,
                http2=True,
                handle_request=recorder.handle_request,
            )
        )
        browser = open_chromium(chromium, profile, certificate.spki_sha256)
        driver = await in_thread(browser.__enter__)
        try:
            yield server, driver, f"127.0.0.1:{server.port}"
        finally:
            with trio.CancelScope(shield=True):  # quit Chromium even after a timeout
                await in_thread(browser.__exit__, None, None, None)
        await server.aclose()


async def test_chromium_websockets_over_http2_echo_byte_exact(
    chromium: Chromium, certificate: Certificate, tmp_path: Path
) -> None:
    recorder = Recorder()
    with trio.fail_after(TIMEOUT):
        async with server_and_chromium(recorder, chromium, certificate, tmp_path) as (
            _,
            driver,
            address,
        ):
            await in_thread(driver.get, f"https://{address}/")
            title = await in_thread(lambda: driver.title)
            reports = await in_thread(
                driver.execute_async_script, ECHO_SCRIPT, f"wss://{address}", SOCKETS, TEXTS, SIZES
            )
            await recorder.ended.wait()  # every handler has seen its close
    assert title == "rawsock over HTTP/2"
    assert recorder.page_loads == ["2"], "the page did not come over HTTP/2"

    # The page's side: every echo matched what it sent, and each socket closed cleanly.
    assert isinstance(reports, list) and len(reports) == SOCKETS, reports
    count = len(TEXTS) + len(SIZES)
    for report in reports:
        assert report["opened"] and report["error"] is None, report
        assert report["echoes"] == [True] * count, report
        assert (report["close"]["code"], report["close"]["clean"]) == (1000, True), report
        assert "permessage-deflate" in report["extensions"], report

    # The server's side: each WebSocket was a stream of the HTTP/2 connection, with
    # permessage-deflate, received exactly what the page sent, and ended with 1000.
    seen = sorted(recorder.sockets, key=lambda s: s.path)
    assert [s.path for s in seen] == [f"/ws/{n}" for n in range(SOCKETS)]
    for n, socket in enumerate(seen):
        assert socket.http_version == "2", f"{socket.path} fell back to HTTP/1.1"
        assert "permessage-deflate" in socket.offered, socket.offered
        assert socket.agreed.startswith("permessage-deflate"), socket.agreed
        assert socket.received == expected_messages(n), socket.path
        assert (socket.close_code, socket.close_reason) == (1000, "done")


async def test_chromium_sees_1001_when_the_http2_server_stops(
    chromium: Chromium, certificate: Certificate, tmp_path: Path
) -> None:
    recorder = Recorder(expected_sockets=1)
    with trio.fail_after(TIMEOUT):
        async with server_and_chromium(recorder, chromium, certificate, tmp_path) as (
            server,
            driver,
            address,
        ):
            await in_thread(driver.get, f"https://{address}/")
            opened = await in_thread(
                driver.execute_async_script, OPEN_SCRIPT, f"wss://{address}/ws/0"
            )
            await server.aclose()
            closed = await in_thread(driver.execute_async_script, WAIT_CLOSED_SCRIPT)
    assert recorder.page_loads == ["2"]
    assert opened == "open"
    (socket,) = recorder.sockets
    assert socket.http_version == "2"
    assert socket.close_code == 1001
    assert (closed["code"], closed["clean"]) == (1001, True), closed
