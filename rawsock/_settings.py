"""The options every connection has, whichever side opened it, and how they build one."""

from __future__ import annotations

from dataclasses import dataclass

import trio

from ._connection import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_RECEIVE_BUFFER,
    WebSocket,
)
from .sansio._deflate import DEFAULT_COMPRESSION, DeflateParameters, PerMessageDeflate
from .sansio._headers import Headers
from .sansio._protocol import DEFAULT_MAX_MESSAGE_SIZE, Protocol, Role

__all__ = ["DEFAULT_OPEN_TIMEOUT", "ConnectionSettings"]

#: Seconds allowed for the opening handshake (on a client, TCP and TLS included).
DEFAULT_OPEN_TIMEOUT = 10.0


@dataclass(frozen=True, kw_only=True)
class ConnectionSettings:
    """Options shared by :func:`rawsock.accept` and :func:`rawsock.connect` (see there)."""

    compression: PerMessageDeflate | None = DEFAULT_COMPRESSION
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    max_frame_size: int | None = None
    receive_buffer: int = DEFAULT_RECEIVE_BUFFER
    open_timeout: float | None = DEFAULT_OPEN_TIMEOUT
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    ping_interval: float | None = DEFAULT_PING_INTERVAL
    ping_timeout: float | None = DEFAULT_PING_TIMEOUT

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
    ) -> WebSocket:
        """The :class:`WebSocket` of a completed opening handshake, with these options.

        Args:
            agreed: the permessage-deflate parameters both sides agreed on, if any.
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
        )
