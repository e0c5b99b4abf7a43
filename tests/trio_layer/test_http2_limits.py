"""What an HTTP/2 peer controls, bounded; requests that are not WebSockets; stream ends.

The peer here is made of frames (hyperframe and hpack, h2's own parts), so that it can
send what a well-behaved client never would: floods of control frames, rapid resets,
oversized header lists, more streams than allowed, data beyond the window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import hpack
import pytest
import trio
from http2_helpers import Certificates, echo, http2_server
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
)

import rawsock

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, CANCEL = 0x0, 0x1, 0x3, 0x8
COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x9, 0xB


@pytest.fixture(scope="module")
def certificates() -> Certificates:
    return Certificates()


class FrameClient:
    """An HTTP/2 client that sends frames as it is told, over TLS with ALPN h2."""

    def __init__(self, stream: trio.SSLStream[trio.SocketStream]) -> None:
        self.stream = stream
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self._buffer = bytearray()
        self._backlog: list[Frame] = []  # received, not yet asked for
        self._responses: dict[int, dict[str, str]] = {}  # decoded as they arrive
        self.closed = False

    async def send(self, *frames: Frame) -> None:
        await self.stream.send_all(b"".join(frame.serialize() for frame in frames))

    def request(
        self, stream_id: int, path: str = "/", *, protocol: str | None = "websocket", **more: str
    ) -> HeadersFrame:
        """A HEADERS frame: an extended CONNECT by default (RFC 8441 §4)."""
        headers = [(":method", "CONNECT" if protocol else "GET")]
        if protocol:
            headers.append((":protocol", protocol))
        headers += [(":scheme", "https"), (":path", path), (":authority", "localhost")]
        if protocol == "websocket":
            headers.append(("sec-websocket-version", "13"))
        headers += [(name.replace("_", "-"), value) for name, value in more.items()]
        return self.headers(stream_id, headers, end=not protocol)

    def headers(self, stream_id: int, headers: list[tuple[str, str]], *, end: bool) -> HeadersFrame:
        frame = HeadersFrame(stream_id, self.encoder.encode(headers))
        frame.flags.add("END_HEADERS")
        if end:
            frame.flags.add("END_STREAM")
        return frame

    async def next_frame(self) -> Frame | None:
        """The next frame from the server; ``None`` once it closed the connection."""
        while True:
            if len(self._buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self._buffer[:9]))
                if len(self._buffer) >= 9 + length:
                    frame.parse_body(memoryview(bytes(self._buffer[9 : 9 + length])))
                    del self._buffer[: 9 + length]
                    if isinstance(frame, HeadersFrame):  # (HPACK: in order of arrival)
                        decoded = self.decoder.decode(frame.data, raw=False)
                        self._responses[frame.stream_id] = {str(n): str(v) for n, v in decoded}
                    return frame
            if self.closed:
                return None
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
            if not data:
                self.closed = True
            self._buffer += data

    async def until(self, wanted: Callable[[Frame], bool]) -> Frame | None:
        """The first frame ``wanted`` accepts, received or to come (answering SETTINGS);
        ``None`` at the end of the connection."""
        for index, kept in enumerate(self._backlog):
            if wanted(kept):
                return self._backlog.pop(index)
        while (frame := await self.next_frame()) is not None:
            if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                ack = SettingsFrame(0)
                ack.flags.add("ACK")
                await self.send(ack)
            if wanted(frame):
                return frame
            self._backlog.append(frame)
        return None

    async def goaway(self) -> GoAwayFrame | None:
        frame = await self.until(lambda f: isinstance(f, GoAwayFrame))
        assert frame is None or isinstance(frame, GoAwayFrame)
        return frame

    async def response(self, stream_id: int) -> dict[str, str]:
        frame = await self.until(lambda f: isinstance(f, HeadersFrame) and f.stream_id == stream_id)
        assert isinstance(frame, HeadersFrame), "no response"
        return self._responses[stream_id]


@asynccontextmanager
async def frame_client(certificates: Certificates, port: int) -> AsyncIterator[FrameClient]:
    context = certificates.client_context()
    context.set_alpn_protocols(["h2"])
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    tls = trio.SSLStream(tcp, context, server_hostname="localhost")
    await tls.do_handshake()
    assert tls.selected_alpn_protocol() == "h2"
    client = FrameClient(tls)
    await tls.send_all(PREFACE + SettingsFrame(0).serialize())
    try:
        yield client
    finally:
        await trio.aclose_forcefully(tls)


async def still_serving(certificates: Certificates, port: int) -> None:
    url = f"wss://localhost:{port}/"
    async with rawsock.connect(url, ssl_context=certificates.client_context(), http2=True) as ws:
        await ws.send("still serving")
        assert await ws.receive() == "still serving"


async def test_the_server_advertises_its_limits(certificates: Certificates) -> None:
    with trio.fail_after(10):
        async with (
            http2_server(certificates, max_header_size=8192) as server,
            frame_client(certificates, server.port) as client,
        ):
            frame = await client.until(lambda f: isinstance(f, SettingsFrame))
            assert isinstance(frame, SettingsFrame)
            assert (
                frame.settings.items()
                >= {
                    SettingsFrame.ENABLE_CONNECT_PROTOCOL: 1,
                    SettingsFrame.MAX_CONCURRENT_STREAMS: 100,
                    SettingsFrame.HEADER_TABLE_SIZE: 4096,
                    SettingsFrame.INITIAL_WINDOW_SIZE: 256 * 1024,
                    SettingsFrame.MAX_HEADER_LIST_SIZE: 8192,
                }.items()
            )


@pytest.mark.parametrize(
    "flood",
    [
        pytest.param(lambda i: PingFrame(0, opaque_data=i.to_bytes(8, "big")), id="PING"),
        pytest.param(lambda i: SettingsFrame(0), id="SETTINGS"),
        pytest.param(lambda i: PriorityFrame(1, depends_on=0, stream_weight=16), id="PRIORITY"),
    ],
)
async def test_a_flood_of_control_frames_gets_goaway_enhance_your_calm(
    certificates: Certificates, flood: Callable[[int], Frame]
) -> None:
    with trio.fail_after(10):
        async with (
            http2_server(certificates) as server,
            frame_client(certificates, server.port) as client,
        ):
            await client.send(*(flood(i) for i in range(50)))  # a few are fine
            assert await client.until(lambda f: isinstance(f, PingFrame) or f.stream_id == 0)
            with suppress(trio.BrokenResourceError):  # (it may close before reading all)
                await client.send(*(flood(i) for i in range(5000)))
            goaway = await client.goaway()
            assert goaway is not None
            assert goaway.error_code == ENHANCE_YOUR_CALM
            assert await client.until(lambda f: False) is None  # then it closes
            await still_serving(certificates, server.port)


async def test_rapid_reset_gets_goaway_enhance_your_calm(certificates: Certificates) -> None:
    opened = 0

    async def handler(ws: rawsock.WebSocket) -> None:
        nonlocal opened
        opened += 1
        await echo(ws)

    with trio.fail_after(10):
        async with (
            http2_server(certificates, handler) as server,
            frame_client(certificates, server.port) as client,
        ):
            frames: list[Frame] = []
            for stream_id in range(1, 2 * 1000, 2):  # CVE-2023-44487
                frames += [client.request(stream_id), RstStreamFrame(stream_id, CANCEL)]
            with suppress(trio.BrokenResourceError):
                await client.send(*frames)
            goaway = await client.goaway()
            assert goaway is not None
            assert goaway.error_code == ENHANCE_YOUR_CALM
            await still_serving(certificates, server.port)
    assert opened < 300


async def test_a_header_list_over_max_header_size_ends_the_connection(
    certificates: Certificates,
) -> None:
    with trio.fail_after(10):
        async with (
            http2_server(certificates, max_header_size=4096) as server,
            frame_client(certificates, server.port) as client,
        ):
            await client.send(client.request(1, cookie="c" * 3000))
            assert (await client.response(1))[":status"] == "200"  # under the limit
            await client.send(client.request(3, cookie="c" * 5000))
            goaway = await client.goaway()
            assert goaway is not None
            assert goaway.error_code != NO_ERROR
            await still_serving(certificates, server.port)


async def test_an_hpack_table_larger_than_advertised_ends_the_connection(
    certificates: Certificates,
) -> None:
    with trio.fail_after(10):
        async with (
            http2_server(certificates) as server,
            frame_client(certificates, server.port) as client,
        ):
            await client.until(lambda f: isinstance(f, SettingsFrame))
            client.encoder.header_table_size = 65536  # more than the 4096 advertised
            await client.send(client.request(1))
            goaway = await client.goaway()
            assert goaway is not None
            assert goaway.error_code in (PROTOCOL_ERROR, COMPRESSION_ERROR)  # h2: the former


async def test_more_streams_than_advertised_end_the_connection(
    certificates: Certificates,
) -> None:
    with trio.fail_after(20):
        async with http2_server(certificates) as server:
            async with frame_client(certificates, server.port) as client:
                await client.send(*(client.request(2 * i + 1) for i in range(100)))
                for i in range(100):
                    assert (await client.response(2 * i + 1))[":status"] == "200"
                await client.send(client.request(201))
                goaway = await client.goaway()
                assert goaway is not None
                assert goaway.error_code == PROTOCOL_ERROR  # (h2: a connection error)
            await still_serving(certificates, server.port)


async def test_data_beyond_the_stream_window_is_a_flow_control_error(
    certificates: Certificates,
) -> None:
    never = trio.Event()

    async def handler(ws: rawsock.WebSocket) -> None:
        await never.wait()  # reads nothing: the window is not given back

    with trio.fail_after(10):
        async with (
            http2_server(certificates, handler) as server,
            frame_client(certificates, server.port) as client,
        ):
            await client.send(client.request(1))
            assert (await client.response(1))[":status"] == "200"
            chunk = bytes(16384)
            await client.send(*(DataFrame(1, chunk) for _ in range(16)))  # the window
            await client.send(DataFrame(1, chunk))  # beyond it
            goaway = await client.goaway()
            assert goaway is not None
            assert goaway.error_code == FLOW_CONTROL_ERROR
            never.set()


async def test_requests_that_are_not_websockets(certificates: Certificates) -> None:
    def handle_request(request: rawsock.Request) -> rawsock.HTTPResponse | None:
        if request.path == "/page":
            return rawsock.HTTPResponse.html(f"<p>{request.method} over {request.http_version}</p>")
        return None

    with trio.fail_after(10):
        async with (
            http2_server(certificates, handle_request=handle_request) as server,
            frame_client(certificates, server.port) as client,
        ):
            await client.send(client.request(1, "/page", protocol=None))
            response = await client.response(1)
            assert response[":status"] == "200"
            assert response["content-type"] == "text/html; charset=utf-8"
            body = b""
            while True:
                data = await client.until(lambda f: isinstance(f, DataFrame) and f.stream_id == 1)
                assert isinstance(data, DataFrame)
                body += data.data
                if "END_STREAM" in data.flags:
                    break
            assert body == b"<p>GET over 2</p>"

            head = [(":method", "HEAD"), (":scheme", "https"), (":path", "/page")]
            await client.send(client.headers(3, [*head, (":authority", "localhost")], end=True))
            response = await client.response(3)
            assert response["content-length"] == str(len(b"<p>HEAD over 2</p>"))

            await client.send(client.request(5, "/elsewhere", protocol=None))
            assert (await client.response(5))[":status"] == "400"

            await client.send(client.request(7, protocol="webtransport"))
            assert (await client.response(7))[":status"] == "501"

            tunnel = [(":method", "CONNECT"), (":authority", "example.com:443")]
            await client.send(client.headers(9, tunnel, end=False))
            assert (await client.response(9))[":status"] == "501"

            await client.send(client.request(11, sec_websocket_version="8"))
            response = await client.response(11)
            assert response[":status"] == "400"
            assert response["sec-websocket-version"] == "13"

            no_path = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https")]
            await client.send(client.headers(13, [*no_path, (":authority", "x")], end=False))
            reset = await client.until(lambda f: f.stream_id == 13)
            assert isinstance(reset, RstStreamFrame), reset
            assert reset.error_code == PROTOCOL_ERROR

            await client.send(client.request(15, connection="upgrade"))  # RFC 9113 §8.2.2
            reset = await client.until(lambda f: f.stream_id == 15)
            assert isinstance(reset, RstStreamFrame), reset
            assert reset.error_code == PROTOCOL_ERROR

            await client.send(client.request(17, "/page", protocol=None))  # still fine
            assert (await client.response(17))[":status"] == "200"


async def test_a_stream_reset_ends_its_websocket_with_1006_and_only_it(
    certificates: Certificates,
) -> None:
    closed: list[int | None] = []

    async def handler(ws: rawsock.WebSocket) -> None:
        try:
            await echo(ws)
        finally:
            closed.append(ws.close_code)

    with trio.fail_after(10):
        async with (
            http2_server(certificates, handler) as server,
            frame_client(certificates, server.port) as client,
        ):
            await client.send(client.request(1), client.request(3))
            assert (await client.response(1))[":status"] == "200"
            assert (await client.response(3))[":status"] == "200"
            await client.send(RstStreamFrame(1, CANCEL))
            with trio.fail_after(5):
                while not closed:  # noqa: ASYNC110 - polls the handler's record
                    await trio.sleep(0.01)
            assert closed == [1006]
            masked_ping = b"\x89\x80" + bytes(4)  # a masked empty ping
            await client.send(DataFrame(3, masked_ping))
            pong = await client.until(lambda f: isinstance(f, DataFrame) and f.stream_id == 3)
            assert isinstance(pong, DataFrame)
            assert pong.data == b"\x8a\x00"


async def test_shutdown_sends_goaway_before_the_1001_close_frames(
    certificates: Certificates,
) -> None:
    with trio.fail_after(10):
        async with (
            http2_server(certificates) as server,
            frame_client(certificates, server.port) as client,
        ):
            await client.send(client.request(1))
            assert (await client.response(1))[":status"] == "200"
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server.aclose)
                first = await client.until(lambda f: isinstance(f, GoAwayFrame | DataFrame))
                assert isinstance(first, GoAwayFrame)
                assert (first.last_stream_id, first.error_code) == (1, NO_ERROR)
                close = await client.until(lambda f: isinstance(f, DataFrame))
                assert isinstance(close, DataFrame)
                assert close.data[:4] == b"\x88\x16\x03\xe9"  # 1001, "server shutting down"
                assert "END_STREAM" not in close.flags  # (the client may still reply)
                masked_close = b"\x88\x82" + bytes(4) + b"\x03\xe9"
                await client.send(DataFrame(1, masked_close))
                ended = await client.until(lambda f: f.stream_id == 1)
                assert isinstance(ended, DataFrame)  # the handshake done, as a TCP FIN
                assert (ended.data, "END_STREAM" in ended.flags) == (b"", True)


async def test_the_reply_to_a_close_frame_ends_the_stream(certificates: Certificates) -> None:
    with trio.fail_after(10):
        async with (
            http2_server(certificates) as server,
            frame_client(certificates, server.port) as client,
        ):
            await client.send(client.request(1))
            assert (await client.response(1))[":status"] == "200"
            masked_close = b"\x88\x82" + bytes(4) + b"\x03\xe8"  # 1000
            await client.send(DataFrame(1, masked_close))
            reply = await client.until(lambda f: f.stream_id == 1)
            assert isinstance(reply, DataFrame)
            assert reply.data == b"\x88\x02\x03\xe8"
            assert "END_STREAM" in reply.flags  # one frame: the reply, then the end
