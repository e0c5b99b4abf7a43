"""The sans-I/O core imports no I/O: no trio, socket, time, logging or asyncio."""

from __future__ import annotations

import ast
from pathlib import Path

import rawsock.sansio

FORBIDDEN = {"trio", "socket", "time", "logging", "asyncio", "select", "selectors"}
CORE = Path(rawsock.sansio.__file__).parent


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_modules_exist() -> None:
    names = {p.name for p in CORE.glob("*.py")}
    assert {"_frames.py", "_protocol.py", "_handshake.py"} <= names


def test_core_imports_no_io() -> None:
    offenders = {
        path.name: imported_roots(path) & FORBIDDEN
        for path in CORE.glob("*.py")
        if imported_roots(path) & FORBIDDEN
    }
    assert offenders == {}


def test_core_never_imports_the_trio_layer() -> None:
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                raise AssertionError(f"{path.name} imports from the Trio layer")
            if isinstance(node, ast.ImportFrom) and node.module == "rawsock":
                raise AssertionError(f"{path.name} imports rawsock")


def test_the_check_would_catch_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import trio.lowlevel\nfrom logging import getLogger\n")
    assert imported_roots(bad) & FORBIDDEN == {"trio", "logging"}
