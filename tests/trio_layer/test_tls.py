"""``serve(..., ssl_context=...)``: wss:// with real TLS handshakes over loopback (trustme)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trio
import trustme
from serving_helpers import echo, running_server

import rawsock


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_context(ca: trustme.CA) -> Iterator[ssl.SSLContext]:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    yield context


async def test_wss_server_round_trip(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    tls_versions: list[str | None] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        await echo(ws)

    with trio.fail_after(10):
        async with running_server(handler, ssl_context=server_context) as server:
            for host in ("127.0.0.1", "localhost"):
                url = f"wss://{host}:{server.port}/secure"
                async with rawsock.connect(url, ssl_context=client_context) as ws:
                    await ws.send("over TLS")
                    assert await ws.receive() == "over TLS"
                    await ws.send(bytes(200_000))
                    assert await ws.receive() == bytes(200_000)
                    stream = ws.stream
                    assert isinstance(stream, trio.SSLStream)
                    tls_versions.append(stream.version())
                assert ws.close_code == 1000
    assert all(version in ("TLSv1.2", "TLSv1.3") for version in tls_versions)


async def test_wss_server_refuses_plain_ws_and_untrusting_clients(
    server_context: ssl.SSLContext,
) -> None:
    with trio.fail_after(10):
        async with running_server(ssl_context=server_context, open_timeout=2) as server:
            # A plain-text upgrade request is not a TLS ClientHello.
            with pytest.raises(rawsock.HandshakeError):
                async with rawsock.connect(f"ws://127.0.0.1:{server.port}/"):
                    pass  # pragma: no cover
            # A client that does not trust the test CA.
            with pytest.raises(rawsock.HandshakeError) as info:
                async with rawsock.connect(f"wss://127.0.0.1:{server.port}/"):
                    pass  # pragma: no cover
            cause: BaseException | None = info.value
            while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
                cause = cause.__cause__
            assert isinstance(cause, ssl.SSLCertVerificationError)


async def test_wss_server_with_a_wrong_hostname(
    ca: trustme.CA, client_context: ssl.SSLContext
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("other.example").configure_cert(context)
    with trio.fail_after(10):
        async with running_server(ssl_context=context) as server:
            with pytest.raises(rawsock.HandshakeError):
                async with rawsock.connect(
                    f"wss://127.0.0.1:{server.port}/", ssl_context=client_context
                ):
                    pass  # pragma: no cover
            # The server survives failed TLS handshakes.
            insecure = ssl.create_default_context()
            insecure.check_hostname = False
            insecure.verify_mode = ssl.CERT_NONE
            async with rawsock.connect(
                f"wss://127.0.0.1:{server.port}/", ssl_context=insecure
            ) as ws:
                await ws.send("accepted without checks")
                assert await ws.receive() == "accepted without checks"
