"""Smoke test of an installed rawsock (a wheel or an sdist in a fresh virtualenv).

    python package_smoke.py --accelerator built     # the C masking accelerator must be there
    python package_smoke.py --accelerator absent    # the pure-Python fallback only

Run it with the virtualenv's interpreter from a directory outside the checkout, so that
``import rawsock`` finds the installed copy and nothing else (it checks that it did). It
checks the installed files (the ``py.typed`` marker, the compiled module present or
absent), which masking implementation is active (the compiled one unless
``RAWSOCK_NO_SPEEDUPS`` is set or it was not built), that masking is right (RFC 6455
§5.3), and makes an echo round trip over loopback between ``rawsock.serve`` and
``rawsock.connect``: text, and a 1 MiB binary message the client masks and the server
unmasks. Exits non-zero with the reason on the first failure.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import importlib.util
import os
import random
import sys
import sysconfig
from pathlib import Path

import trio

import rawsock
import rawsock.sansio
from rawsock.sansio import apply_mask

COMPILED = "rawsock.sansio._speedups"
FALLBACK = "rawsock.sansio._mask"
#: Seconds the echo round trip may take, end to end.
TIMEOUT = 30.0


class SmokeFailure(Exception):
    """A check of the installed package failed."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`SmokeFailure` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise SmokeFailure(message)


def check_installed_copy() -> Path:
    """The imported package is the virtualenv's, with its ``py.typed`` marker."""
    package = Path(rawsock.__file__).resolve().parent
    roots = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    check(
        any(package.is_relative_to(root) for root in roots),
        f"rawsock was imported from {package}, not from this environment's site-packages",
    )
    installed = importlib.metadata.version("rawsock")
    check(
        rawsock.__version__ == installed,
        f"rawsock.__version__ is {rawsock.__version__}, the metadata says {installed}",
    )
    check(
        importlib.resources.files("rawsock").joinpath("py.typed").is_file(),
        "the installed package has no py.typed marker",
    )
    return package


def check_masking(accelerator: str) -> str:
    """The compiled module is there or not, as expected, and the right one is in use."""
    built = importlib.util.find_spec(COMPILED) is not None
    check(
        built == (accelerator == "built"),
        f"expected the accelerator {accelerator}, but {COMPILED} is "
        f"{'importable' if built else 'missing'}",
    )
    forced_off = bool(os.environ.get("RAWSOCK_NO_SPEEDUPS"))
    expected = COMPILED if built and not forced_off else FALLBACK
    check(
        apply_mask.__module__ == expected,
        f"apply_mask comes from {apply_mask.__module__}, expected {expected}",
    )
    check(
        rawsock.sansio.ACCELERATED is (expected == COMPILED),
        f"rawsock.sansio.ACCELERATED is {rawsock.sansio.ACCELERATED} with {expected}",
    )
    data = random.Random(6455).randbytes(1031)
    key = b"\x37\xfa\x21\x3d"
    reference = bytes(byte ^ key[index % 4] for index, byte in enumerate(data))
    check(apply_mask(data, key) == reference, "apply_mask does not match RFC 6455 §5.3")
    return expected


async def echo(ws: rawsock.WebSocket) -> None:
    """Send every message back."""
    async for message in ws:
        await ws.send(message)


async def round_trip() -> None:
    """Echo a text and a 1 MiB binary message through a loopback server."""
    big = random.Random(7692).randbytes(1024 * 1024)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            server: rawsock.Server = await nursery.start(rawsock.serve, echo, "127.0.0.1", 0)
            async with rawsock.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                await ws.send("héllo")
                reply = await ws.receive()
                check(reply == "héllo", f"text echo came back as {reply!r}")
                await ws.send(big)
                answer = await ws.receive()
                check(answer == big, "the 1 MiB binary echo came back different")
            check(ws.close_code == 1000, f"the connection closed with {ws.close_code}")
            await server.aclose()


def main(argv: list[str] | None = None) -> int:
    """Run every check; print what was found; 0 if all passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accelerator", choices=["built", "absent"], required=True)
    args = parser.parse_args(argv)
    try:
        package = check_installed_copy()
        masking = check_masking(args.accelerator)
        trio.run(round_trip)
    except SmokeFailure as failure:
        print(f"package smoke test FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"rawsock {rawsock.__version__} from {package}")
    print(f"masking: {masking} ({'C accelerator' if masking == COMPILED else 'pure Python'})")
    print("echo round trip over loopback: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
