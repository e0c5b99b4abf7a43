"""Write the seed corpus (``fuzz/corpus/``): a few interesting inputs for each harness.

    python fuzz/make_corpus.py

Rewrites ``corpus/frames`` and ``corpus/handshake`` from the lists below (input layouts:
``fuzz_checks.py``). Each seed names what it exercises; the fuzzer mutates from there.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent))

from fuzz_checks import frames_input, handshake_input  # noqa: E402

from rawsock.sansio import Opcode, encode_frame  # noqa: E402

MASK = b"\x8a\x13\x5c\xe0"
OPCODES = {opcode.value for opcode in Opcode}
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def c2s(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """A client frame (masked), written by hand so any header can be made."""
    return _frame(opcode, payload, fin, rsv, MASK)


def s2c(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """A server frame (unmasked)."""
    return _frame(opcode, payload, fin, rsv, None)


def _frame(opcode: int, payload: bytes, fin: bool, rsv: int, mask: bytes | None) -> bytes:
    if opcode in OPCODES and (opcode < 8 or (fin and len(payload) < 126)):
        return encode_frame(Opcode(opcode), payload, fin=fin, rsv=rsv, mask_key=mask)
    # Reserved opcodes and broken control frames: the header by hand.
    first = (0x80 if fin else 0) | rsv | opcode
    masked = 0x80 if mask else 0
    if len(payload) < 126:
        header = bytes((first, masked | len(payload)))
    else:
        header = bytes((first, masked | 126)) + len(payload).to_bytes(2, "big")
    if mask is None:
        return header + payload
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def long_header(opcode: int, length: int, *, masked: bool) -> bytes:
    """A header declaring ``length`` bytes with the 64-bit form, and no payload."""
    return (
        bytes((0x80 | opcode, (0x80 if masked else 0) | 127))
        + length.to_bytes(8, "big")
        + (MASK if masked else b"")
    )


def close(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


FRAMES: dict[str, bytes] = {
    # Well-formed traffic, both roles, whole and cut in small chunks.
    "server-text-binary-ping-close": frames_input(
        c2s(1, "héllo".encode()) + c2s(2, b"\x00\xff") + c2s(9, b"p") + c2s(8, close(1000, b"ok"))
    ),
    "server-fragments-interleaved-control-chunked": frames_input(
        c2s(1, b"fra", fin=False)
        + c2s(9, b"1")
        + c2s(0, b"gme", fin=False)
        + c2s(10, b"2")
        + c2s(0, "nté€".encode())
        + c2s(8),
        chunking=3,
    ),
    "client-text-binary-pong-close": frames_input(
        s2c(1, b"hi") + s2c(2, bytes(200)) + s2c(10, b"x") + s2c(8, close(4999, b"app")),
        client=True,
    ),
    "client-utf8-split-chunked": frames_input(
        s2c(1, "€𝄞".encode()[:2], fin=False) + s2c(0, "€𝄞".encode()[2:]),
        client=True,
        chunking=1,
    ),
    "server-16-bit-length": frames_input(c2s(2, bytes(300)), limit_index=5),
    "server-64-bit-length-partial-payload": frames_input(
        long_header(2, 66000, masked=True) + bytes(1000), limit_index=7
    ),
    "server-empty-fragments": frames_input(
        c2s(1, b"", fin=False) + c2s(0, b"", fin=False) * 20 + c2s(0, b"")
    ),
    "server-data-after-close": frames_input(c2s(8) + c2s(1, b"ignored") + b"\xff\xff"),
    # Framing violations: 1002.
    "server-unmasked-frame": frames_input(s2c(1, b"no mask")),
    "client-masked-frame": frames_input(c2s(1, b"mask"), client=True),
    "server-reserved-opcode-3": frames_input(c2s(3)),
    "server-reserved-opcode-11": frames_input(c2s(11, b"x")),
    "server-rsv1": frames_input(c2s(1, b"x", rsv=0x40)),
    "server-rsv3-on-ping": frames_input(c2s(9, b"x", rsv=0x10)),
    "server-fragmented-ping": frames_input(c2s(9, b"x", fin=False)),
    "server-long-ping": frames_input(c2s(9, bytes(126))),
    "server-orphan-continuation": frames_input(c2s(0, b"x")),
    "server-new-message-inside-fragmented": frames_input(c2s(1, b"a", fin=False) + c2s(2, b"b")),
    "server-64-bit-high-bit": frames_input(long_header(2, 2**64 - 1, masked=True)),
    "client-64-bit-high-bit": frames_input(long_header(1, 2**63, masked=False), client=True),
    "server-close-1-byte": frames_input(c2s(8, b"\x03")),
    "server-close-code-1005": frames_input(c2s(8, close(1005))),
    "server-close-code-999": frames_input(c2s(8, close(999))),
    "client-close-code-5000": frames_input(s2c(8, close(5000)), client=True),
    # Invalid UTF-8: 1007.
    "server-text-invalid-utf8": frames_input(c2s(1, b"ok\xff")),
    "server-text-surrogate-mid-frame": frames_input(c2s(1, b"a\xed\xa0\x80" + bytes(500))[:12]),
    "server-text-truncated-utf8": frames_input(c2s(1, b"\xe2\x82")),
    "server-text-overlong-in-continuation": frames_input(
        c2s(1, b"ok", fin=False) + c2s(0, b"\xc0\xaf")
    ),
    "server-close-reason-invalid-utf8": frames_input(c2s(8, close(1000, b"\xff"))),
    # Size limits: 1009.
    "server-frame-over-limit": frames_input(c2s(2, bytes(200)), limit_index=3),
    "server-message-over-limit-across-fragments": frames_input(
        c2s(2, bytes(100), fin=False) + c2s(0, bytes(100), fin=False) + c2s(0, bytes(100)),
        limit_index=4,
    ),
    "server-frame-limit-half": frames_input(
        c2s(2, bytes(600)), limit_index=6, half_frame_limit=True
    ),
    "server-64-bit-max-length": frames_input(long_header(2, 2**63 - 1, masked=True)),
    "server-limit-0-nonempty": frames_input(c2s(1, b"x"), limit_index=0),
    "client-64-bit-max-length-chunked": frames_input(
        long_header(2, 2**63 - 1, masked=False), client=True, chunking=1
    ),
}


def request(*lines: str, head: str = "GET /chat?x=1 HTTP/1.1") -> bytes:
    return ("\r\n".join([head, *lines]) + "\r\n\r\n").encode("latin-1")


GOOD = ["Host: example.com", "Upgrade: websocket", "Connection: Upgrade"]
GOOD += [f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"]


def without(name: str, *extra: str) -> bytes:
    return request(*[line for line in GOOD if not line.startswith(name)], *extra)


HANDSHAKE: dict[str, bytes] = {
    "valid": handshake_input(request(*GOOD)),
    "valid-chunked-with-frame-after": handshake_input(
        request(*GOOD) + c2s(1, b"early"), chunking=5
    ),
    "valid-lf-only": handshake_input(request(*GOOD).replace(b"\r\n", b"\n")),
    "valid-subprotocols-extensions": handshake_input(
        request(
            *GOOD,
            "Sec-WebSocket-Protocol: chat, superchat",
            'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x; y="z"',
            "Origin: http://example.com",
        )
    ),
    "post": handshake_input(request(*GOOD, head="POST / HTTP/1.1")),
    "http-1.0": handshake_input(request(*GOOD, head="GET / HTTP/1.0")),
    "no-upgrade": handshake_input(without("Upgrade")),
    "no-connection": handshake_input(without("Connection")),
    "no-key": handshake_input(without("Sec-WebSocket-Key")),
    "short-key": handshake_input(without("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAECAwQ=")),
    "duplicated-key": handshake_input(request(*GOOD, f"Sec-WebSocket-Key: {KEY}")),
    "version-8": handshake_input(without("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")),
    "no-host": handshake_input(without("Host")),
    "bad-extension": handshake_input(request(*GOOD, "Sec-WebSocket-Extensions: x; =")),
    "tls-client-hello": handshake_input(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
    "empty-request-line": handshake_input(b"\r\n\r\n"),
    "eof-mid-head": handshake_input(request(*GOOD)[:40], chunking=7),
    "long-request-line-small-limits": handshake_input(
        request(*GOOD, head="GET /" + "a" * 80 + " HTTP/1.1"), small_limits=True
    ),
    "long-request-line-no-newline-small-limits": handshake_input(
        b"GET /" + b"a" * 100, small_limits=True, chunking=9
    ),
    "big-headers-small-limits": handshake_input(
        request(*GOOD, "X: " + "v" * 300), small_limits=True
    ),
    "many-headers-small-limits": handshake_input(
        request(*GOOD, *[f"X-{i}: v" for i in range(10)]), small_limits=True, chunking=4
    ),
}


def main() -> None:
    for name, inputs in (("frames", FRAMES), ("handshake", HANDSHAKE)):
        folder = HERE / "corpus" / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for seed, data in inputs.items():
            (folder / seed).write_bytes(data)
        print(f"{folder.relative_to(HERE.parent)}: {len(inputs)} inputs")


if __name__ == "__main__":
    main()
