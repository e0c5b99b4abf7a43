"""The settings of a connection: its checked options, every one of them, as an object.

Built in one place, :meth:`ConnectionSettings.from_options`, from the keyword arguments
of a public function: ``_options.py`` checks them and fills in the defaults, so the
fields here have none. The servers build one :class:`ServerSettings` per server, the
clients one :class:`ClientSettings` per ``connect`` or ``reconnect`` call.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

import trio

from ._clock import LivenessClock
from ._connection import WebSocket
from ._http import RequestHook
from ._http2_stream import HTTP2Stream
from ._options import CLIENT_OPTIONS, SERVER_OPTIONS, SHARED_OPTIONS, Option, SubprotocolSelector
from ._options import resolve as resolve_options
from ._security import BasicAuth
from .sansio._deflate import DeflateParameters, PerMessageDeflate
from .sansio._handshake import ServerHandshake
from .sansio._headers import Headers
from .sansio._protocol import Protocol, Role

__all__ = ["ClientSettings", "ConnectionSettings", "ServerSettings"]


@dataclass(frozen=True, kw_only=True)
class ConnectionSettings:
    """The options of :class:`rawsock.ConnectionOptions`, checked, with the defaults."""

    OPTIONS: ClassVar[Mapping[str, Option]] = SHARED_OPTIONS

    compression: PerMessageDeflate | None
    max_message_size: int | None
    max_frame_size: int | None
    receive_buffer: int
    open_timeout: float | None
    close_timeout: float
    ping_interval: float | None
    ping_timeout: float | None

    @classmethod
    def from_options(cls, options: Mapping[str, object], caller: str) -> Self:
        """Check ``options`` (the keyword arguments of the public function ``caller``)
        and fill in the defaults.

        Raises:
            TypeError: an unknown option, or an option of the wrong type.
            ValueError: an option out of range.
        """
        return cls(**resolve_options(options, cls.OPTIONS, caller))

    @property
    def deadline(self) -> float:
        """``open_timeout`` for ``trio.fail_after`` (infinite when ``None``)."""
        return self.open_timeout if self.open_timeout is not None else float("inf")

    def open_websocket(
        self,
        stream: trio.abc.Stream,
        role: Role,
        agreed: DeflateParameters | None,
        *,
        path: str,
        request_headers: Headers,
        response_headers: Headers,
        subprotocol: str | None,
        initial_data: bytes,
        clock: LivenessClock | None,
        http_version: str = "1.1",
    ) -> WebSocket:
        """The :class:`WebSocket` of a completed opening handshake, with these options.

        Args:
            agreed: the permessage-deflate parameters both sides agreed on, if any.
            clock: the timers and background tasks of the connection's owner (a server
                or a ``connect`` block); ``None``: the connection runs its own.
            http_version: what carries the WebSocket: ``"1.1"``, or ``"2"`` (RFC 8441).
        """
        compression = self.compression
        deflate = None
        if compression is not None and agreed is not None:
            deflate = compression.codec(agreed, client=role is Role.CLIENT)
        protocol = Protocol(
            role,
            max_message_size=self.max_message_size,
            max_frame_size=self.max_frame_size,
            deflate=deflate,
            chunked=True,
        )
        if isinstance(stream, HTTP2Stream):
            # The closing handshake done, END_STREAM goes with the reply to the peer's
            # close frame, as a TCP FIN would follow it (RFC 8441 §5, RFC 6455 §7.1.1).
            stream.is_last_data = lambda: (
                protocol.close_frame_received
                and protocol.close_sent is not None
                and not protocol.has_data_to_send
            )
        return WebSocket(
            stream,
            protocol,
            path=path,
            request_headers=request_headers,
            response_headers=response_headers,
            subprotocol=subprotocol,
            close_timeout=self.close_timeout,
            receive_buffer=self.receive_buffer,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            initial_data=initial_data,
            clock=clock,
            http_version=http_version,
        )


@dataclass(frozen=True, kw_only=True)
class ServerSettings(ConnectionSettings):
    """The options of :class:`rawsock.ServerOptions`, checked, with the defaults."""

    OPTIONS: ClassVar[Mapping[str, Option]] = SERVER_OPTIONS

    subprotocols: Sequence[str]
    select_subprotocol: SubprotocolSelector | None
    extra_headers: Sequence[tuple[str, str]]
    handle_request: RequestHook | None
    allowed_hosts: Sequence[str] | None
    origins: Sequence[str | None] | None
    basic_auth: BasicAuth | None
    max_request_line: int
    max_header_size: int
    max_headers: int

    def new_handshake(self) -> ServerHandshake:
        """A :class:`ServerHandshake` with these size limits."""
        return ServerHandshake(
            max_request_line=self.max_request_line,
            max_header_size=self.max_header_size,
            max_headers=self.max_headers,
        )


@dataclass(frozen=True, kw_only=True)
class ClientSettings(ConnectionSettings):
    """The options of :class:`rawsock.ClientOptions`, checked, with the defaults."""

    OPTIONS: ClassVar[Mapping[str, Option]] = CLIENT_OPTIONS

    subprotocols: Sequence[str]
    extra_headers: Sequence[tuple[str, str]]
    ssl_context: ssl.SSLContext | None
    unix_socket_path: str | None
    proxy: str | bool | None
    max_redirects: int
    http2: bool | str
