"""rawsock.testing.connect: handlers run as under serve, in memory; every server option
passes through; wrong arguments fail at the call."""

from __future__ import annotations

import base64
import logging
import time
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from serving_helpers import closed_code, echo

import rawsock
import rawsock.testing
from rawsock.testing import Transport, connect, connection_pair, transport_of

# -- the handler runs as under serve ----------------------------------------------------


async def test_the_handler_sees_the_request_and_the_client_the_response() -> None:
    seen: list[object] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        seen.extend([ws.path, ws.request_headers.get("X-Test"), ws.request_headers.get("Host")])
        await echo(ws)

    async with connect(handler, "/chat?room=1", headers=[("X-Test", "yes")]) as ws:
        await ws.send("hello")
        assert await ws.receive() == "hello"
        await ws.send(b"\x00\xff")
        assert await ws.receive() == b"\x00\xff"
        assert ws.path == "/chat?room=1"
    assert seen == ["/chat?room=1", "yes", rawsock.testing.DEFAULT_HOST]


async def test_a_handler_that_returns_closes_with_1000_and_the_block_waits_for_it() -> None:
    finished = trio.Event()

    async def handler(ws: rawsock.WebSocket) -> None:
        await ws.send("bye")
        finished.set()

    async with connect(handler) as ws:
        assert await ws.receive() == "bye"
        assert await closed_code(ws) == (1000, "")
    assert finished.is_set()


async def test_a_handler_exception_is_logged_and_closes_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="rawsock")

    async def handler(ws: rawsock.WebSocket) -> None:
        await ws.receive()
        raise RuntimeError("the handler broke")

    async with connect(handler) as ws:
        await ws.send("go")
        assert await closed_code(ws) == (1011, "internal error")
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    record = failures[0]
    assert record.name == "rawsock.server"
    assert "connection handler failed; closing the connection with 1011" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert isinstance(getattr(record, "conn_id", None), int)


async def test_a_handler_that_never_returns_is_cancelled_after_the_shutdown_timeout(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    cancelled = []

    async def handler(ws: rawsock.WebSocket) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.append(trio.current_time())

    async with connect(handler):
        opened = trio.current_time()
    assert cancelled and cancelled[0] - opened == pytest.approx(10, abs=0.5)
    assert any("did not return" in r.getMessage() for r in caplog.records)


async def test_an_exception_in_the_block_comes_out_as_itself() -> None:
    with pytest.raises(KeyError):
        async with connect(echo):
            raise KeyError("from the test")


async def test_a_refused_handshake_raises_what_a_real_client_gets() -> None:
    def hook(request: rawsock.Request) -> rawsock.HTTPResponse:
        return rawsock.HTTPResponse.text(401, "who are you?", [("X-Why", "no token")])

    with pytest.raises(rawsock.HandshakeRejected) as memory:
        async with connect(echo, handle_request=hook):
            pytest.fail("the handshake was refused")

    async with trio.open_nursery() as nursery:
        serving = partial(rawsock.serve, echo, "127.0.0.1", 0, handle_request=hook)
        server = await nursery.start(serving)
        with pytest.raises(rawsock.HandshakeRejected) as real:
            async with rawsock.connect(f"ws://127.0.0.1:{server.port}/"):
                pytest.fail("the handshake was refused")
        nursery.cancel_scope.cancel()

    assert memory.value.status_code == real.value.status_code == 401
    assert memory.value.body == real.value.body == b"who are you?\n"
    assert ("X-Why", "no token") in list(memory.value.headers)


# -- every server option passes through --------------------------------------------------


async def _status(handler: rawsock.testing.Handler | None = None, **kwargs: Any) -> int:
    """101 if the handshake through ``connect(**kwargs)`` succeeds, else the status."""
    try:
        async with connect(handler or echo, **kwargs):
            return 101
    except rawsock.HandshakeError as error:
        return error.status_code


def _basic(user: str, password: str) -> list[tuple[str, str]]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [("Authorization", f"Basic {token}")]


APP = "https://app.example.org"
AUTH = rawsock.BasicAuth({"ada": "secret"})


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"allowed_hosts": ["chat.example.org"], "host": "chat.example.org"}, 101),
        ({"allowed_hosts": ["chat.example.org"]}, 421),
        ({"origins": [APP], "headers": [("Origin", APP)]}, 101),
        ({"origins": [APP], "headers": [("Origin", "https://evil.example")]}, 403),
        ({"basic_auth": AUTH, "headers": _basic("ada", "secret")}, 101),
        ({"basic_auth": AUTH, "headers": _basic("ada", "wrong")}, 401),
        ({"basic_auth": AUTH}, 401),
        ({"handle_request": lambda request: None}, 101),
        ({"handle_request": lambda request: rawsock.HTTPResponse.text(418, "teapot")}, 418),
        ({"max_request_line": 64, "path": "/" + "x" * 100}, 414),
        ({"max_headers": 8, "headers": [(f"X-{n}", "v") for n in range(10)]}, 431),
        ({"max_header_size": 300, "headers": [("X-Big", "v" * 400)]}, 431),
        ({"select_subprotocol": lambda request, offered: _refuse(400)}, 400),
    ],
)
async def test_the_handshake_options_are_checked(kwargs: dict[str, Any], status: int) -> None:
    assert await _status(**kwargs) == status


def _refuse(status: int) -> None:
    raise rawsock.HandshakeError("refused by the selector", status)


async def test_subprotocols_the_server_s_preference_and_the_selector() -> None:
    offered = ["chat.v1", "chat.v2"]
    supported = ["chat.v2", "chat.v1"]
    async with connect(echo, subprotocols=offered, server_subprotocols=supported) as ws:
        assert ws.subprotocol == "chat.v2"
    async with connect(echo, subprotocols=offered) as ws:
        assert ws.subprotocol is None  # the server supports none

    def select(request: rawsock.Request, offered: list[str]) -> str:
        return offered[-1]

    async with connect(echo, subprotocols=offered, select_subprotocol=select) as ws:
        assert ws.subprotocol == "chat.v2"


async def test_extra_headers_and_compression_reach_the_response() -> None:
    async with connect(echo, extra_headers=[("X-Server", "rawsock")]) as ws:
        assert ws.response_headers.get("X-Server") == "rawsock"
        assert "permessage-deflate" in (ws.response_headers.get("Sec-WebSocket-Extensions") or "")
    async with connect(echo, compression=None) as ws:
        assert ws.response_headers.get("Sec-WebSocket-Extensions") is None
    async with connect(echo, client_options={"compression": None}) as ws:
        assert ws.response_headers.get("Sec-WebSocket-Extensions") is None


async def test_max_message_size_and_max_frame_size_apply_to_the_handler_s_side() -> None:
    limits: list[rawsock.testing.HandlerOptions] = [
        {"max_message_size": 10},
        {"max_frame_size": 10},
    ]
    for options in limits:
        async with connect(echo, **options) as ws:
            await ws.send("x" * 10)
            assert await ws.receive() == "x" * 10
            await ws.send("x" * 11)
            assert (await closed_code(ws))[0] == 1009, options


async def test_receive_buffer_bounds_what_the_handler_s_side_reads() -> None:
    pending: list[int] = []
    go = trio.Event()

    async def handler(ws: rawsock.WebSocket) -> None:
        await go.wait()
        pending.append(ws.pending_bytes)
        await echo(ws)

    unbounded = Transport(limit=None)  # the client's sends never wait
    async with connect(handler, receive_buffer=1000, compression=None, transport=unbounded) as ws:
        for _ in range(500):
            await ws.send(b"x" * 200)
        await trio.sleep(0.2)  # the handler's side reads in the background until full
        go.set()
        for _ in range(500):
            assert await ws.receive() == b"x" * 200
    # one read past the budget at most (500 messages would count 132 000)
    assert 1000 <= pending[0] < 1000 + 16 * 1024


async def test_the_server_s_keepalive_closes_a_silent_client_in_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[tuple[int, float]] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        code, _ = await closed_code(ws)
        seen.append((code, trio.current_time()))

    wall = time.monotonic()
    transport = Transport()
    async with connect(
        handler,
        transport=transport,
        client_options={"ping_interval": None},
        ping_interval=5.0,
        ping_timeout=3.0,
    ):
        opened = trio.current_time()
        transport.pause()
        await trio.sleep(100)
    assert time.monotonic() - wall < 1.0
    assert seen[0][0] == 1011
    assert 8 <= seen[0][1] - opened <= 8 + 3  # interval + timeout, + the closing


async def test_without_keepalive_a_silent_client_stays_connected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connect(echo, ping_interval=None, client_options={"ping_interval": None}) as ws:
        transport_of(ws).pause()
        await trio.sleep(1000)
        transport_of(ws).resume()
        await ws.send("still there")
        assert await ws.receive() == "still there"


async def test_open_timeout_and_close_timeout_in_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    slow = Transport()
    slow.to_server.delay = 30  # the request takes 30 s to arrive
    started = trio.current_time()
    status = await _status(open_timeout=5, transport=slow, client_options={"open_timeout": 60})
    assert status == 0  # the server hung up without an answer, after its 5 s
    assert trio.current_time() - started == pytest.approx(5, abs=0.1)

    closed: list[float] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        transport_of(ws).to_server.pause()  # the client's close frame never comes
        start = trio.current_time()
        await ws.aclose()
        closed.append(trio.current_time() - start)

    async with connect(handler, close_timeout=4) as ws:
        await closed_code(ws)
        await trio.sleep(10)  # (the end of the block would resume the pipe)
    assert 4 <= closed[0] <= 4 + 2.1  # close_timeout, and at most 2 s reading on


async def test_wrong_arguments_fail_at_the_call_naming_them() -> None:
    with pytest.raises(TypeError, match=r"'max_mesage_size'.*'max_message_size'"):
        connect(echo, max_mesage_size=10)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="server_subprotocols"):
        connect(echo, server_subprotocols="chat")
    with pytest.raises(ValueError, match="ping_interval"):
        connect(echo, ping_interval=-1)
    with pytest.raises(TypeError, match="headers"):
        connect(echo, headers=[("X", 1)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="subprotocols"):
        connect(echo, subprotocols="chat")
    with pytest.raises(ValueError, match="path"):
        connect(echo, "chat")
    with pytest.raises(TypeError, match="host"):
        connect(echo, host=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="client_options got an unknown option 'proxy'"):
        connect(echo, client_options={"proxy": None})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="client_options: max_message_size"):
        connect(echo, client_options={"max_message_size": 0})
    with pytest.raises(TypeError, match="transport"):
        connect(echo, transport=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"connection_pair.*'subprotocols'"):
        connection_pair(subprotocols=["a"])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="max_message_size"):
        connection_pair(max_message_size=0)


async def test_handler_options_are_the_server_options_with_one_name_changed() -> None:
    mine = dict(rawsock.testing.HandlerOptions.__annotations__)
    theirs = dict(rawsock.ServerOptions.__annotations__)
    assert mine.pop("server_subprotocols").__forward_arg__ == "Sequence[str]"
    assert theirs.pop("subprotocols").__forward_arg__ == "Sequence[str]"
    assert {name: hint.__forward_arg__ for name, hint in mine.items()} == {
        name: hint.__forward_arg__ for name, hint in theirs.items()
    }
