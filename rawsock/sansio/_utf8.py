"""Incremental, fail-fast UTF-8 validation of text messages (RFC 6455 §8.1).

§8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte
stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
Connection_." CPython's incremental UTF-8 decoder rejects a sequence as soon as the
first byte that cannot continue it arrives (it checks continuation-byte ranges, so an
overlong form or a code point above U+10FFFF fails at its second byte), which is the
fail-fast behaviour we want across frame and read boundaries. The one exception is an
encoded surrogate (``ED A0..BF``): CPython holds those two bytes and fails only at the
third, so :meth:`Utf8Decoder.decode` checks for that prefix itself.
"""

from __future__ import annotations

import codecs

from ._errors import RemoteProtocolError

__all__ = ["Utf8Decoder"]

_IncrementalDecoder = codecs.getincrementaldecoder("utf-8")


class Utf8Decoder:
    """Decodes one text message piece by piece and fails on the first invalid byte."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = _IncrementalDecoder("strict")

    def decode(self, data: bytes, final: bool = False) -> str:
        """Decode the next piece of the message.

        Args:
            data: the next bytes of the message payload.
            final: ``True`` for the last piece: an incomplete character at the end is
                then an error.

        Returns:
            The characters completed by this piece (possibly ``""``).

        Raises:
            RemoteProtocolError: code 1007 as soon as the bytes cannot be UTF-8.
        """
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError:
            raise RemoteProtocolError("text message is not valid UTF-8", 1007) from None
        if not final:
            pending = self._decoder.getstate()[0]
            if len(pending) > 1 and pending[0] == 0xED and pending[1] >= 0xA0:
                raise RemoteProtocolError("text message encodes a UTF-16 surrogate", 1007)
        return text
