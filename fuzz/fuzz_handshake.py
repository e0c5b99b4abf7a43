"""atheris harness: the server's opening handshake parser.

``ServerHandshake.receive_data`` / ``next_request`` / ``validate``, then ``accept`` or
``reject_error`` (see ``fuzz_checks.check_handshake``). Accepts only ``HandshakeError``
with a documented status, and checks that every response is well-formed HTTP; anything
else is a crash. Usually run by ``fuzz/run.py``; directly:

    python fuzz/fuzz_handshake.py -max_total_time=60 fuzz/corpus/handshake
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent))  # rawsock from the source tree if it is not installed

with atheris.instrument_imports(include=["rawsock", "h11"]):
    from fuzz_checks import check_handshake


def main() -> None:
    atheris.Setup(sys.argv, check_handshake)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
