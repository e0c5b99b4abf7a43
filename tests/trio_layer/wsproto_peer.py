"""A WebSocket peer driven by wsproto over a trio stream, client or server role.

The tests use it as an independent implementation of RFC 6455 to talk to rawsock:
wsproto does all the framing, masking, UTF-8 checks and handshake validation on this
side, and this module only moves its bytes over the stream.

Transport rules follow RFC 6455 §7.1.1: once the closing handshake is done, a server
peer closes TCP at once; a client peer waits for the server to close it first.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

__all__ = [
    "PeerClosed",
    "WsprotoPeer",
    "masked_frame",
    "open_client",
    "serve_wsproto",
    "server_handshake",
    "wsproto_client",
]

READ_SIZE = 65536


class PeerClosed(Exception):
    """The other side's close frame arrived (or TCP ended: code 1006, from wsproto)."""

    def __init__(self, event: CloseConnection) -> None:
        super().__init__(f"closed by the other side: {event.code} {event.reason!r}")
        self.event = event
        self.code = event.code
        self.reason = event.reason


class WsprotoPeer:
    """One WebSocket connection: a wsproto ``WSConnection`` plus a trio stream."""

    def __init__(self, stream: trio.abc.Stream, conn: WSConnection, *, client: bool) -> None:
        self.stream = stream
        self.conn = conn
        self.client = client
        self.request: Request | None = None  # server role: the handshake request
        self.accepted: AcceptConnection | None = None  # client role: the 101 response
        self.pings_received: list[bytes] = []
        self.pongs_received: list[bytes] = []
        self.close_received: CloseConnection | None = None
        self.eof = False
        self._events: deque[Event] = deque()

    # -- raw event plumbing --------------------------------------------------------------

    async def send_event(self, event: Event) -> None:
        await self.stream.send_all(self.conn.send(event))

    async def next_event(self) -> Event:
        """The next wsproto event, reading the stream as needed (answers nothing)."""
        while not self._events:
            if self.eof:
                raise AssertionError("no more events: the stream already ended")
            data = await self.stream.receive_some(READ_SIZE)
            if not data:
                self.eof = True
            self.conn.receive_data(bytes(data) if data else None)
            self._events.extend(self.conn.events())
        return self._events.popleft()

    # -- messages ------------------------------------------------------------------------

    async def send_message(self, data: str | bytes) -> None:
        event: TextMessage | BytesMessage
        event = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
        await self.send_event(event)

    async def send_fragments(self, pieces: Sequence[str | bytes]) -> None:
        """Send one message as several frames, one per piece (§5.4; all of one type)."""
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            event: TextMessage | BytesMessage
            if isinstance(piece, str):
                event = TextMessage(data=piece, message_finished=last)
            else:
                event = BytesMessage(data=piece, message_finished=last)
            await self.send_event(event)

    async def receive_message(self) -> str | bytes:
        """Reassemble the next data message; answers pings and notes pongs on the way.

        Raises:
            PeerClosed: the other side's close frame arrived first (it was answered
                and the transport finished as §7.1.1 says).
        """
        text_parts: list[str] = []
        binary_parts: list[bytes] = []
        while True:
            event = await self.next_event()
            if isinstance(event, TextMessage):
                text_parts.append(event.data)
                if event.message_finished:
                    return "".join(text_parts)
            elif isinstance(event, BytesMessage):
                binary_parts.append(bytes(event.data))
                if event.message_finished:
                    return b"".join(binary_parts)
            else:
                await self._control(event)

    async def _control(self, event: Event) -> None:
        if isinstance(event, Ping):
            self.pings_received.append(bytes(event.payload))
            await self.send_event(event.response())
        elif isinstance(event, Pong):
            self.pongs_received.append(bytes(event.payload))
        elif isinstance(event, CloseConnection):
            self.close_received = event
            if self.conn.state is ConnectionState.REMOTE_CLOSING:
                await self.send_event(event.response())
            await self.finish_transport()
            raise PeerClosed(event)
        else:
            raise AssertionError(f"unexpected event: {event!r}")

    # -- control frames ------------------------------------------------------------------

    async def ping(self, payload: bytes) -> None:
        """Send a ping and read until its pong (only control frames may come first)."""
        await self.send_event(Ping(payload=payload))
        while payload not in self.pongs_received:
            event = await self.next_event()
            if isinstance(event, Message):
                raise AssertionError(f"a data message while waiting for a pong: {event!r}")
            await self._control(event)

    async def close(self, code: int = 1000, reason: str = "") -> CloseConnection:
        """Start the closing handshake; return the other side's close frame.

        Data messages that arrive before the reply are returned in ``late_messages``.
        """
        await self.send_event(CloseConnection(code=code, reason=reason))
        try:
            while True:
                event = await self.next_event()
                if isinstance(event, Message):
                    continue  # sent before our close frame arrived there: allowed
                await self._control(event)
        except PeerClosed as closed:
            return closed.event

    async def expect_close(self) -> CloseConnection:
        """Read until the other side closes; data messages are an error here."""
        try:
            while True:
                event = await self.next_event()
                if isinstance(event, Message):
                    raise AssertionError(f"a data message while waiting for close: {event!r}")
                await self._control(event)
        except PeerClosed as closed:
            return closed.event

    async def finish_transport(self) -> None:
        """End TCP as §7.1.1 says: a server closes it, a client waits for the EOF first."""
        if self.client:
            while not self.eof:
                if not await self.stream.receive_some(READ_SIZE):
                    self.eof = True
        await self.stream.aclose()

    async def drop(self) -> None:
        """Close TCP abruptly, with no close frame."""
        await trio.aclose_forcefully(self.stream)


# -- roles ------------------------------------------------------------------------------


async def open_client(
    port: int,
    target: str = "/",
    *,
    subprotocols: Sequence[str] = (),
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
    piggyback: bytes = b"",
    dribble: float | None = None,
) -> WsprotoPeer:
    """Connect a wsproto client to 127.0.0.1:``port`` and complete the handshake.

    ``piggyback`` is written in the same ``send_all`` as the upgrade request (raw
    frames the server must find after the request head). With ``dribble``, the
    request goes out one byte per write, ``dribble`` seconds apart.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        conn = WSConnection(ConnectionType.CLIENT)
        peer = WsprotoPeer(stream, conn, client=True)
        request = Request(
            host=f"127.0.0.1:{port}",
            target=target,
            subprotocols=list(subprotocols),
            extra_headers=list(extra_headers),
        )
        data = conn.send(request) + piggyback
        if dribble is None:
            await stream.send_all(data)
        else:
            for index in range(len(data)):
                await stream.send_all(data[index : index + 1])
                await trio.sleep(dribble)
        event = await peer.next_event()
        if isinstance(event, RejectConnection):
            raise AssertionError(f"handshake rejected with HTTP {event.status_code}")
        if not isinstance(event, AcceptConnection):
            raise AssertionError(f"unexpected handshake event: {event!r}")
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    peer.accepted = event
    return peer


@asynccontextmanager
async def wsproto_client(
    port: int, target: str = "/", **options: Any
) -> AsyncIterator[WsprotoPeer]:
    """:func:`open_client` whose stream is closed on exit, whatever happened."""
    peer = await open_client(port, target, **options)
    try:
        yield peer
    finally:
        await trio.aclose_forcefully(peer.stream)


async def server_handshake(
    stream: trio.abc.Stream,
    *,
    subprotocols: Sequence[str] = (),
    piggyback: Sequence[Event] = (),
) -> WsprotoPeer:
    """Run the wsproto server handshake on ``stream``.

    The first of ``subprotocols`` the client offers is selected. ``piggyback`` events
    are encoded right after the 101 response and written in the same ``send_all``.
    """
    conn = WSConnection(ConnectionType.SERVER)
    peer = WsprotoPeer(stream, conn, client=False)
    event = await peer.next_event()
    if not isinstance(event, Request):
        raise AssertionError(f"expected an upgrade request, got {event!r}")
    peer.request = event
    chosen = next((p for p in subprotocols if p in event.subprotocols), None)
    data = conn.send(AcceptConnection(subprotocol=chosen))
    for extra in piggyback:
        data += conn.send(extra)
    await stream.send_all(data)
    return peer


async def serve_wsproto(
    handler: Callable[[WsprotoPeer], Awaitable[None]],
    *,
    subprotocols: Sequence[str] = (),
    piggyback: Sequence[Event] = (),
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve wsproto connections on 127.0.0.1 until cancelled; reports the port.

    Errors in ``handler`` (failed assertions) propagate and end the test.
    """
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port: int = listeners[0].socket.getsockname()[1]

    async def one(stream: trio.SocketStream) -> None:
        try:
            peer = await server_handshake(stream, subprotocols=subprotocols, piggyback=piggyback)
            await handler(peer)
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, one, listeners)
        task_status.started(port)


# -- raw frames -------------------------------------------------------------------------


def masked_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A client-to-server frame (masked, §5.3), built by hand."""
    key = os.urandom(4)
    length = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + body
