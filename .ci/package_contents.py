"""Check what the built sdist and wheel contain: what a build and an import need, no more.

    python package_contents.py --source . --sdist dist/rawsock-0.1.0.tar.gz \\
        --wheel dist/rawsock-0.1.0-cp311-cp311-linux_x86_64.whl --accelerator built

The sdist must hold what building from it needs (``pyproject.toml``, ``setup.py``, the
README the metadata points to, the license file if the checkout has one, the C source of
the accelerator, every module of the package and its ``py.typed`` marker) and nothing
else: no compiled modules, caches, test artifacts, or egg-info left in the checkout
(the one setuptools writes into every sdist must list exactly the sdist's files). The
wheel must hold every module, ``py.typed``, and the compiled accelerator exactly when
it was built (``--accelerator built``), and nothing else. Prints every problem found and
exits non-zero if there is any.
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

PACKAGE = "rawsock"
#: Files setuptools writes into every sdist, besides the sources.
SDIST_GENERATED = {"PKG-INFO", "setup.cfg"}
EGG_INFO_FILES = {
    "PKG-INFO",
    "SOURCES.txt",
    "dependency_links.txt",
    "requires.txt",
    "top_level.txt",
}
SDIST_BUILD_FILES = {"pyproject.toml", "setup.py", "README.md", "rawsock/sansio/_speedups.c"}
DIST_INFO_FILES = {"METADATA", "WHEEL", "RECORD", "top_level.txt"}
#: The project name at the start of a requirement (PEP 508).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def package_files(source: Path) -> set[str]:
    """The package's modules and marker in the checkout, as POSIX paths from its root."""
    modules = {
        path.relative_to(source).as_posix()
        for path in (source / PACKAGE).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    return modules | {f"{PACKAGE}/py.typed"}


def license_files(source: Path) -> set[str]:
    """License files at the checkout's root (none is fine; then none is required)."""
    return {
        path.name
        for pattern in ("LICEN[CS]E*", "COPYING*")
        for path in source.glob(pattern)
        if path.is_file()
    }


def check_sdist(sdist: Path, source: Path, version: str) -> list[str]:
    """Problems with the sdist's members (an empty list if none)."""
    problems: list[str] = []
    top = f"{PACKAGE}-{version}"
    with tarfile.open(sdist) as archive:
        members = [member for member in archive.getmembers() if member.isfile()]
        names: set[str] = set()
        for member in members:
            path = PurePosixPath(member.name)
            if path.parts[0] != top:
                problems.append(f"sdist: {member.name} is outside {top}/")
                continue
            names.add(PurePosixPath(*path.parts[1:]).as_posix())
        sources_txt = archive.extractfile(f"{top}/{PACKAGE}.egg-info/SOURCES.txt")
        lines = [] if sources_txt is None else sources_txt.read().decode().split()
        listed = {PurePosixPath(line).as_posix() for line in lines}  # "./x" is "x"
    egg_info = {f"{PACKAGE}.egg-info/{name}" for name in EGG_INFO_FILES}
    required = SDIST_BUILD_FILES | package_files(source) | license_files(source)
    allowed = required | SDIST_GENERATED | egg_info
    problems += [f"sdist: {name} is missing" for name in sorted(required - names)]
    problems += [f"sdist: {name} does not belong there" for name in sorted(names - allowed)]
    unlisted = listed - names
    problems += [f"sdist: SOURCES.txt lists {name}, not in the sdist" for name in sorted(unlisted)]
    return problems


def check_wheel(wheel: Path, source: Path, version: str, accelerator: str) -> list[str]:
    """Problems with the wheel's members and metadata (an empty list if none)."""
    problems: list[str] = []
    dist_info = f"{PACKAGE}-{version}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        names = {name for name in archive.namelist() if not name.endswith("/")}
        metadata = HeaderParser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
    compiled = {
        name
        for name in names
        if name.startswith(f"{PACKAGE}/sansio/_speedups.") and name.endswith((".so", ".pyd"))
    }
    if accelerator == "built" and len(compiled) != 1:
        problems.append(f"wheel: expected one compiled accelerator, found {sorted(compiled)}")
    if accelerator == "absent" and compiled:
        problems.append(f"wheel: the accelerator should be absent, found {sorted(compiled)}")
    required = package_files(source) | {f"{dist_info}/{name}" for name in DIST_INFO_FILES}
    allowed = required | compiled
    licenses = {name for name in names if name.startswith(f"{dist_info}/licenses/")}
    problems += [f"wheel: {name} is missing" for name in sorted(required - names)]
    extra = names - allowed - licenses
    problems += [f"wheel: {name} does not belong there" for name in sorted(extra)]
    if metadata["Name"] != PACKAGE or metadata["Version"] != version:
        problems.append(f"wheel: METADATA names {metadata['Name']} {metadata['Version']}")
    requires = {
        match.group()
        for requirement in metadata.get_all("Requires-Dist", [])
        if "extra ==" not in requirement and (match := NAME.match(requirement))
    }
    if requires != {"trio", "h11"}:
        problems.append(f"wheel: runtime requirements are {sorted(requires)}, not trio and h11")
    if not metadata["Requires-Python"]:
        problems.append("wheel: METADATA has no Requires-Python")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Check both archives; print the problems; 0 if there are none."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the checkout built")
    parser.add_argument("--sdist", type=Path, required=True)
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--accelerator", choices=["built", "absent"], required=True)
    args = parser.parse_args(argv)
    version = args.wheel.name.split("-")[1]
    problems = check_sdist(args.sdist, args.source, version)
    problems += check_wheel(args.wheel, args.source, version, args.accelerator)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"{args.sdist.name} and {args.wheel.name}: contents as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
