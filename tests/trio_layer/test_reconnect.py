"""``rawsock.reconnect``: exponential backoff with jitter, under trio's mock clock.

The server listens on a Unix-domain socket in the same run: the kernel hands bytes
over at once, so the autojumping clock only moves while every task sleeps, and the
times the server records are exactly the client's backoff delays.
"""

from __future__ import annotations

import itertools
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing
from serving_helpers import echo

import rawsock
from rawsock import HTTPResponse, Request

OPTIONS = {"ping_interval": None, "open_timeout": None}


async def test_backoff_grows_exponentially_with_jitter_then_connects(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    path = str(tmp_path / "ws.sock")
    attempts: list[float] = []
    busy_until = 5  # the first four attempts get 503

    def hook(request: Request) -> HTTPResponse | None:
        attempts.append(trio.current_time())
        if len(attempts) < busy_until:
            return HTTPResponse.text(503, "busy")
        return None

    async def greet(ws: rawsock.WebSocket) -> None:
        await ws.send(f"welcome #{len(attempts)}")
        await echo(ws)

    connected_at: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(rawsock.serve_unix, greet, path, handle_request=hook))
        connections = rawsock.reconnect(
            "ws://localhost/",
            unix_socket_path=path,
            initial_delay=1.0,
            factor=2.0,
            max_delay=5.0,
            jitter=0.5,
            **OPTIONS,
        )
        async with connections:
            async for ws in connections:
                connected_at.append(trio.current_time())
                assert await ws.receive() == f"welcome #{len(attempts)}"
                assert connections.failures == 0
                if len(connected_at) == 2:
                    break
                await ws.aclose()  # the connection ends; the loop reconnects
        assert ws.closed  # closed by ``async with`` after the break
        nursery.cancel_scope.cancel()

    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    # Failures 1 to 4 wait 1, 2, 4, then 5 (max_delay) seconds, less up to half of it.
    for gap, ceiling in zip(gaps, [1.0, 2.0, 4.0, 5.0], strict=False):
        assert ceiling / 2 <= gap <= ceiling
    # After a success the count restarts: the next connection waits the first delay.
    assert 0.5 <= gaps[4] <= 1.0
    assert len(attempts) == 6


async def test_permanent_rejections_are_not_retried(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    path = str(tmp_path / "ws.sock")
    calls = 0

    def forbid(request: Request) -> HTTPResponse:
        nonlocal calls
        calls += 1
        return HTTPResponse.text(403, "go away")

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(rawsock.serve_unix, echo, path, handle_request=forbid))
        start = trio.current_time()
        with pytest.raises(rawsock.HandshakeRejected) as info:
            async for _ in rawsock.reconnect("ws://localhost/", unix_socket_path=path, **OPTIONS):
                pass  # pragma: no cover
        assert trio.current_time() == start  # no backoff at all
        nursery.cancel_scope.cancel()
    assert info.value.status_code == 403
    assert calls == 1


async def test_max_attempts_gives_up_with_the_last_error(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    missing = str(tmp_path / "nobody-listens.sock")
    connections = rawsock.reconnect(
        "ws://localhost/",
        unix_socket_path=missing,
        initial_delay=1.0,
        factor=3.0,
        jitter=0.0,
        max_attempts=3,
        **OPTIONS,
    )
    start = trio.current_time()
    with pytest.raises(FileNotFoundError):
        await connections.__anext__()
    assert trio.current_time() - start == pytest.approx(1.0 + 3.0)
    assert connections.failures == 3


async def test_a_custom_retry_rule(autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    missing = str(tmp_path / "nobody-listens.sock")
    seen: list[Exception] = []

    def never(error: Exception) -> bool:
        seen.append(error)
        return False

    with pytest.raises(FileNotFoundError):
        async for _ in rawsock.reconnect(
            "ws://localhost/", unix_socket_path=missing, retry_on=never, **OPTIONS
        ):
            pass  # pragma: no cover
    assert len(seen) == 1


def test_delay_bounds_and_defaults() -> None:
    connections = rawsock.reconnect("ws://localhost/", jitter=0.0)
    assert [connections.delay(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert connections.delay(10_000) == 60  # no overflow
    jittered = rawsock.reconnect("ws://localhost/")
    samples = [jittered.delay(2) for _ in range(200)]
    assert all(2.0 <= s <= 4.0 for s in samples)
    assert len(set(samples)) > 100  # actually random
    assert rawsock._reconnect.should_retry(OSError("refused"))
    assert rawsock._reconnect.should_retry(rawsock.HandshakeError("timed out", 408))
    assert rawsock._reconnect.should_retry(rawsock.HandshakeRejected(502, [], b""))
    assert not rawsock._reconnect.should_retry(rawsock.HandshakeRejected(404, [], b""))
    assert not rawsock._reconnect.should_retry(ValueError("bad URL"))
    with pytest.raises(ValueError):
        rawsock.reconnect("ws://localhost/", jitter=2)
    with pytest.raises(TypeError):
        rawsock.reconnect("ws://localhost/", stream=None)
