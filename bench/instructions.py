"""Instructions a server executes per round trip, counted by callgrind: exact on a busy machine.

    python bench/instructions.py                    # rawsock and the floor, 16 B and 1 KiB
    python bench/instructions.py --size 16 --servers rawsock

Timed benchmarks on a shared two-core machine move by 10-30 % between runs; an
instruction count does not. Each server of ``bench/servers/`` runs under
``valgrind --tool=callgrind`` while one connection echoes ``--small`` and then
``--large`` round trips of ``--size`` bytes; the difference of the two totals divided by
the difference of the counts is what one round trip costs in the server's own process,
start-up, handshake and close cancelled out. System calls count as the instructions
that make them (the kernel's work is not counted): compare servers that make the same
calls, as rawsock and the raw Trio floor do (one ``recv`` and one ``send`` per round
trip). Needs valgrind (``apt-get install valgrind``); a count takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import client  # noqa: E402

SCRIPTS = {"rawsock": "echo_rawsock.py", "floor": "echo_trio_tcp.py"}
_COLLECTED = re.compile(rb"Collected : (\d+)")


def total_instructions(server: str, size: int, round_trips: int) -> int:
    """Instructions the server's process executes in all, for ``round_trips`` echoes."""
    with tempfile.TemporaryDirectory() as scratch:
        process = subprocess.Popen(
            [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/out",
                sys.executable, str(BENCH / "servers" / SCRIPTS[server]), "--port", "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None
        try:
            port = int(process.stdout.readline().split()[1])  # "READY <port>"
            target = client.Target("127.0.0.1", port, "ws" if server == "rawsock" else "tcp")
            sent, expected = target.message(client.payload_of(size))
            sock = client.open_connection(target)
            sock.settimeout(60)
            for _ in range(round_trips):
                sock.sendall(sent)
                client.recv_exactly(sock, len(expected))
            client.close_connection(target, sock)
        finally:
            process.send_signal(signal.SIGINT)
            _, errors = process.communicate(timeout=300)
        found = _COLLECTED.search(errors)
        if found is None:
            raise RuntimeError(f"no count from callgrind: {errors[-500:].decode(errors='replace')}")
        return int(found.group(1))


def per_round_trip(server: str, size: int, small: int, large: int) -> float:
    return (total_instructions(server, size, large) - total_instructions(server, size, small)) / (
        large - small
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="rawsock,floor")
    parser.add_argument("--size", type=int, action="append", help="message size (repeatable)")
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=2500)
    args = parser.parse_args()
    client.raise_file_limit()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    for size in args.size or [16, 1024]:
        for server in args.servers.split(","):
            count = per_round_trip(server, size, args.small, args.large)
            print(f"{server:8} {size:6} B: {count:9,.0f} instructions per round trip")


if __name__ == "__main__":
    main()
