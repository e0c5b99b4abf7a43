"""The sending side: stream one file to a receiver over one WebSocket connection.

The file goes out as one binary message, read chunk by chunk with Trio's async file API
and sent as fragments with ``send_stream``; ``send_stream`` waits whenever the receiver
is slower than the disk, so memory holds about one chunk whatever the file size.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import trio
from tqdm import tqdm

import rawsock

from .digest import CHUNK_SIZE, Digest, hash_prefix
from .progress import byte_progress, say
from .protocol import (
    CONNECTION_OPTIONS,
    Done,
    Header,
    Offset,
    PeerError,
    ProtocolViolation,
    Start,
    Trailer,
    TransferError,
    close_reason,
    decode,
    encode,
    expect,
)

__all__ = ["Sent", "TransferFailed", "send_file"]

#: Seconds to wait, once the connection is closing, for an explanation still queued.
EXPLANATION_WAIT = 2.0


class TransferFailed(Exception):
    """The file did not arrive complete and verified; the message says why."""


@dataclass(frozen=True)
class Sent:
    """A file the receiver confirmed: its ``size`` and ``sha256``, and ``start``, the
    byte this run began at (0, or where it resumed a transfer left incomplete)."""

    size: int
    sha256: str
    start: int

    @property
    def sent(self) -> int:
        """The bytes this run sent."""
        return self.size - self.start


async def send_file(path: Path, url: str, *, name: str, show_progress: bool) -> Sent:
    """Send ``path`` to the receiver at ``url`` as ``name``, resuming where it can.

    Returns what the receiver confirmed (size and SHA-256 of the stored file) and where
    this run started.

    Raises:
        TransferFailed: the receiver refused the file or the hash, broke the protocol,
            or the connection was lost.
        OSError, rawsock.RawsockError: the file cannot be read, or no connection.
    """
    size = (await trio.Path(path).stat()).st_size
    async with rawsock.connect(url, **CONNECTION_OPTIONS) as ws:
        try:
            return await _transfer(ws, path, name, size, show_progress)
        except PeerError as error:
            raise TransferFailed(f"the receiver refused: {error}") from None
        except rawsock.ConnectionClosed as closed:
            raise TransferFailed(await _explain_close(ws, closed)) from None
        except ProtocolViolation as error:
            text = f"unexpected answer from the receiver: {error}"
            with contextlib.suppress(rawsock.ConnectionClosed):
                await ws.send(encode(TransferError(text)))
            await ws.aclose(rawsock.CloseCode.POLICY_VIOLATION, close_reason(text))
            raise TransferFailed(text) from None


async def _transfer(
    ws: rawsock.WebSocket, path: Path, name: str, size: int, show_progress: bool
) -> Sent:
    await ws.send(encode(Header(name, size)))
    offer = expect(await ws.receive(), Offset)
    if offer.offset > size:
        raise ProtocolViolation(f"offset {offer.offset} is past the end of the file ({size})")
    start, digest = await _choose_start(path, offer)
    await ws.send(encode(Start(start)))
    if start:
        say(f"resuming {name} at byte {start} of {size}")
    with byte_progress(name, size, start, show_progress) as progress:
        await ws.send_stream(_file_chunks(path, start, size, digest, progress))
    await ws.send(encode(Trailer(digest.hexdigest())))
    done = expect(await ws.receive(), Done)
    if (done.size, done.sha256) != (size, digest.hexdigest()):
        raise ProtocolViolation(f"the receiver confirmed {done}, not {size} bytes as sent")
    return Sent(done.size, done.sha256, start)


async def _choose_start(path: Path, offer: Offset) -> tuple[int, Digest]:
    """Resume at the offered offset if the receiver's bytes are this file's first bytes.

    Returns the start offset and a SHA-256 object fed with the file's bytes before it.
    """
    if offer.offset == 0:
        return 0, hashlib.sha256()
    digest = await hash_prefix(path, offer.offset)
    if digest.hexdigest() == offer.sha256:
        return offer.offset, digest
    say(f"the receiver's {offer.offset} partial bytes differ from this file: starting over")
    return 0, hashlib.sha256()


async def _file_chunks(
    path: Path, start: int, size: int, digest: Digest, progress: tqdm[NoReturn]
) -> AsyncIterator[bytes]:
    """Bytes ``start`` to ``size`` of ``path``, chunk by chunk, fed to ``digest`` too.

    Raises:
        TransferFailed: the file became shorter than ``size`` meanwhile.
    """
    remaining = size - start
    async with await trio.open_file(path, "rb") as file:
        await file.seek(start)
        for _ in range(-(-remaining // CHUNK_SIZE)):  # ceil(remaining / CHUNK_SIZE) reads
            chunk = await file.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
            yield chunk
            progress.update(len(chunk))
    if remaining:
        raise TransferFailed(f"{path} became shorter during the transfer")


async def _explain_close(ws: rawsock.WebSocket, closed: rawsock.ConnectionClosed) -> str:
    """Why the connection ended: the receiver's ``error`` message if one is queued."""
    with trio.move_on_after(EXPLANATION_WAIT):
        with contextlib.suppress(rawsock.ConnectionClosed, ProtocolViolation):
            message = decode(await ws.receive())
            if isinstance(message, TransferError):
                return f"the receiver refused: {message.message}"
    reason = f": {closed.reason}" if closed.reason else ""
    return f"the connection closed (code {closed.code}{reason})"
