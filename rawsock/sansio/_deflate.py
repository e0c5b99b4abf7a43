"""permessage-deflate (RFC 7692): negotiation (§5, §7.1) and the codec (§7.2).

Theory of operation: :class:`PerMessageDeflate` is what a user configures. A client
turns it into an offer (:meth:`~PerMessageDeflate.offer`) and checks the server's answer
(:meth:`~PerMessageDeflate.accept_response`); a server picks the first acceptable offer
(:meth:`~PerMessageDeflate.accept_offer`) and writes its response. Both end with the
agreed :class:`DeflateParameters`, from which :meth:`~PerMessageDeflate.codec` builds the
:class:`DeflateCodec` of one connection.

zlib cannot compress with an 8-bit window (``deflateInit2`` rejects raw ``wbits=-8``),
though it can decompress with one. So rawsock never agrees to *compress* with a window
of 8 bits: a server declines an offer of ``server_max_window_bits=8`` (it moves on to
the next offer, or to no compression), and a client fails the handshake if the server
answers ``client_max_window_bits=8``. It never asks a peer for 8 either (the configured
window bits are 9 to 15), since most peers compress with zlib too.

Memory: zlib objects are created when the first compressed message needs them, and on
the side without context takeover they are dropped after each message, so an idle
connection holds only what context takeover requires.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from ._errors import HandshakeError, RemoteProtocolError
from ._extension_header import Extension, format_extensions

__all__ = [
    "DEFAULT_COMPRESSION",
    "DeflateCodec",
    "DeflateParameters",
    "PerMessageDeflate",
    "compressed_bound",
]


def compressed_bound(size: int) -> int:
    """The most ``size`` bytes can take once deflated (RFC 7692 §7.2.1).

    Incompressible data grows when deflated, by how much depends on the compressor's
    settings: about 0.03 % with zlib's defaults, 5 % with a small ``memLevel`` and
    window. This is zlib's conservative bound for any settings (``deflateBound``: about
    14 %), plus a few bytes for the sync flush.
    """
    return size + ((size + 7) >> 3) + ((size + 63) >> 6) + 5 + 16


NAME = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"  # §7.2.1: removed on send, appended on receive
_WINDOW_VALUES = {str(bits): bits for bits in range(8, 16)}
_FLAGS = ("server_no_context_takeover", "client_no_context_takeover")
_BITS = ("server_max_window_bits", "client_max_window_bits")


@dataclass(frozen=True)
class DeflateParameters:
    """The agreed parameters of one connection (RFC 7692 §7.1); window bits 8-15."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


def _parse_params(
    params: list[tuple[str, str | None]], *, response: bool
) -> dict[str, int | None]:
    """Validate one offer's or response's parameters (RFC 7692 §7.1).

    Returns:
        ``{name: window bits or None}`` for each parameter present.

    Raises:
        ValueError: an unknown or duplicated parameter, a value on a flag, or a window
            size that is missing (where required) or not 8 to 15.
    """
    found: dict[str, int | None] = {}
    for name, value in params:
        key = name.lower()
        if key in found:
            raise ValueError(f"duplicated parameter {name}")
        if key in _FLAGS:
            if value is not None:
                raise ValueError(f"{name} takes no value")
            found[key] = None
        elif key in _BITS:
            if value is None:
                if response or key == "server_max_window_bits":
                    raise ValueError(f"{name} needs a value")
                found[key] = None
            elif value in _WINDOW_VALUES:
                found[key] = _WINDOW_VALUES[value]
            else:
                raise ValueError(f"{name}={value} is not a window size from 8 to 15")
        else:
            raise ValueError(f"unknown parameter {name}")
    return found


def _check_bits(name: str, bits: int | None) -> None:
    if bits is not None and not 9 <= bits <= 15:
        raise ValueError(f"{name} must be from 9 to 15 (zlib cannot compress with 8)")


@dataclass(frozen=True)
class PerMessageDeflate:
    """permessage-deflate settings, for a server or a client (RFC 7692).

    The defaults trade a little compression for memory: about 45 KiB per connection
    that uses compression (a 4 KiB compression window and ``memory_level`` 5) instead of
    over 100 KiB with zlib's own defaults. The documentation's "Compression" page has
    the measurements.

    Attributes:
        server_no_context_takeover: the server compresses each message on its own. A
            client asks for it; a server announces it.
        client_no_context_takeover: the same for the client's messages.
        server_max_window_bits: the server's LZ77 window (9-15). A client asks for at
            most this; a server compresses with at most this. ``None``: 15.
        client_max_window_bits: the client's window (9-15). A client offers it (``None``
            offers the value-less form: any limit the server picks); a server asks a
            client that offered the parameter for at most this (``None``: no limit).
        compression_level: zlib level, 0 (none) to 9 (best), -1 for zlib's default.
        memory_level: zlib ``memLevel``, 1 to 9: memory of the compressor vs speed.
        threshold: messages shorter than this many bytes are sent uncompressed.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = 12
    client_max_window_bits: int | None = 12
    compression_level: int = 6
    memory_level: int = 5
    threshold: int = 128

    def __post_init__(self) -> None:
        _check_bits("server_max_window_bits", self.server_max_window_bits)
        _check_bits("client_max_window_bits", self.client_max_window_bits)
        if not -1 <= self.compression_level <= 9:
            raise ValueError("compression_level must be from -1 to 9")
        if not 1 <= self.memory_level <= 9:
            raise ValueError("memory_level must be from 1 to 9")
        if self.threshold < 0:
            raise ValueError("threshold must be 0 or more")

    # -- client ------------------------------------------------------------------------

    def offer(self) -> str:
        """The client's ``Sec-WebSocket-Extensions`` offer (RFC 7692 §5.1, §7.1)."""
        params: list[tuple[str, str | None]] = []
        if self.server_no_context_takeover:
            params.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            params.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            params.append(("server_max_window_bits", str(self.server_max_window_bits)))
        client_bits = self.client_max_window_bits
        params.append(("client_max_window_bits", None if client_bits is None else str(client_bits)))
        return format_extensions([(NAME, params)])

    def accept_response(self, extensions: list[Extension]) -> DeflateParameters | None:
        """Check the server's answer to :meth:`offer` (RFC 7692 §7.1).

        Returns:
            The agreed parameters, or ``None`` if the server declined compression.

        Raises:
            HandshakeError: the response is invalid or does not answer the offer; the
                client must fail the connection (§5.1).
        """
        if not extensions:
            return None
        if len(extensions) != 1 or extensions[0][0].lower() != NAME:
            names = ", ".join(name for name, _ in extensions)
            raise HandshakeError(f"server answered with extensions we did not offer: {names}", 101)
        try:
            found = _parse_params(extensions[0][1], response=True)
        except ValueError as error:
            raise HandshakeError(f"invalid permessage-deflate response: {error}", 101) from None
        if self.server_no_context_takeover and "server_no_context_takeover" not in found:
            raise HandshakeError("server ignored our server_no_context_takeover", 101)
        server_bits = found.get("server_max_window_bits") or 15
        if self.server_max_window_bits is not None:
            if "server_max_window_bits" not in found:
                raise HandshakeError("server ignored our server_max_window_bits", 101)
            if server_bits > self.server_max_window_bits:
                raise HandshakeError("server_max_window_bits above what we asked for", 101)
        client_bits = self.client_max_window_bits or 15
        if "client_max_window_bits" in found:
            # A value above our offer changes nothing: we said we would not use more
            # (RFC 7692 §7.1.2.2), and a smaller window is always within the limit.
            answered = min(found["client_max_window_bits"] or 15, client_bits)
            if answered == 8:
                raise HandshakeError(
                    "server asks for client_max_window_bits=8; zlib cannot compress with it",
                    101,
                )
            client_bits = answered
        return DeflateParameters(
            server_no_context_takeover="server_no_context_takeover" in found,
            client_no_context_takeover=(
                self.client_no_context_takeover or "client_no_context_takeover" in found
            ),
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
        )

    # -- server ------------------------------------------------------------------------

    def accept_offer(self, offers: list[Extension]) -> tuple[str, DeflateParameters] | None:
        """Pick the first acceptable permessage-deflate offer (RFC 7692 §5.1, §7.1).

        Invalid offers, and offers we cannot honour (``server_max_window_bits=8``), are
        declined; the next one is tried.

        Returns:
            ``(response header value, agreed parameters)``, or ``None`` to go on without
            compression.
        """
        for name, params in offers:
            if name.lower() != NAME:
                continue
            try:
                found = _parse_params(params, response=False)
            except ValueError:
                continue
            requested = found.get("server_max_window_bits")
            if requested == 8:
                continue  # we cannot compress with an 8-bit window
            return self._respond(found, requested)
        return None

    def _respond(
        self, found: dict[str, int | None], requested: int | None
    ) -> tuple[str, DeflateParameters]:
        response: list[tuple[str, str | None]] = []
        server_takeover_off = self.server_no_context_takeover or (
            "server_no_context_takeover" in found
        )
        if server_takeover_off:
            response.append(("server_no_context_takeover", None))
        # A client_no_context_takeover in the offer is only a hint (RFC 7692 §7.1.1.2),
        # and some clients treat it as "I could"; we rely on it only when we send it back.
        client_takeover_off = self.client_no_context_takeover
        if client_takeover_off:
            response.append(("client_no_context_takeover", None))
        server_bits = 15
        if requested is not None:
            server_bits = min(requested, self.server_max_window_bits or 15)
            response.append(("server_max_window_bits", str(server_bits)))
        # Otherwise we may still compress with a smaller window than agreed (the codec
        # does): a larger inflate window on the other side is always enough.
        client_bits = 15
        if "client_max_window_bits" in found:
            client_bits = found["client_max_window_bits"] or 15
            if self.client_max_window_bits is not None:
                client_bits = min(client_bits, self.client_max_window_bits)
                response.append(("client_max_window_bits", str(client_bits)))
        parameters = DeflateParameters(
            server_no_context_takeover=server_takeover_off,
            client_no_context_takeover=client_takeover_off,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
        )
        return format_extensions([(NAME, response)]), parameters

    def codec(self, parameters: DeflateParameters, *, client: bool) -> DeflateCodec:
        """The codec of one connection, for the client or the server side."""
        return DeflateCodec(parameters, client=client, settings=self)


#: The settings ``serve``, ``accept`` and ``connect`` use unless told otherwise.
DEFAULT_COMPRESSION = PerMessageDeflate()


class DeflateCodec:
    """Compresses and decompresses the messages of one connection (RFC 7692 §7.2)."""

    def __init__(
        self, parameters: DeflateParameters, *, client: bool, settings: PerMessageDeflate
    ) -> None:
        self.parameters = parameters
        self.threshold = settings.threshold
        self._level = settings.compression_level
        self._memory_level = settings.memory_level
        if client:
            self._send_bits = min(
                parameters.client_max_window_bits, settings.client_max_window_bits or 15
            )
            self._send_takeover = not parameters.client_no_context_takeover
            self._receive_bits = parameters.server_max_window_bits
            self._receive_takeover = not parameters.server_no_context_takeover
        else:
            self._send_bits = min(
                parameters.server_max_window_bits, settings.server_max_window_bits or 15
            )
            self._send_takeover = not parameters.server_no_context_takeover
            self._receive_bits = parameters.client_max_window_bits
            self._receive_takeover = not parameters.client_no_context_takeover
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None

    @property
    def send_settings(self) -> tuple[int, int, int]:
        """``(level, window bits, memory level)`` this codec compresses with."""
        return self._level, self._send_bits, self._memory_level

    def compress(self, data: bytes, final: bool) -> bytes:
        """Compress one message, or the next fragment of one (§7.2.1).

        Each call ends with a sync flush, so a fragment can be sent at once; on the
        final one the trailing ``00 00 ff ff`` is removed.
        """
        compressor = self._compressor
        if compressor is None:
            compressor = zlib.compressobj(
                self._level, zlib.DEFLATED, -self._send_bits, self._memory_level
            )
            self._compressor = compressor
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if final:
            if out.endswith(_TAIL):
                out = out[:-4]
            if not self._send_takeover:
                self._compressor = None
        return out

    def decompress(self, data: bytes, final: bool, max_length: int | None) -> bytes:
        """Decompress the next part of a received message (§7.2.2).

        Args:
            data: compressed payload bytes as they arrived.
            final: whether they end the message (``00 00 ff ff`` is then appended).
            max_length: the most output this call may produce, or ``None``.

        Raises:
            RemoteProtocolError: 1009 when the output would exceed ``max_length``
                (checked by zlib as it inflates, so nothing larger is allocated);
                1007 when the data is not valid DEFLATE.
        """
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = zlib.decompressobj(-self._receive_bits)
            self._decompressor = decompressor
        if final:
            data += _TAIL
        try:
            if max_length is None:
                out = decompressor.decompress(data)
            else:
                out = decompressor.decompress(data, max_length + 1)
        except zlib.error:
            raise RemoteProtocolError("invalid compressed data", 1007) from None
        if max_length is not None and len(out) > max_length:
            raise RemoteProtocolError("message exceeds the size limit once decompressed", 1009)
        if decompressor.eof:
            # A block with BFINAL ended the stream (§7.2.3.4); what follows it, such as
            # the tail we appended, is ignored, and the next message starts a new one.
            self._decompressor = None
        elif final and not self._receive_takeover:
            self._decompressor = None
        return out
