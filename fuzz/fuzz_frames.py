"""atheris harness: received bytes through the frame parser and the connection core.

Both roles, small message limits, random chunking (see ``fuzz_checks.check_frames``).
Accepts only ``RemoteProtocolError`` with code 1002, 1007 or 1009, answered by ``fail()``
with that code; anything else is a crash. Usually run by ``fuzz/run.py``; directly:

    python fuzz/fuzz_frames.py -max_total_time=60 fuzz/corpus/frames
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent))  # rawsock from the source tree if it is not installed

with atheris.instrument_imports(include=["rawsock"]):
    from fuzz_checks import check_frames


def main() -> None:
    atheris.Setup(sys.argv, check_frames)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
