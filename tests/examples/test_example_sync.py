"""The sync example end to end: its server's code and its program, real clients.

Most tests run a :class:`~examples.sync.server.SyncServer` in the test and connect
``examples.sync.client`` clients to its handler with ``rawsock.testing.connect``: in
memory, through the handshake, the ``handle_request`` hook and the options exactly as
``rawsock.serve`` runs them, with the transport's controls for a client that stops reading.
What only the program does (the page over HTTP, the README's snippet run as a separate
process, Ctrl-C) is tested on real processes: ``python -m examples.sync --port N`` in a
subprocess, over loopback TCP.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import re
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import pytest
import trio
import trio.lowlevel
from example_support import ROOT, Program, refused_status, serve_example

import rawsock
import rawsock.testing
from examples.sync.client import PatchRefused, SyncClient, open_sync_client, synced_client
from examples.sync.document import JSON, Limits, SyncDocument
from examples.sync.server import SOCKET_PATH, SyncServer
from examples.sync.site import STATIC_DIRECTORY

EDITS_PER_CLIENT = 150
TIMEOUT = 10


@dataclass
class RunningServer:
    """The example's process and where it listens."""

    program: Program
    port: int

    @property
    def url(self) -> str:
        """The WebSocket endpoint."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def check_healthy(self) -> None:
        """Still running, and nothing went wrong inside."""
        assert self.program.process.poll() is None, self.program.output()
        assert "Traceback" not in self.program.output()


def start_server(programs: list[Program], *options: str) -> RunningServer:
    """``python -m examples.sync --port N`` (with ``options``), once it listens."""
    program, port = serve_example(programs, "examples.sync", *options)
    return RunningServer(program, port)


@pytest.fixture
def server(programs: list[Program]) -> RunningServer:
    """The example with its default settings."""
    return start_server(programs)


@asynccontextmanager
async def open_client(
    server: SyncServer,
    path: str = SOCKET_PATH,
    *,
    headers: Sequence[tuple[str, str]] | None = None,
) -> AsyncIterator[SyncClient]:
    """A client connected in memory to ``server``'s handler, run as ``rawsock.serve``
    runs it in the program (same hook, same options), once past its snapshot."""
    async with rawsock.testing.connect(
        server.handle_connection,
        path,
        headers=headers,
        handle_request=server.handle_request,
        **server.connection_options,
    ) as ws:
        yield await synced_client(ws)


@asynccontextmanager
async def clients(server: SyncServer, count: int) -> AsyncIterator[list[SyncClient]]:
    """``count`` clients connected in memory to ``server``, each past its snapshot."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(open_client(server)) for _ in range(count)]


def check_no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing went wrong inside the server: rawsock logs a handler that raised (and
    closes its connection with 1011), so no error record means none did."""
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not errors, [record.getMessage() for record in errors]


# -- convergence ---------------------------------------------------------------------------

SHARED_PATHS: list[tuple[str, ...]] = [
    ("form", "name"),
    ("form", "notes"),
    ("form", "plan"),
    ("form", "address"),  # only ever an object or deleted, so the next path never conflicts
    ("form", "address", "city"),
]


async def edit(client: SyncClient, seed: int, sent: dict[tuple[str, ...], JSON]) -> None:
    """Send :data:`EDITS_PER_CLIENT` patches, shared and own paths, with task switches.

    ``sent`` gets the last value sent to each of this client's own paths.
    """
    name = client.replica.client
    assert name is not None
    own_paths: list[tuple[str, ...]] = [("clients", name, "counter"), ("clients", name, "status")]
    chooser = random.Random(seed)
    for number in range(EDITS_PER_CLIENT):
        path = chooser.choice(SHARED_PATHS + own_paths)
        value: JSON
        if chooser.random() < 0.15:
            value = None
        elif path == ("form", "address"):
            value = {"street": f"{name} street {number}"}
        else:
            value = {"by": name, "n": number} if number % 7 == 0 else f"{name}:{number}"
        if path in own_paths:
            sent[path] = value
        await client.patch(path, value, ref=number)
        if chooser.random() < 0.5:
            await trio.lowlevel.checkpoint()


def value_at(tree: JSON, path: Sequence[str]) -> JSON:
    """The value at ``path``, ``None`` when missing."""
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


async def test_three_clients_editing_at_once_converge(caplog: pytest.LogCaptureFixture) -> None:
    server = SyncServer()
    total = 3 * EDITS_PER_CLIENT
    own_values: list[dict[tuple[str, ...], JSON]] = [{}, {}, {}]
    with trio.fail_after(TIMEOUT):
        async with server.running(), clients(server, 3) as editors:
            assert len({editor.replica.client for editor in editors}) == 3
            async with trio.open_nursery() as nursery:
                for index, editor in enumerate(editors):
                    nursery.start_soon(edit, editor, index, own_values[index])
                    nursery.start_soon(editor.wait_for_version, total)

            trees = [editor.replica.tree for editor in editors]
            logs = [editor.replica.applied for editor in editors]
            assert [editor.replica.version for editor in editors] == [total] * 3
            assert trees[0] == trees[1] == trees[2]
            assert logs[0] == logs[1] == logs[2]
            assert [patch.version for patch in logs[0]] == list(range(1, total + 1))
            assert not any(editor.errors for editor in editors)
            # The edits really were concurrent: the server's order mixes the senders.
            switches = sum(a.client != b.client for a, b in itertools.pairwise(logs[0]))
            assert switches >= 50, switches

            for editor, sent in zip(editors, own_values, strict=True):
                # Each client's patches were applied in the order it sent them...
                refs = [patch.ref for patch in logs[0] if patch.client == editor.replica.client]
                assert refs == list(range(EDITS_PER_CLIENT))
                # ...and its own paths hold the last values it sent.
                for path, value in sent.items():
                    assert value_at(trees[0], path) == value
            # Replaying the broadcast log from scratch gives the same document.
            replayed = SyncDocument(Limits())
            for patch in logs[0]:
                replayed.apply(patch.path, patch.value)
            assert replayed.tree == trees[0]

            async with open_client(server) as late:
                assert late.replica.version == total
                assert late.replica.tree == trees[0]
    assert server.clients == {}
    check_no_errors_logged(caplog)


# -- validation -----------------------------------------------------------------------------

SMALL_DOCUMENT = 4096
MESSAGE_LIMIT = 8192


def patch_text(path: object, value: object, **more: object) -> str:
    """A patch message as text."""
    return json.dumps({"type": "patch", "path": path, "value": value, **more})


BAD_MESSAGES: list[tuple[str | bytes, str]] = [
    (b'{"type": "patch", "path": ["a"], "value": 1}', "not_text"),
    ("this is not JSON", "bad_json"),
    ('{"type": "patch", "path": ["a"], "value": NaN}', "bad_json"),
    ("[" * 3000 + "]" * 3000, "bad_json"),
    ("[1, 2, 3]", "not_an_object"),
    ('"patch"', "not_an_object"),
    ('{"type": "subscribe"}', "unknown_type"),
    ('{"path": ["a"], "value": 1}', "unknown_type"),
    (patch_text([], 1), "bad_path"),
    (patch_text("form.name", 1), "bad_path"),
    (patch_text(["k"] * 9, 1), "bad_path"),
    (patch_text(["k" * 65], 1), "bad_path"),
    (patch_text(["form", ""], 1), "bad_path"),
    (patch_text(["form", 7], 1), "bad_path"),
    ('{"type": "patch", "path": ["a"]}', "missing_value"),
    (patch_text(["a"], 2**60), "bad_value"),
    (patch_text(["a"], json.loads("[" * 17 + "]" * 17)), "bad_value"),
    (patch_text(["a"], 1, ref=["not", "a", "ref"]), "bad_ref"),
    (patch_text(["form", "notes"], "x" * SMALL_DOCUMENT), "too_large"),
    (patch_text(["form", "name", "first"], "Ada"), "conflict"),  # form.name is a string
]


async def test_bad_messages_get_errors_and_nobody_is_disconnected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = SyncServer(
        Limits(max_document_size=SMALL_DOCUMENT), max_message_size=MESSAGE_LIMIT
    )
    with trio.fail_after(TIMEOUT):
        async with server.running(), clients(server, 2) as (sender, observer):
            await sender.patch(["form", "name"], "Ada")
            await sender.wait_for_version(1)
            for number, (message, code) in enumerate(BAD_MESSAGES):
                await sender.ws.send(message)
                error = await sender.wait_for_error()
                assert error.code == code, (message[:80], error)
                # A patch that gets as far as its ref has it echoed in the error.
                await sender.patch(["form", "name", "first"], "Ada", ref=f"r{number}")
                assert (await sender.wait_for_error()).ref == f"r{number}"
            # Nothing above was applied; the sender is still connected and editing.
            await sender.patch(["form", "email"], "ada@example.com", ref="last")
            await sender.wait_for_version(2)
            await observer.wait_for_version(2)
            assert observer.errors == []
            assert [patch.ref for patch in observer.replica.applied] == [None, "last"]
            assert observer.replica.tree == {"form": {"name": "Ada", "email": "ada@example.com"}}

            # Only a message over the transport's limit ends the sender's connection.
            await sender.patch(["form", "notes"], "x" * MESSAGE_LIMIT)
            with pytest.raises(rawsock.ConnectionClosed) as closed:
                await sender.wait_for_version(3)
            assert closed.value.code == 1009
            await observer.patch(["form", "plan"], "pro")
            await observer.wait_for_version(3)
            assert observer.replica.tree["form"] == {
                "name": "Ada", "email": "ada@example.com", "plan": "pro"
            }
            assert server.document.tree == observer.replica.tree
    check_no_errors_logged(caplog)


# -- the README's Python ---------------------------------------------------------------------


def readme_python() -> str:
    """The Python snippet of examples/sync/README.md, as written."""
    readme = (ROOT / "examples" / "sync" / "README.md").read_text()
    snippets: list[str] = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    (snippet,) = snippets
    return snippet


async def test_the_readme_snippet_waits_for_its_own_patch_on_a_busy_server(
    server: RunningServer,
) -> None:
    """Run on a server that other clients already edited (so its patch is not version
    1), from the repository root as the README says, it prints its own patch's version."""
    snippet = readme_python()
    assert "ws://127.0.0.1:8800/ws" in snippet
    with trio.fail_after(TIMEOUT):
        async with open_sync_client(server.url) as other:
            for n in range(3):
                await other.patch(["form", "notes"], f"note {n}", ref=n)
            assert await other.wait_for_patch(2) == 3
            result = await trio.run_process(
                [sys.executable, "-"], cwd=ROOT, check=False, capture_stdout=True,
                capture_stderr=True,
                stdin=snippet.replace("127.0.0.1:8800", f"127.0.0.1:{server.port}").encode(),
            )
            assert result.returncode == 0, result.stderr.decode()
            tree = {"form": {"notes": "note 2", "name": "Ada"}}
            assert result.stdout.decode() == f"4 {tree}\n"
            await other.wait_for_version(4)
            # a refused patch raises, with the server's reply
            await other.patch(["form", "notes", "deeper"], "x", ref="bad")
            with pytest.raises(PatchRefused) as refused:
                await other.wait_for_patch("bad")
            assert refused.value.error.code == "conflict"
    server.check_healthy()


# -- a slow reader --------------------------------------------------------------------------


async def test_a_client_that_stops_reading_is_closed_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = SyncServer(max_queue=16384)
    edits = 300
    chooser = random.Random(7)
    with trio.fail_after(TIMEOUT):
        async with server.running(), open_client(server) as slow:
            # The slow client stops reading: what the server sends it piles up in the
            # pipe, then (the pipe full) in its queue at the broadcaster.
            incoming = rawsock.testing.transport_of(slow.ws).to_client
            incoming.pause()
            async with clients(server, 2) as (writer, reader):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(reader.wait_for_version, edits)
                    nursery.start_soon(writer.wait_for_version, edits)
                    for number in range(edits):  # 2 KB that compress badly, each time
                        text = "".join(chooser.choices("abcdefghijklmnopqrstuvwxyz", k=2000))
                        await writer.patch(["form", "notes"], text, ref=number)
                assert "fell behind" in caplog.text
                assert incoming.blocked  # the close frame waits behind what it did not read

                # Reading again, the slow client finds its queue cut short by a 1013 close.
                incoming.resume()
                with pytest.raises(rawsock.ConnectionClosed) as closed:
                    await slow.wait_for_version(edits)
                assert closed.value.code == 1013
                assert slow.replica.version is not None and slow.replica.version < edits

                # Reconnecting gives it a fresh snapshot: it has caught up.
                async with open_client(server) as again:
                    assert again.replica.version == edits
                    assert again.replica.tree == reader.replica.tree
    check_no_errors_logged(caplog)


# -- the page -------------------------------------------------------------------------------


@dataclass
class HTTPAnswer:
    """A parsed HTTP/1.1 response."""

    status: int
    headers: dict[str, str]
    body: bytes


async def http_request(port: int, path: str, method: str = "GET") -> HTTPAnswer:
    """One plain HTTP/1.1 request over a fresh connection; the server closes it."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        request = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        await stream.send_all(request.encode())
        received = bytearray()
        while chunk := await stream.receive_some(65536):  # until the server closes
            received += chunk
            assert len(received) < 1_000_000
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return HTTPAnswer(int(status_line.split()[1]), headers, body)


async def test_the_page_is_served_on_the_same_port(server: RunningServer) -> None:
    with trio.fail_after(TIMEOUT):
        page = await http_request(server.port, "/")
        assert page.status == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        html = page.body.decode()
        assert html == (STATIC_DIRECTORY / "index.html").read_text()
        for field, path in [
            ("name", "form.name"), ("email", "form.email"), ("subscribed", "form.subscribed"),
            ("plan", "form.plan"), ("notes", "form.notes"),
        ]:
            assert re.search(rf'id="field-{field}"[^>]*data-path="{path}"', html, re.DOTALL)
        assert "http://" not in html and "https://" not in html  # nothing from elsewhere

        for asset, content_type in [("/sync.js", "text/javascript"), ("/sync.css", "text/css")]:
            assert f'"{asset}"' in html
            answer = await http_request(server.port, asset)
            assert answer.status == 200
            assert answer.headers["content-type"].startswith(content_type)
            assert answer.body == (STATIC_DIRECTORY / asset.lstrip("/")).read_bytes()

        script = (STATIC_DIRECTORY / "sync.js").read_text()
        for element_id in re.findall(r'getElementById\("([^"]+)"\)', script):
            assert f'id="{element_id}"' in html, element_id
        assert "new WebSocket(" in script

        assert (await http_request(server.port, "/missing")).status == 404
        assert (await http_request(server.port, "/", method="POST")).status == 405
        head = await http_request(server.port, "/", method="HEAD")
        assert (head.status, head.body) == (200, b"")
    server.check_healthy()


async def test_upgrades_only_at_the_endpoint_and_from_this_server_s_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = SyncServer()
    with trio.fail_after(TIMEOUT):
        async with server.running():
            assert await refused_status(open_client(server, "/")) == 404
            foreign = [("Origin", "http://attacker.example")]
            assert await refused_status(open_client(server, headers=foreign)) == 403
            own = [("Origin", f"http://{rawsock.testing.DEFAULT_HOST}")]
            async with open_client(server, headers=own) as client:
                assert client.replica.version == 0
                assert client.replica.client == "c1"  # the refused ones never got a name
    check_no_errors_logged(caplog)


async def test_ctrl_c_closes_the_connections_and_exits_cleanly(server: RunningServer) -> None:
    with trio.fail_after(TIMEOUT):
        async with open_sync_client(server.url) as client:
            output = await trio.to_thread.run_sync(server.program.stop)
            with pytest.raises(rawsock.ConnectionClosed) as closed:
                await client.receive()
            assert closed.value.code == 1001
    assert server.program.process.returncode == 0, output
    assert "Traceback" not in output
    assert "stopping (SIGINT)" in output
