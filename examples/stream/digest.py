"""SHA-256 of a file's first bytes, read with Trio's async file API.

Both sides need it to resume: the receiver hashes the part it already holds, the sender
the same prefix of its file, and each then goes on hashing the bytes that follow, so the
final digest covers the whole file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from hashlib import _Hash as Digest
else:
    Digest = object

__all__ = ["CHUNK_SIZE", "Digest", "hash_prefix"]

#: Bytes read from a file at a time, and the size of each fragment the sender writes.
CHUNK_SIZE = 256 * 1024


async def hash_prefix(path: Path, length: int) -> Digest:
    """A SHA-256 object fed with the first ``length`` bytes of ``path``.

    Reads in chunks, so memory stays at one chunk and a cancellation takes effect
    between them.

    Raises:
        EOFError: the file is shorter than ``length``.
        OSError: it cannot be read.
    """
    digest = hashlib.sha256()
    remaining = length
    async with await trio.open_file(path, "rb") as file:
        for _ in range(-(-length // CHUNK_SIZE)):  # ceil(length / CHUNK_SIZE) reads
            chunk = await file.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                raise EOFError(f"{path} ended {remaining} bytes before {length}")
            digest.update(chunk)
            remaining -= len(chunk)
            if remaining == 0:
                break
    if remaining:
        raise EOFError(f"{path} ended {remaining} bytes before {length}")
    return digest
