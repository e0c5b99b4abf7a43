"""HTTP/2 is an optional extra: whether it is installed, and how TLS offers it.

The HTTP/2 modules import ``h2``, so they are imported only when a server or a client
asks for HTTP/2; a missing ``h2`` is then reported at the call, naming the extra to
install. Over TLS, HTTP/2 is chosen by ALPN (RFC 7301, RFC 9113 §3.2).
"""

from __future__ import annotations

import ssl

__all__ = ["ALPN_PROTOCOLS", "offer_alpn", "require_h2", "tls_context"]

#: What a server offers and a client asks for, preferred first.
ALPN_PROTOCOLS = ["h2", "http/1.1"]
_MISSING = "HTTP/2 needs the h2 package: pip install 'rawsock[http2]'"


def require_h2(option: str) -> None:
    """Check that ``h2`` is installed before ``option`` is used.

    Raises:
        ImportError: it is not (the message names the extra to install).
    """
    try:
        import h2.connection  # noqa: F401, PLC0415 (an optional dependency)
    except ImportError as error:
        raise ImportError(f"{option}: {_MISSING}") from error


def offer_alpn(context: ssl.SSLContext) -> None:
    """Offer ``h2`` and ``http/1.1`` on ``context`` (it is changed in place)."""
    context.set_alpn_protocols(ALPN_PROTOCOLS)


def tls_context(context: ssl.SSLContext | None, protocols: list[str]) -> ssl.SSLContext:
    """A client's TLS context (``context``, or a default one) offering ``protocols`` in
    ALPN; set just before the TLS stream is made, which is when Trio reads it."""
    context = context or ssl.create_default_context()
    context.set_alpn_protocols(protocols)
    return context
