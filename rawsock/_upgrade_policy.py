"""What a server decides about a WebSocket request, over HTTP/1.1 or HTTP/2.

The same checks, in the same order, whatever the request came over (RFC 6455 §4.2 for
HTTP/1.1, RFC 8441 §5 for HTTP/2; ``_accept.py`` describes the order): only the
validation of the request itself differs, and the caller renders the outcome for its
own protocol (a 101 response, or a 200 HEADERS frame).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ._http import HTTPResponse, call_hook
from ._security import check_host, check_origin
from ._settings import ServerSettings
from .sansio._deflate import DeflateParameters
from .sansio._errors import HandshakeError
from .sansio._handshake_parts import Request

__all__ = ["Agreement", "decide_upgrade"]


@dataclass(frozen=True)
class Agreement:
    """A request the server accepts as a WebSocket, and what it agreed to.

    Attributes:
        request: the validated request.
        subprotocol: the selected subprotocol, or ``None``.
        extensions: the ``Sec-WebSocket-Extensions`` value to answer, or ``None``.
        agreed: the permessage-deflate parameters, or ``None``.
    """

    request: Request
    subprotocol: str | None
    extensions: str | None
    agreed: DeflateParameters | None


async def _maybe_await(value: Awaitable[str | None] | str | None) -> str | None:
    return await value if inspect.isawaitable(value) else value


async def decide_upgrade(
    request: Request, validate: Callable[[Request], Request], settings: ServerSettings
) -> Agreement | HTTPResponse:
    """The checks of :class:`rawsock.ServerOptions`: an agreement, or the response instead.

    Args:
        request: the request as received.
        validate: checks that ``request`` opens a WebSocket and fills in its WebSocket
            fields, raising :class:`HandshakeError` otherwise.
        settings: the server's options.

    Raises:
        HandshakeError: ``validate`` refused the request and ``handle_request`` did not
            answer it, or a callback raised one.
    """
    if settings.allowed_hosts is not None:
        refusal = check_host(request, settings.allowed_hosts)
        if refusal is not None:
            return refusal
    try:
        validated: Request | None = validate(request)
        invalid: HandshakeError | None = None
    except HandshakeError as error:
        validated, invalid = None, error
    if settings.handle_request is not None:
        response = await call_hook(settings.handle_request, validated or request)
        if response is not None:
            return response
    if validated is None:
        assert invalid is not None
        raise invalid
    if settings.origins is not None:
        refusal = check_origin(validated, settings.origins)
        if refusal is not None:
            return refusal
    if settings.basic_auth is not None:
        refusal = await settings.basic_auth.check(validated)
        if refusal is not None:
            return refusal
    offered = validated.subprotocols
    if settings.select_subprotocol is not None:
        subprotocol = await _maybe_await(settings.select_subprotocol(validated, list(offered)))
    else:
        subprotocol = next((p for p in settings.subprotocols if p in offered), None)
    compression = settings.compression
    agreed = compression.accept_offer(validated.extensions) if compression else None
    if agreed is None:
        return Agreement(validated, subprotocol, None, None)
    return Agreement(validated, subprotocol, agreed[0], agreed[1])
