"""Where received files go: safe names, ``name.part`` while incomplete, the final rename.

A file being received lives in ``DIR/name.part``; its size is how much a new connection
for the same name may resume from. Only a verified file is renamed to ``DIR/name``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PART_SUFFIX", "Destination", "RejectedFile"]

PART_SUFFIX = ".part"
#: Most file systems allow 255 bytes per name; ``.part`` must still fit.
MAX_NAME_BYTES = 255 - len(PART_SUFFIX)


class RejectedFile(Exception):
    """The receiver will not take this file (bad name, too large, already there...)."""


@dataclass(frozen=True)
class Destination:
    """The final and the partial path of one file inside the receiving directory."""

    name: str
    final: Path
    part: Path

    @classmethod
    def inside(cls, directory: Path, name: str) -> Destination:
        """Validate ``name`` as a plain file name and place it in ``directory``.

        Raises:
            RejectedFile: empty, ``.`` or ``..``, a path separator, a control
                character, too long, ending in ``.part``, or resolving outside
                ``directory``.
        """
        if name in ("", ".", ".."):
            raise RejectedFile(f"invalid file name {name!r}")
        if any(separator in name for separator in ("/", "\\", os.sep)):
            raise RejectedFile(f"the file name {name!r} contains a path separator")
        if any(ord(character) < 32 or ord(character) == 127 for character in name):
            raise RejectedFile(f"the file name {name!r} contains a control character")
        if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise RejectedFile(f"the file name is longer than {MAX_NAME_BYTES} bytes")
        if name.endswith(PART_SUFFIX):
            raise RejectedFile(f"names ending in {PART_SUFFIX} are kept for partial files")
        root = directory.resolve()
        final = root / name
        # Belt and braces: whatever the checks above missed, the file stays in `root`.
        if final.resolve().parent != root:
            raise RejectedFile(f"the file name {name!r} leads outside the receiving directory")
        return cls(name, final, root / (name + PART_SUFFIX))

    def check_acceptable(self, size: int, max_size: int | None) -> int:
        """Refuse a file that exists already, is over ``max_size`` or cannot fit on disk.

        Returns how many of its bytes ``name.part`` already holds (see ``resumable_size``).

        Raises:
            RejectedFile: with the reason.
        """
        if max_size is not None and size > max_size:
            raise RejectedFile(f"{size} bytes is over this receiver's limit of {max_size}")
        if self.final.exists() or self.final.is_symlink():
            raise RejectedFile(f"{self.name} already exists on the receiver")
        if self.part.is_symlink() or (self.part.exists() and not self.part.is_file()):
            raise RejectedFile(f"{self.part.name} on the receiver is not a regular file")
        held = self.resumable_size(size)
        free = shutil.disk_usage(self.final.parent).free
        if size - held > free:
            raise RejectedFile(f"not enough disk space: {size - held} bytes needed, {free} free")
        return held

    def resumable_size(self, size: int) -> int:
        """How many bytes of a ``size``-byte file ``name.part`` may already hold.

        A part longer than the announced file cannot be a prefix of it and counts as 0.
        """
        try:
            held = self.part.stat().st_size
        except FileNotFoundError:
            return 0
        return held if held <= size else 0

    def discard_part(self) -> None:
        """Delete ``name.part`` (after a failed verification), if it is there."""
        self.part.unlink(missing_ok=True)

    def complete(self) -> None:
        """Rename the verified ``name.part`` to ``name``.

        Raises:
            RejectedFile: ``name`` appeared in the meantime (it is never overwritten).
        """
        if self.final.exists() or self.final.is_symlink():
            raise RejectedFile(f"{self.name} appeared on the receiver during the transfer")
        self.part.replace(self.final)
