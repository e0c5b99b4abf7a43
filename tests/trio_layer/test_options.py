"""Connection options: typed once, checked at the call, errors that name the option.

Every option gets a wrong type (``TypeError``) and, where it has a range, a value out of
it (``ValueError``), through every public entry point, and each must fail before any
I/O: ``accept``/``serve_stream`` before reading their stream, ``connect`` and
``reconnect`` at the call itself, ``serve`` before binding its port, ``serve_unix``
before creating its socket file.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from serving_helpers import echo, running_server

import rawsock
from rawsock._options import CLIENT_OPTIONS, SERVER_OPTIONS, SHARED_OPTIONS
from rawsock._settings import ClientSettings, ConnectionSettings, ServerSettings

ROOT = Path(__file__).resolve().parents[2]

# (option, bad value, exception, the exact message)
SHARED_BAD: list[tuple[str, object, type[Exception], str]] = [
    ("compression", {"level": 9}, TypeError,
     "compression must be a PerMessageDeflate or None, not dict"),
    ("max_message_size", "1MB", TypeError, "max_message_size must be an int or None, not str"),
    ("max_message_size", True, TypeError, "max_message_size must be an int or None, not bool"),
    ("max_message_size", 0, ValueError, "max_message_size must be >= 1 (or None), not 0"),
    ("max_message_size", -1, ValueError, "max_message_size must be >= 1 (or None), not -1"),
    ("max_frame_size", 1.5, TypeError, "max_frame_size must be an int or None, not float"),
    ("max_frame_size", 0, ValueError, "max_frame_size must be >= 1 (or None), not 0"),
    ("receive_buffer", None, TypeError, "receive_buffer must be an int, not NoneType"),
    ("receive_buffer", 0, ValueError, "receive_buffer must be >= 1, not 0"),
    ("open_timeout", "10", TypeError, "open_timeout must be a number or None, not str"),
    ("open_timeout", 0, ValueError, "open_timeout must be > 0 (or None), not 0"),
    ("close_timeout", None, TypeError, "close_timeout must be a number, not NoneType"),
    ("close_timeout", -1.0, ValueError, "close_timeout must be > 0, not -1.0"),
    ("ping_interval", False, TypeError, "ping_interval must be a number or None, not bool"),
    ("ping_interval", 0, ValueError, "ping_interval must be > 0 (or None), not 0"),
    ("ping_interval", math.nan, ValueError, "ping_interval must be > 0 (or None), not nan"),
    ("ping_timeout", "20", TypeError, "ping_timeout must be a number or None, not str"),
    ("ping_timeout", -5, ValueError, "ping_timeout must be > 0 (or None), not -5"),
]
BOTH_SIDES_BAD: list[tuple[str, object, type[Exception], str]] = [
    ("subprotocols", "chat", TypeError, "subprotocols must be a sequence of str, not str"),
    ("subprotocols", ["chat", 2], TypeError, "subprotocols[1] must be a str, not int"),
    ("extra_headers", {"X-A": "1"}, TypeError,
     "extra_headers must be a sequence of (name, value) pairs, not dict"),
    ("extra_headers", ["X-A: 1"], TypeError,
     "extra_headers[0] must be a (name, value) pair, not str"),
    ("extra_headers", [("X-A", 1)], TypeError,
     "extra_headers[0] must be a (str, str) pair, not (str, int)"),
]
SERVER_BAD = [
    *SHARED_BAD,
    *BOTH_SIDES_BAD,
    ("select_subprotocol", "chat", TypeError,
     "select_subprotocol must be callable or None, not str"),
    ("handle_request", 404, TypeError, "handle_request must be callable or None, not int"),
    ("allowed_hosts", "example.com", TypeError,
     "allowed_hosts must be a sequence of str or None, not str"),
    ("allowed_hosts", [None], TypeError, "allowed_hosts[0] must be a str, not NoneType"),
    ("origins", "https://a.test", TypeError,
     "origins must be a sequence of str or None, not str"),
    ("origins", [None, 1], TypeError, "origins[1] must be a str or None, not int"),
    ("basic_auth", {"alice": "pw"}, TypeError, "basic_auth must be a BasicAuth or None, not dict"),
    ("max_request_line", "8k", TypeError, "max_request_line must be an int, not str"),
    ("max_request_line", 0, ValueError, "max_request_line must be >= 1, not 0"),
    ("max_header_size", None, TypeError, "max_header_size must be an int, not NoneType"),
    ("max_header_size", -1, ValueError, "max_header_size must be >= 1, not -1"),
    ("max_headers", 1.0, TypeError, "max_headers must be an int, not float"),
    ("max_headers", 0, ValueError, "max_headers must be >= 1, not 0"),
]
CLIENT_BAD = [
    *SHARED_BAD,
    *BOTH_SIDES_BAD,
    ("ssl_context", True, TypeError, "ssl_context must be an ssl.SSLContext or None, not bool"),
    ("unix_socket_path", b"/run/ws.sock", TypeError,
     "unix_socket_path must be a str, an os.PathLike or None, not bytes"),
    ("proxy", 3128, TypeError, "proxy must be a str, a bool or None, not int"),
    ("max_redirects", None, TypeError, "max_redirects must be an int, not NoneType"),
    ("max_redirects", -1, ValueError, "max_redirects must be >= 0, not -1"),
    ("http2", "yes", TypeError, "http2 must be True, False or 'auto', not 'yes'"),
]
# serve's and serve_unix's own arguments, and reconnect's.
SERVING_BAD: list[tuple[str, object, type[Exception], str]] = [
    ("ssl_context", "cert.pem", TypeError,
     "ssl_context must be an ssl.SSLContext or None, not str"),
    ("max_connections", 1.5, TypeError, "max_connections must be an int or None, not float"),
    ("max_connections", 0, ValueError, "max_connections must be >= 1 (or None), not 0"),
    ("shutdown_timeout", None, TypeError, "shutdown_timeout must be a number, not NoneType"),
    ("shutdown_timeout", 0, ValueError, "shutdown_timeout must be > 0, not 0"),
]
SERVE_BAD = [
    *SERVING_BAD,
    ("backlog", "128", TypeError, "backlog must be an int or None, not str"),
    ("backlog", 0, ValueError, "backlog must be >= 1 (or None), not 0"),
    ("reuse_port", 1, TypeError, "reuse_port must be a bool, not int"),
]
SERVE_UNIX_BAD = [
    *SERVING_BAD,
    ("backlog", None, TypeError, "backlog must be an int, not NoneType"),
    ("backlog", 0, ValueError, "backlog must be >= 1, not 0"),
]
RECONNECT_BAD: list[tuple[str, object, type[Exception], str]] = [
    ("initial_delay", "1", TypeError, "initial_delay must be a number, not str"),
    ("initial_delay", -1, ValueError, "initial_delay must be >= 0, not -1"),
    ("max_delay", None, TypeError, "max_delay must be a number, not NoneType"),
    ("max_delay", -0.5, ValueError, "max_delay must be >= 0, not -0.5"),
    ("factor", True, TypeError, "factor must be a number, not bool"),
    ("factor", 0.5, ValueError, "factor must be >= 1, not 0.5"),
    ("jitter", "half", TypeError, "jitter must be a number, not str"),
    ("jitter", 2, ValueError, "jitter must be >= 0 and <= 1, not 2"),
    ("max_attempts", 1.0, TypeError, "max_attempts must be an int or None, not float"),
    ("max_attempts", 0, ValueError, "max_attempts must be >= 1 (or None), not 0"),
    ("retry_on", "always", TypeError, "retry_on must be callable, not str"),
]
# Options whose values have a range beyond their type (the others only have a type).
RANGED = {
    "max_message_size", "max_frame_size", "receive_buffer", "open_timeout", "close_timeout",
    "ping_interval", "ping_timeout", "max_request_line", "max_header_size", "max_headers",
    "max_redirects",
}


def cases(table: list[tuple[str, object, type[Exception], str]]) -> Any:
    return pytest.mark.parametrize(
        ("name", "value", "error", "message"),
        table,
        ids=[f"{name}={value!r}" for name, value, _, _ in table],
    )


def raises(error: type[Exception], message: str) -> Any:
    """``pytest.raises`` for exactly this message."""
    return pytest.raises(error, match=f"^{re.escape(message)}$")


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port something else listens on: binding it fails."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the tables cover every option --------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "table", "bad"),
    [
        (rawsock.ServerOptions, SERVER_OPTIONS, SERVER_BAD),
        (rawsock.ClientOptions, CLIENT_OPTIONS, CLIENT_BAD),
    ],
)
def test_every_option_has_a_check_and_a_test(typed: Any, table: Any, bad: Any) -> None:
    names = set(typed.__optional_keys__)
    assert not typed.__required_keys__
    assert set(table) == names
    assert {name for name, _, error, _ in bad if error is TypeError} == names
    assert {name for name, _, error, _ in bad if error is ValueError} == names & RANGED


@pytest.mark.parametrize(
    ("settings", "typed"),
    [
        (ConnectionSettings, rawsock.ConnectionOptions),
        (ServerSettings, rawsock.ServerOptions),
        (ClientSettings, rawsock.ClientOptions),
    ],
)
def test_settings_have_exactly_the_typed_options(settings: Any, typed: Any) -> None:
    assert {field.name for field in fields(settings)} == set(typed.__optional_keys__)
    assert set(settings.OPTIONS) == set(typed.__optional_keys__)
    assert set(SHARED_OPTIONS) == set(rawsock.ConnectionOptions.__optional_keys__)


@pytest.mark.parametrize(
    ("typed", "own"),
    [
        (rawsock.ConnectionOptions, set(SHARED_OPTIONS)),
        (rawsock.ServerOptions, set(SERVER_OPTIONS) - set(SHARED_OPTIONS)),
        (rawsock.ClientOptions, set(CLIENT_OPTIONS) - set(SHARED_OPTIONS)),
    ],
)
def test_each_option_is_documented_once_with_its_default(typed: Any, own: set[str]) -> None:
    doc = inspect.cleandoc(typed.__doc__)
    _, attributes = doc.split("Attributes:\n")
    entries = dict(re.findall(r"^ {4}(\w+): (.*?)(?=^ {4}\w+: |\Z)", attributes, re.M | re.S))
    assert set(entries) == own
    assert all("Default" in text for text in entries.values())
    for name in SHARED_OPTIONS:  # the server's and client's docs name the shared ones
        assert f"``{name}``" in doc or name in entries


@pytest.mark.parametrize(
    ("function", "typed"),
    [
        (rawsock.accept, "ServerOptions"),
        (rawsock.serve, "ServerOptions"),
        (rawsock.serve_unix, "ServerOptions"),
        (rawsock.serve_stream, "ServerOptions"),
        (rawsock.connect, "ClientOptions"),
        (rawsock.reconnect, "ClientOptions"),
    ],
)
def test_entry_points_point_to_the_options(function: Any, typed: str) -> None:
    doc = " ".join((function.__doc__ or "").split())
    if function is not rawsock.serve_unix:  # "Same as serve otherwise"
        assert f":class:`rawsock.{typed}`" in doc
        assert ":class:`rawsock.ConnectionOptions`" in doc
    assert typed in str(function.__annotations__["options"])


def test_options_module_imports_no_connection_module() -> None:
    """The connection modules import their defaults from ``_options``: no cycle."""
    seen: set[Path] = set()
    todo = [ROOT / "rawsock" / "_options.py"]
    while todo:
        path = todo.pop()
        if path in seen or not path.exists():  # (not there: the optional C extension)
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                todo.append(path.parent.joinpath(*node.module.split(".")).with_suffix(".py"))
    names = {path.stem for path in seen}
    assert {"_security", "_http", "_deflate"} <= names  # the walk does follow imports
    forbidden = {"_connection", "_reader", "_receiving", "_settings", "_accept", "_client"}
    assert not names & forbidden


# -- server entry points ------------------------------------------------------------------


@cases(SERVER_BAD)
async def test_accept_checks_each_option_before_reading(
    name: str, value: object, error: type[Exception], message: str
) -> None:
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(b"GET / HTTP/1.1\r\n")  # never read
    with trio.fail_after(5):
        with raises(error, message):
            await rawsock.accept(server, **{name: value})
        assert await client.receive_some() == b""  # closed, as after any failed accept


@cases(SERVER_BAD)
async def test_serve_stream_checks_each_option(
    name: str, value: object, error: type[Exception], message: str
) -> None:
    handled: list[rawsock.WebSocket] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        handled.append(ws)  # pragma: no cover

    client, server = trio.testing.memory_stream_pair()
    with trio.fail_after(5):
        with raises(error, message):
            await rawsock.serve_stream(handler, server, **{name: value})
        assert await client.receive_some() == b""  # closed
    assert not handled


@cases(SERVER_BAD + SERVE_BAD)
async def test_serve_checks_each_argument_before_binding(
    name: str, value: object, error: type[Exception], message: str, occupied_port: int
) -> None:
    """Binding the occupied port would raise OSError: the check comes first."""
    with trio.fail_after(5), raises(error, message):
        await rawsock.serve(echo, "127.0.0.1", occupied_port, **{name: value})


async def test_serve_with_valid_options_does_bind(occupied_port: int) -> None:
    """The control for the test above: with valid options, binding is what fails."""
    with trio.fail_after(5), pytest.raises(OSError):
        await rawsock.serve(echo, "127.0.0.1", occupied_port, ping_interval=5)


@cases(SERVER_BAD + SERVE_UNIX_BAD)
async def test_serve_unix_checks_each_argument_before_binding(
    name: str, value: object, error: type[Exception], message: str, tmp_path: Path
) -> None:
    path = tmp_path / "ws.sock"
    with trio.fail_after(5), raises(error, message):
        await rawsock.serve_unix(echo, path, **{name: value})
    assert not path.exists()  # binding would have created it


# -- client entry points ------------------------------------------------------------------


@cases(CLIENT_BAD)
def test_connect_checks_each_option_at_the_call(
    name: str, value: object, error: type[Exception], message: str, closed_port: int
) -> None:
    """Raised by the call itself, outside any Trio run: no I/O can have happened."""
    with raises(error, message):
        rawsock.connect(f"ws://127.0.0.1:{closed_port}/", **{name: value})


async def test_connect_to_the_closed_port_is_a_connection_error(closed_port: int) -> None:
    """The control for the test above: valid options do reach the network."""
    with trio.fail_after(5), pytest.raises(OSError):
        async with rawsock.connect(f"ws://127.0.0.1:{closed_port}/", ping_interval=5):
            pass  # pragma: no cover


async def test_connect_leaves_a_given_stream_alone_when_an_option_is_wrong() -> None:
    client, server = trio.testing.memory_stream_pair()
    with trio.fail_after(5):
        with raises(ValueError, "receive_buffer must be >= 1, not 0"):
            rawsock.connect("ws://test.invalid/", stream=client, receive_buffer=0)
        await client.send_all(b"still open")
        assert await server.receive_some() == b"still open"


@cases(CLIENT_BAD + RECONNECT_BAD)
def test_reconnect_checks_each_argument_at_the_call(
    name: str, value: object, error: type[Exception], message: str, closed_port: int
) -> None:
    with raises(error, message):
        rawsock.reconnect(f"ws://127.0.0.1:{closed_port}/", **{name: value})


# -- unknown names ------------------------------------------------------------------------


async def test_a_misspelt_option_is_named_with_a_suggestion(
    occupied_port: int, tmp_path: Path
) -> None:
    def expected(caller: str) -> str:
        return f"{caller}() got an unknown option 'ping_intervall' (did you mean 'ping_interval'?)"

    option: dict[str, Any] = {"ping_intervall": 5}
    with raises(TypeError, expected("connect")):
        rawsock.connect("ws://127.0.0.1/", **option)
    with raises(TypeError, expected("reconnect")):
        rawsock.reconnect("ws://127.0.0.1/", **option)
    with trio.fail_after(5):
        with raises(TypeError, expected("serve")):
            await rawsock.serve(echo, "127.0.0.1", occupied_port, **option)
        with raises(TypeError, expected("serve_unix")):
            await rawsock.serve_unix(echo, tmp_path / "ws.sock", **option)
        for function in (rawsock.accept, partial(rawsock.serve_stream, echo)):
            _, server = trio.testing.memory_stream_pair()
            caller = "accept" if function is rawsock.accept else "serve_stream"
            with raises(TypeError, expected(caller)):
                await function(server, **option)


async def test_an_option_of_the_other_side_is_unknown(occupied_port: int) -> None:
    with raises(TypeError, "connect() got an unknown option 'allowed_hosts'"):
        rawsock.connect("ws://127.0.0.1/", **{"allowed_hosts": ["a"]})
    with raises(TypeError, "reconnect() got an unknown option 'stream'"):
        rawsock.reconnect("ws://127.0.0.1/", **{"stream": None})
    with trio.fail_after(5), raises(TypeError, "serve() got an unknown option 'proxy'"):
        await rawsock.serve(echo, "127.0.0.1", occupied_port, **{"proxy": None})


# -- valid options ------------------------------------------------------------------------


async def test_every_option_at_once_in_a_real_handshake() -> None:
    seen: list[rawsock.Request] = []

    def hook(request: rawsock.Request) -> None:
        seen.append(request)

    def select(request: rawsock.Request, offered: list[str]) -> str:
        return offered[-1]

    client_stream, server_stream = trio.testing.memory_stream_pair()
    deflate = rawsock.PerMessageDeflate(server_no_context_takeover=True)
    shared: rawsock.ConnectionOptions = {
        "compression": deflate,
        "max_message_size": 10_000,
        "max_frame_size": 5_000,
        "receive_buffer": 20_000,
        "open_timeout": 5,  # an int for a float option
        "close_timeout": 1.5,
        "ping_interval": 30,
        "ping_timeout": 10,
    }
    server_options: rawsock.ServerOptions = {
        **shared,
        "subprotocols": ["b", "a"],
        "select_subprotocol": select,
        "extra_headers": [("X-Served-By", "rawsock")],
        "handle_request": hook,
        "allowed_hosts": ["test.invalid"],
        "origins": ["https://app.test", None],
        "basic_auth": rawsock.BasicAuth({"ada": "lovelace"}),
        "max_request_line": 1000,
        "max_header_size": 4000,
        "max_headers": 20,
    }
    client_options: rawsock.ClientOptions = {
        **shared,
        "subprotocols": ("a", "b"),
        "extra_headers": [
            ("Origin", "https://app.test"),
            ("Authorization", "Basic YWRhOmxvdmVsYWNl"),  # ada:lovelace
        ],
        "ssl_context": ssl.create_default_context(),
        "unix_socket_path": Path("/nonexistent/ws.sock"),  # unused with a given stream
        "proxy": False,
        "max_redirects": 0,
        "http2": False,  # (True would need wss://, and no given stream)
    }
    accepted: list[rawsock.WebSocket] = []

    async def accept() -> None:
        accepted.append(await rawsock.accept(server_stream, **server_options))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept)
            url = "ws://test.invalid/chat"
            async with rawsock.connect(url, stream=client_stream, **client_options) as client:
                await trio.testing.wait_all_tasks_blocked()
                server = accepted[0]
                assert client.subprotocol == server.subprotocol == "b"  # the selector's pick
                assert client.response_headers.get("X-Served-By") == "rawsock"
                assert "permessage-deflate" in (
                    client.response_headers.get("Sec-WebSocket-Extensions") or ""
                )
                await client.send("hello")
                assert await server.receive() == "hello"
                await server.aclose()
    assert [request.path for request in seen] == ["/chat"]


async def test_sequences_are_copied_when_the_server_starts() -> None:
    subprotocols = ["v1"]
    with trio.fail_after(5):
        async with running_server(subprotocols=subprotocols) as server:
            subprotocols[0] = "v2"  # too late: the server took its own copy
            url = f"ws://127.0.0.1:{server.port}/"
            async with rawsock.connect(url, subprotocols=["v2", "v1"]) as ws:
                assert ws.subprotocol == "v1"


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
async def test_unix_socket_path_may_be_a_path_object(tmp_path: Path) -> None:
    path = tmp_path / "ws.sock"
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(rawsock.serve_unix, echo, path)
            async with rawsock.connect("ws://localhost/", unix_socket_path=path) as ws:
                await ws.send("over a Path")
                assert await ws.receive() == "over a Path"
            await server.aclose()


# -- static checking ----------------------------------------------------------------------

TYPING = Path(__file__).resolve().parents[1] / "typing"


def run_mypy(path: Path) -> list[str]:
    from mypy import api

    flags = ["--strict", "--no-error-summary", "--show-error-codes", "--no-pretty"]
    config = ["--no-color-output", "--config-file", str(ROOT / "pyproject.toml")]
    stdout, stderr, _ = api.run([*flags, *config, str(path)])
    assert not stderr
    errors = [line for line in stdout.splitlines() if ": error: " in line]  # not the notes
    return [line.partition(f"{path.name}:")[2] for line in errors]  # "15: error: ..."


def test_mypy_reports_a_misspelt_option_and_a_wrong_type() -> None:
    assert run_mypy(TYPING / "misspelt_option.py") == [
        '15: error: Unexpected keyword argument "ping_intervall" for "serve"; '
        'did you mean "ping_interval"?  [call-arg]',
        '16: error: Argument "max_message_size" to "connect" has incompatible type '
        '"str"; expected "int | None"  [arg-type]',
    ]


def test_mypy_accepts_correct_options() -> None:
    assert run_mypy(TYPING / "correct_options.py") == []
