"""Reconnecting clients: ``async for ws in rawsock.reconnect(url)``.

Each iteration yields a new open :class:`WebSocket`; the previous one is closed first.
Failed attempts are retried after an exponential backoff with jitter: the n-th
consecutive failure (from 0) waits ``min(max_delay, initial_delay * factor ** n)``
reduced by a random fraction of up to ``jitter`` of it, so that many clients cut off
together do not all come back at the same instant. After a successful connection the
count starts again, and the next connection waits the first delay, so a server that
accepts and at once drops connections is not hammered.

Which errors are retried (``retry_on`` replaces the rule): network errors (``OSError``:
refused, unreachable, DNS), a connection dropped or timed out during the handshake
(status 0 or 408), and HTTP 429 or 5xx from the server or proxy. Other rejections
(401, 403, 404...) and invalid URLs are raised at once: retrying would not help.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from types import TracebackType
from typing import Unpack

import trio

from ._checks import check_callable, check_int, check_number
from ._client import open_websocket
from ._connection import WebSocket
from ._options import ClientOptions
from ._settings import ClientSettings
from .sansio._errors import HandshakeError

__all__ = ["Reconnect", "reconnect", "should_retry"]

logger = logging.getLogger("rawsock.client")


def should_retry(error: Exception) -> bool:
    """The default ``retry_on`` rule (see the module docstring)."""
    if isinstance(error, HandshakeError):
        status = error.status_code
        return status in (0, 408, 429) or 500 <= status <= 599
    return isinstance(error, OSError)


class Reconnect:
    """An async iterator of connections to one URL, reconnecting with backoff.

    Use :func:`reconnect` to make one. ``async with`` it to close the last connection
    when the loop ends in any way (``break``, an exception); otherwise the connection
    yielded last stays open after a ``break`` and is the caller's to close.

    Attributes:
        failures: consecutive failed attempts so far.
    """

    def __init__(
        self,
        url: str,
        settings: ClientSettings,
        *,
        initial_delay: float,
        max_delay: float,
        factor: float,
        jitter: float,
        max_attempts: int | None,
        retry_on: Callable[[Exception], bool],
    ) -> None:
        check_number("initial_delay", initial_delay, at_least=0)
        check_number("max_delay", max_delay, at_least=0)
        check_number("factor", factor, at_least=1)
        check_number("jitter", jitter, at_least=0, at_most=1)
        check_int("max_attempts", max_attempts, 1, optional=True)
        check_callable("retry_on", retry_on)
        self._url = url
        self._settings = settings
        self._initial_delay = initial_delay
        self._max_delay = max_delay
        self._factor = factor
        self._jitter = jitter
        self._max_attempts = max_attempts
        self._retry_on = retry_on
        self._current: WebSocket | None = None
        self._pause = 0.0  # seconds to wait before the next attempt
        self.failures = 0

    def delay(self, failures: int) -> float:
        """The backoff before an attempt that follows ``failures`` failures, jittered."""
        try:
            ceiling = min(self._max_delay, self._initial_delay * self._factor**failures)
        except OverflowError:
            ceiling = self._max_delay
        return ceiling * (1 - self._jitter * random.random())

    def __aiter__(self) -> Reconnect:
        return self

    async def __anext__(self) -> WebSocket:
        """Close the previous connection, then connect, retrying as configured.

        Raises:
            Exception: the last error, when it is not retried or ``max_attempts``
                consecutive attempts failed.
        """
        await self.aclose()
        while True:
            if self._pause:
                await trio.sleep(self._pause)
            try:
                ws = await open_websocket(self._url, self._settings)
            except Exception as error:
                self.failures += 1
                exhausted = self._max_attempts is not None and self.failures >= self._max_attempts
                if exhausted or not self._retry_on(error):
                    raise
                self._pause = self.delay(self.failures - 1)
                logger.warning(
                    "connecting to %s failed (%s); retrying in %.2f s",
                    self._url,
                    error,
                    self._pause,
                    extra={"conn_id": None},
                )
                continue
            self.failures = 0
            self._pause = self.delay(0)  # before the next connection, whatever happens
            self._current = ws
            return ws

    async def aclose(self) -> None:
        """Close the connection yielded last, if it is still open."""
        current, self._current = self._current, None
        if current is not None:
            await current.aclose()

    async def __aenter__(self) -> Reconnect:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def reconnect(
    url: str,
    *,
    initial_delay: float = 1.0,
    max_delay: float = 60.0,
    factor: float = 2.0,
    jitter: float = 0.5,
    max_attempts: int | None = None,
    retry_on: Callable[[Exception], bool] = should_retry,
    **options: Unpack[ClientOptions],
) -> Reconnect:
    """Connect to ``url`` again and again, with exponential backoff and jitter::

        async for ws in rawsock.reconnect("wss://example.com/feed"):
            try:
                async for message in ws:
                    print(message)
            except rawsock.ConnectionClosed:
                continue  # the next iteration reconnects

    Args:
        url: the WebSocket URL.
        initial_delay: seconds of the first backoff.
        max_delay: the longest backoff, in seconds.
        factor: each failure multiplies the backoff by this.
        jitter: the fraction of each backoff that may be taken off at random (0: none,
            1: anywhere between zero and the full delay).
        max_attempts: consecutive failed attempts before the last error is raised;
            ``None``: retry forever.
        retry_on: ``f(error) -> bool``: whether an error is worth another attempt.
            The default retries ``OSError`` (refused, unreachable, DNS) and a
            :class:`HandshakeError` with status 0 (the connection dropped during the
            handshake), 408 (``open_timeout``), 429 or 5xx; it raises the others
            (401, 403, 404...) at once.
        **options: the client options of every attempt, as for :func:`rawsock.connect`
            but ``stream``: see :class:`rawsock.ClientOptions` and
            :class:`rawsock.ConnectionOptions`.

    Returns:
        The async iterator.

    Raises:
        TypeError: an unknown option, or an argument or option of the wrong type.
        ValueError: an argument or option out of range (a delay below 0, ``factor``
            below 1, ``jitter`` outside [0, 1], ``max_attempts`` below 1...).
    """
    return Reconnect(
        url,
        ClientSettings.from_options(options, "reconnect"),
        initial_delay=initial_delay,
        max_delay=max_delay,
        factor=factor,
        jitter=jitter,
        max_attempts=max_attempts,
        retry_on=retry_on,
    )
