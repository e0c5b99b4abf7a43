"""Wrong argument types fail at the call with a TypeError that says what is accepted,
before anything is written: ``send(42)`` once sent 42 zero bytes."""

from __future__ import annotations

import pytest
import trio
from conftest import tcp_pair

import rawsock
from rawsock.sansio import Protocol, Role
from rawsock.testing import connection_pair

WRONG = [42, 4.2, {"a": 1}, ["x"], None, object()]


@pytest.mark.parametrize("pair", [connection_pair, tcp_pair], ids=["memory", "tcp"])
@pytest.mark.parametrize("message", WRONG, ids=lambda value: type(value).__name__)
async def test_send_refuses_anything_but_str_and_bytes_like(pair: object, message: object) -> None:
    with trio.fail_after(5):
        async with pair() as (client, server):  # type: ignore[operator]
            with pytest.raises(TypeError, match=r"str .*bytes-like"):
                await client.send(message)
            if message is not None:  # (ping() without a payload makes its own)
                with pytest.raises(TypeError, match="bytes-like"):
                    await client.ping(message)
            # nothing was written: the next message is the first the server gets
            for good in ("text", b"binary", bytearray(b"ba"), memoryview(b"mv")):
                await client.send(good)
                assert await server.receive() == (good if isinstance(good, str) else bytes(good))
            assert await client.ping(b"ok") >= 0


def test_the_core_refuses_them_too() -> None:
    protocol = Protocol(Role.SERVER)
    for message in WRONG:
        with pytest.raises(TypeError):
            protocol.send(message)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            protocol.send_ping(message)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            protocol.send_pong(message)  # type: ignore[arg-type]
    assert protocol.data_to_send() == b""


async def test_broadcast_refuses_them() -> None:
    async with connection_pair() as (_client, server), trio.open_nursery() as nursery:
        broadcaster = rawsock.Broadcaster(nursery)
        broadcaster.add(server)
        with pytest.raises(TypeError, match="bytes-like"):
            broadcaster.send(42)  # type: ignore[arg-type]
        nursery.cancel_scope.cancel()
