"""The examples of reStructuredText pages: run them as written, or write them out.

    python package_doc_blocks.py run docs/howto/install.rst [more.rst ...]
    python package_doc_blocks.py extract docs/howto/install.rst --to DIR
    python package_doc_blocks.py commands docs/howto/install.rst

``run``: every ``.. code-block:: python`` (or ``.. code:: python``) block runs on its
own, in a fresh interpreter (this one) started from a temporary directory, so that it
imports what is installed and not a checkout; what the blocks print goes to standard
output, in order. Exits non-zero, with the block's file and line, on the first block
that fails. ``extract``: writes each block to ``DIR/<page>_<line>.py``, for a type
checker. ``commands``: prints the commands of the ``.. code-block:: console`` blocks
(their ``$ `` lines, without the prompt), one a line, for a shell to run. The packaging
checks use them to prove that the installation page's commands work as written, and
that its Python examples run in a fresh installation, print what the page says, and
pass ``mypy --strict``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

DIRECTIVE = re.compile(
    r"^(?P<indent>\s*)\.\. (?:code-block|code|sourcecode):: (?P<language>python3?|console)\s*$"
)
PROMPT = "$ "
#: Seconds one block may run.
TIMEOUT = 60.0


@dataclass(frozen=True)
class Block:
    """A code block of a page: where its directive is (1-based line), and its code."""

    path: Path
    line: int
    code: str


def code_blocks(path: Path, language: str) -> list[Block]:
    """The ``python`` (or ``console``) code blocks of one page, in order, dedented."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = DIRECTIVE.match(lines[index])
        index += 1
        if match is None or match["language"].rstrip("3") != language:
            continue
        line = index
        indent = len(match["indent"])
        # the directive's options (":caption: ..."), then the indented body
        while index < len(lines) and lines[index].strip().startswith(":"):
            index += 1
        body: list[str] = []
        while index < len(lines):
            text = lines[index]
            if text.strip() and len(text) - len(text.lstrip()) <= indent:
                break
            body.append(text)
            index += 1
        blocks.append(Block(path, line, textwrap.dedent("\n".join(body)).strip() + "\n"))
    return blocks


def run_block(block: Block, directory: Path) -> str:
    """Run one block in a fresh interpreter from ``directory``; its standard output."""
    result = subprocess.run(
        [sys.executable, "-c", block.code],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{block.path}:{block.line}: the block exited with {result.returncode}\n"
            f"{result.stderr}"
        )
    return result.stdout


def python_blocks(path: Path) -> list[Block]:
    """The Python code blocks of one page, in order, dedented."""
    return code_blocks(path, "python")


def print_commands(pages: list[Path]) -> int:
    """Print the console blocks' commands; 1 if a page has none."""
    for page in pages:
        commands = [
            line.removeprefix(PROMPT)
            for block in code_blocks(page, "console")
            for line in block.code.splitlines()
            if line.startswith(PROMPT)
        ]
        if not commands:
            print(f"{page}: no console command", file=sys.stderr)
            return 1
        print("\n".join(commands))
    return 0


def run_pages(pages: list[Path]) -> int:
    """Run every block of every page; 1 if a page has none or a block fails."""
    with tempfile.TemporaryDirectory() as directory:
        for page in pages:
            blocks = python_blocks(page)
            if not blocks:
                print(f"{page}: no Python block", file=sys.stderr)
                return 1
            for block in blocks:
                try:
                    sys.stdout.write(run_block(block, Path(directory)))
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    print(error, file=sys.stderr)
                    return 1
    return 0


def extract_pages(pages: list[Path], directory: Path) -> int:
    """Write every block of every page into ``directory``; 1 if a page has none."""
    directory.mkdir(parents=True, exist_ok=True)
    for page in pages:
        blocks = python_blocks(page)
        if not blocks:
            print(f"{page}: no Python block", file=sys.stderr)
            return 1
        for block in blocks:
            target = directory / f"{page.stem}_{block.line}.py"
            target.write_text(block.code, encoding="utf-8")
            print(target)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and do what it says."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the blocks, print their output")
    run.add_argument("pages", nargs="+", type=Path)
    extract = commands.add_parser("extract", help="write the blocks to files")
    extract.add_argument("pages", nargs="+", type=Path)
    extract.add_argument("--to", type=Path, required=True, help="directory to write into")
    commands_parser = commands.add_parser("commands", help="print the console commands")
    commands_parser.add_argument("pages", nargs="+", type=Path)
    args = parser.parse_args(argv)
    pages = [page.resolve() for page in args.pages]
    if args.command == "run":
        return run_pages(pages)
    if args.command == "commands":
        return print_commands(pages)
    return extract_pages(pages, args.to)


if __name__ == "__main__":
    sys.exit(main())
