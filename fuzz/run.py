"""Run every fuzz harness for a bounded time; exit non-zero if any of them crashed.

    python fuzz/run.py --seconds 10            # each harness, one after the other
    python fuzz/run.py --seconds 300 frames    # one harness, longer

Needs atheris (``pip install -e '.[fuzz]'``); without it, prints one line and exits 2.
The seed corpus in ``fuzz/corpus/<harness>`` is read, never written: inputs the fuzzer
finds go to a temporary directory (``--keep`` copies them to ``fuzz/found/<harness>``
to look at, or to add the good ones to the corpus). A crashing input is saved as
``fuzz/artifacts/<harness>-crash-<sha1>``; replay it with
``python fuzz/fuzz_<harness>.py fuzz/artifacts/<file>``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESSES = {"frames": "fuzz_frames.py", "handshake": "fuzz_handshake.py"}
#: libFuzzer options shared by every run; the time budget is added per harness.
FUZZER_OPTIONS = ["-timeout=10", "-rss_limit_mb=2048", "-max_len=4096", "-print_final_stats=1"]


def run_harness(name: str, seconds: int, keep: bool) -> bool:
    """Fuzz one harness for ``seconds``; return whether it finished without a crash."""
    artifacts = HERE / "artifacts"
    artifacts.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"rawsock-fuzz-{name}-") as work:
        found = Path(work)
        command = [
            sys.executable,
            str(HERE / HARNESSES[name]),
            f"-max_total_time={seconds}",
            f"-artifact_prefix={artifacts}/{name}-",
            *FUZZER_OPTIONS,
            str(found),  # new inputs are written to the first corpus directory
            str(HERE / "corpus" / name),
        ]
        print(f"== fuzz {name}: {seconds} s", flush=True)
        start = time.monotonic()
        status = subprocess.call(command)
        elapsed = time.monotonic() - start
        if keep:
            target = HERE / "found" / name
            target.mkdir(parents=True, exist_ok=True)
            for path in found.iterdir():
                shutil.copy(path, target / path.name)
    if status != 0:
        print(
            f"== fuzz {name}: FAILED (exit status {status}) after {elapsed:.1f} s; "
            f"the input is in {artifacts}"
        )
        return False
    print(f"== fuzz {name}: ok after {elapsed:.1f} s")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=int, default=10, help="time budget per harness (default 10)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="copy the inputs the fuzzer finds to fuzz/found/"
    )
    parser.add_argument(
        "harnesses", nargs="*", metavar="HARNESS", help=f"{' or '.join(HARNESSES)} (default: all)"
    )
    args = parser.parse_args(argv)
    unknown = set(args.harnesses) - set(HARNESSES)
    if unknown:
        parser.error(f"unknown harness {', '.join(sorted(unknown))}")
    if importlib.util.find_spec("atheris") is None:
        print(
            "fuzz/run.py: atheris is not installed; pip install -e '.[fuzz]' to fuzz",
            file=sys.stderr,
        )
        return 2
    names = args.harnesses or list(HARNESSES)
    failed = [name for name in names if not run_harness(name, args.seconds, args.keep)]
    if failed:
        print(f"== fuzz: crashes in {', '.join(failed)}")
        return 1
    print(f"== fuzz: {len(names)} harnesses ran {args.seconds} s each without a crash")
    return 0


if __name__ == "__main__":
    sys.exit(main())
