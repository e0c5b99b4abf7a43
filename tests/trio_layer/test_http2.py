"""WebSockets over HTTP/2 (RFC 8441), rawsock in both roles over TLS on loopback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from functools import partial

import h2.config
import h2.connection
import h2.exceptions
import pytest
import trio
import trio.testing
from http2_helpers import Certificates, echo, http2_server
from serving_helpers import running_server

import rawsock


@pytest.fixture(scope="module")
def certificates() -> Certificates:
    return Certificates()


async def wait_until(condition: Callable[[], object]) -> None:
    with trio.fail_after(5):
        while not condition():  # noqa: ASYNC110 - polls state owned by the server
            await trio.sleep(0.01)


async def test_a_websocket_over_http2_echoes_with_compression_and_closes_cleanly(
    certificates: Certificates,
) -> None:
    seen: list[rawsock.WebSocket] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        seen.append(ws)
        await echo(ws)

    payload = bytes(range(256)) * 4096  # 1 MiB: several flow-control windows
    with trio.fail_after(20):
        async with http2_server(certificates, handler) as server:
            url = f"wss://localhost:{server.port}/chat?room=1"
            context = certificates.client_context()
            async with rawsock.connect(url, ssl_context=context, http2=True) as ws:
                assert ws.http_version == "2"
                assert "permessage-deflate" in (
                    ws.response_headers.get("sec-websocket-extensions") or ""
                )
                await ws.send("héllo")
                assert await ws.receive() == "héllo"
                await ws.send(payload)
                assert await ws.receive() == payload
            assert ws.close_code == 1000
            await wait_until(lambda: seen and seen[0].close_code is not None)
    (server_side,) = seen
    assert server_side.http_version == "2"
    assert server_side.path == "/chat?room=1"
    assert server_side.close_code == 1000
    assert server_side.request_headers.get("host") == f"localhost:{server.port}"


async def test_websockets_to_one_server_share_one_connection_which_closes_after_the_last(
    certificates: Certificates,
) -> None:
    with trio.fail_after(20):
        async with http2_server(certificates) as server:
            url = f"wss://localhost:{server.port}/"
            context = certificates.client_context()
            opened: list[rawsock.WebSocket] = []
            done = trio.Event()

            async def client(index: int) -> None:
                async with rawsock.connect(url, ssl_context=context, http2=True) as ws:
                    opened.append(ws)
                    await done.wait()
                    await ws.send(f"message {index}")
                    assert await ws.receive() == f"message {index}"

            async with trio.open_nursery() as nursery:
                for index in range(8):
                    nursery.start_soon(client, index)
                await wait_until(lambda: len(opened) == 8)
                assert server.connections == 1  # eight WebSockets, one TCP connection
                done.set()
            await wait_until(lambda: server.connections == 0)
            # A new one opens a new connection.
            async with rawsock.connect(url, ssl_context=context, http2=True) as ws:
                await ws.send("again")
                assert await ws.receive() == "again"
                assert server.connections == 1


async def test_a_slow_reader_does_not_stall_the_other_websockets_on_its_connection(
    certificates: Certificates,
) -> None:
    sent = 0
    total = 4 * 1024 * 1024
    chunk = bytes(64 * 1024)

    async def handler(ws: rawsock.WebSocket) -> None:
        nonlocal sent
        if ws.path == "/flood":
            while sent < total:
                await ws.send(chunk)
                sent += len(chunk)
        await echo(ws)

    with trio.fail_after(30):
        async with http2_server(certificates, handler, compression=None) as server:
            context = certificates.client_context()
            base = f"wss://localhost:{server.port}"
            async with (
                rawsock.connect(base + "/flood", ssl_context=context, http2=True) as slow,
                rawsock.connect(base + "/echo", ssl_context=context, http2=True) as fast,
            ):
                assert server.connections == 1
                for index in range(200):  # the slow one is not read meanwhile
                    await fast.send(f"{index}")
                    assert await fast.receive() == f"{index}"
                await trio.sleep(0.2)
                # Flow control stopped the flood: at most the stream's window, the
                # client's receive buffer and the socket buffers are under way.
                assert sent < total // 2
                received = 0
                while received < total:
                    message = await slow.receive()
                    assert message == chunk
                    received += len(message)
                assert sent == total


async def test_a_client_sending_faster_than_the_server_reads_waits_without_stalling_others(
    certificates: Certificates,
) -> None:
    release = trio.Event()

    async def handler(ws: rawsock.WebSocket) -> None:
        if ws.path == "/late":
            await release.wait()
        await echo(ws)

    with trio.fail_after(30):
        async with http2_server(certificates, handler, compression=None) as server:
            context = certificates.client_context()
            base = f"wss://localhost:{server.port}"
            async with (
                rawsock.connect(base + "/late", ssl_context=context, http2=True) as late,
                rawsock.connect(base + "/echo", ssl_context=context, http2=True) as other,
            ):
                blocked = trio.Event()
                sent = 0

                async def flood() -> None:
                    nonlocal sent
                    for _ in range(64):
                        await late.send(bytes(64 * 1024))
                        sent += 1
                    blocked.set()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(flood)
                    await trio.sleep(0.3)
                    assert sent < 64  # the server's window holds the sender back
                    await other.send("still here")
                    assert await other.receive() == "still here"
                    release.set()
                    for _ in range(64):
                        assert await late.receive() == bytes(64 * 1024)
                assert blocked.is_set()


async def test_shutdown_sends_goaway_then_closes_each_websocket_with_1001(
    certificates: Certificates,
) -> None:
    with trio.fail_after(20):
        async with http2_server(certificates) as server:
            url = f"wss://localhost:{server.port}/"
            context = certificates.client_context()
            async with (
                rawsock.connect(url, ssl_context=context, http2=True) as first,
                rawsock.connect(url, ssl_context=context, http2=True) as second,
            ):
                await server.aclose()
                for ws in (first, second):
                    with pytest.raises(rawsock.ConnectionClosed) as closed:
                        await ws.receive()
                    assert closed.value.code == 1001
            assert server.connections == 0


async def test_http2_auto_falls_back_to_http11_when_the_server_offers_only_that(
    certificates: Certificates,
) -> None:
    async with running_server(echo, ssl_context=certificates.server_context()) as server:
        url = f"wss://localhost:{server.port}/"
        context = certificates.client_context()
        with trio.fail_after(10):
            async with rawsock.connect(url, ssl_context=context, http2="auto") as ws:
                assert ws.http_version == "1.1"
                await ws.send("over 1.1")
                assert await ws.receive() == "over 1.1"
            with pytest.raises(rawsock.HandshakeError, match=r"chose HTTP/1\.1"):
                async with rawsock.connect(url, ssl_context=context, http2=True):
                    pass  # pragma: no cover


async def test_the_server_checks_and_hooks_apply_over_http2(certificates: Certificates) -> None:
    def handle_request(request: rawsock.Request) -> rawsock.HTTPResponse | None:
        if request.path == "/forbidden":
            return rawsock.HTTPResponse.text(403, "no entry")
        if request.path == "/old":
            return rawsock.HTTPResponse.redirect("/new")
        return None

    async def handler(ws: rawsock.WebSocket) -> None:
        await ws.send(f"{ws.path} {ws.subprotocol}")

    with trio.fail_after(20):
        async with http2_server(
            certificates,
            handler,
            handle_request=handle_request,
            subprotocols=["chat.v2"],
            origins=["https://app.example"],
        ) as server:
            base = f"wss://localhost:{server.port}"
            context = certificates.client_context()
            origin = [("Origin", "https://app.example")]
            with pytest.raises(rawsock.HandshakeRejected) as rejected:
                async with rawsock.connect(base + "/forbidden", ssl_context=context, http2=True):
                    pass  # pragma: no cover
            assert rejected.value.status_code == 403
            assert rejected.value.body == b"no entry\n"
            with pytest.raises(rawsock.HandshakeRejected) as rejected:
                async with rawsock.connect(base + "/any", ssl_context=context, http2=True):
                    pass  # pragma: no cover
            assert rejected.value.status_code == 403  # no Origin: refused by `origins`
            async with rawsock.connect(
                base + "/old",
                ssl_context=context,
                http2=True,
                extra_headers=origin,
                subprotocols=["chat.v1", "chat.v2"],
            ) as ws:
                assert ws.http_version == "2"
                assert ws.subprotocol == "chat.v2"
                assert await ws.receive() == "/new chat.v2"


async def test_a_message_over_the_limit_closes_with_1009_over_http2(
    certificates: Certificates,
) -> None:
    with trio.fail_after(20):
        async with http2_server(certificates, max_message_size=1000) as server:
            url = f"wss://localhost:{server.port}/"
            context = certificates.client_context()
            async with rawsock.connect(url, ssl_context=context, http2=True) as ws:
                await ws.send(bytes(5000))
                with pytest.raises(rawsock.ConnectionClosed) as closed:
                    await ws.receive()
                assert closed.value.code == 1009


async def test_http2_arguments_are_checked_at_the_call(certificates: Certificates) -> None:
    with pytest.raises(ValueError, match="http2=True needs ssl_context"):
        await rawsock.serve(echo, "127.0.0.1", 0, http2=True)
    with pytest.raises(TypeError, match="http2 must be a bool"):
        await rawsock.serve(echo, "127.0.0.1", 0, http2="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="http2 must be True, False or 'auto'"):
        rawsock.connect("wss://localhost/", http2="yes")  # type: ignore[arg-type]
    stream, _ = trio.testing.memory_stream_pair()
    with pytest.raises(ValueError, match="cannot use stream"):
        rawsock.connect("wss://localhost/", stream=stream, http2=True)
    with pytest.raises(ValueError, match="wss://"):
        async with rawsock.connect("ws://localhost/", http2=True):
            pass  # pragma: no cover


def test_without_h2_everything_else_works_and_http2_names_the_extra() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["h2"] = None  # as if it were not installed
        import rawsock, trio

        async def main():
            for call in (
                lambda: rawsock.connect("wss://localhost/", http2=True),
                lambda: rawsock.connect("wss://localhost/", http2="auto"),
            ):
                try:
                    call()
                except ImportError as error:
                    print("connect:", error)
            import ssl
            try:
                await rawsock.serve(lambda ws: None, "127.0.0.1", 0, http2=True,
                                    ssl_context=ssl.create_default_context())
            except ImportError as error:
                print("serve:", error)
            async def echo(ws):
                await ws.send(await ws.receive())
            async with trio.open_nursery() as nursery:
                server = await nursery.start(rawsock.serve, echo, "127.0.0.1", 0)
                async with rawsock.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                    await ws.send("fine")
                    print("echo:", await ws.receive(), ws.http_version)
                await server.aclose()
        trio.run(main)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = result.stdout.splitlines()
    extra = "pip install 'rawsock[http2]'"
    assert lines == [
        f"connect: http2=True: HTTP/2 needs the h2 package: {extra}",
        f"connect: http2='auto': HTTP/2 needs the h2 package: {extra}",
        f"serve: http2=True: HTTP/2 needs the h2 package: {extra}",
        "echo: fine 1.1",
    ]


async def test_a_connection_without_streams_for_open_timeout_is_closed(
    certificates: Certificates,
) -> None:
    with trio.fail_after(10):
        async with http2_server(certificates, open_timeout=0.5) as server:
            url = f"wss://localhost:{server.port}/"
            context = certificates.client_context()
            async with rawsock.connect(url, ssl_context=context, http2=True) as ws:
                await trio.sleep(1.0)  # an open WebSocket keeps its connection
                await ws.send("alive")
                assert await ws.receive() == "alive"
                assert server.connections == 1
            context.set_alpn_protocols(["h2"])
            tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
            idle = trio.SSLStream(tcp, context, server_hostname="localhost", https_compatible=True)
            await idle.do_handshake()
            preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
            await idle.send_all(preface)
            started = trio.current_time()
            received = b""
            while data := await idle.receive_some():
                received += data
            await idle.aclose()
            assert 0.4 < trio.current_time() - started < 3
            assert bytes([0, 0, 8, 7, 0, 0, 0, 0, 0]) in received  # a GOAWAY frame
            await wait_until(lambda: server.connections == 0)


async def test_http2_auto_falls_back_when_the_http2_server_does_not_allow_websockets(
    certificates: Certificates,
) -> None:
    """An HTTP/2 server without SETTINGS_ENABLE_CONNECT_PROTOCOL (h2's defaults): "auto"
    opens a new connection that offers only HTTP/1.1; True says why it cannot."""
    protocols: list[str | None] = []

    async def serve_one(tcp: trio.SocketStream) -> None:
        context = certificates.server_context()
        context.set_alpn_protocols(["h2", "http/1.1"])
        tls = trio.SSLStream(tcp, context, server_side=True, https_compatible=True)
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError:
            await trio.aclose_forcefully(tls)
            return
        protocols.append(tls.selected_alpn_protocol())
        if tls.selected_alpn_protocol() != "h2":
            await rawsock.serve_stream(echo, tls)
            return
        peer = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        peer.initiate_connection()  # SETTINGS without ENABLE_CONNECT_PROTOCOL
        try:
            await tls.send_all(peer.data_to_send())
            while data := await tls.receive_some():
                peer.receive_data(data)
                await tls.send_all(peer.data_to_send())
        except (trio.BrokenResourceError, h2.exceptions.ProtocolError):
            pass
        finally:
            await trio.aclose_forcefully(tls)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            serving = partial(trio.serve_tcp, serve_one, 0, host="127.0.0.1")
            (listener,) = await nursery.start(serving)
            port = listener.socket.getsockname()[1]
            url = f"wss://localhost:{port}/"
            context = certificates.client_context()
            async with rawsock.connect(url, ssl_context=context, http2="auto") as ws:
                assert ws.http_version == "1.1"
                await ws.send("over 1.1, on a second connection")
                assert await ws.receive() == "over 1.1, on a second connection"
            assert protocols == ["h2", "http/1.1"]
            with pytest.raises(rawsock.HandshakeError, match="ENABLE_CONNECT_PROTOCOL"):
                async with rawsock.connect(url, ssl_context=context, http2=True):
                    pass  # pragma: no cover
            nursery.cancel_scope.cancel()


async def test_a_client_keeps_at_most_max_response_body_of_a_refusal(
    certificates: Certificates,
) -> None:
    body = bytes(range(256)) * 1024  # 256 KiB: more than MAX_RESPONSE_BODY (64 KiB)

    def refuse(request: rawsock.Request) -> rawsock.HTTPResponse:
        return rawsock.HTTPResponse(403, [("Content-Type", "application/octet-stream")], body)

    with trio.fail_after(10):
        async with http2_server(certificates, handle_request=refuse) as server:
            url = f"wss://localhost:{server.port}/"
            context = certificates.client_context()
            with pytest.raises(rawsock.HandshakeRejected) as rejected:
                async with rawsock.connect(url, ssl_context=context, http2=True):
                    pass  # pragma: no cover
            assert rejected.value.status_code == 403
            assert rejected.value.body == body[: 64 * 1024]
            await wait_until(lambda: server.connections == 0)  # the stream and connection end


async def test_a_connection_without_a_preface_within_open_timeout_is_closed(
    certificates: Certificates,
) -> None:
    with trio.fail_after(10):
        async with http2_server(certificates, open_timeout=0.5) as server:
            context = certificates.client_context()
            context.set_alpn_protocols(["h2"])
            tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
            silent = trio.SSLStream(
                tcp, context, server_hostname="localhost", https_compatible=True
            )
            await silent.do_handshake()
            assert silent.selected_alpn_protocol() == "h2"
            started = trio.current_time()
            while await silent.receive_some():  # (the server's SETTINGS), then the end
                pass
            assert 0.4 < trio.current_time() - started < 3
            await silent.aclose()
            await wait_until(lambda: server.connections == 0)
