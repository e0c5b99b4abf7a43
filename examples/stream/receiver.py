"""The receiving side: a WebSocket server that writes each incoming file into a directory.

One connection carries one file (see ``protocol.py``). The data is written to
``name.part`` as it arrives, through Trio's async file API, while a SHA-256 is computed;
the file is renamed to ``name`` only once the sender's trailer confirms the hash. A
dropped connection leaves ``name.part`` behind for the next connection to resume.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import trio
from tqdm import tqdm

import rawsock

from .digest import Digest, hash_prefix
from .progress import byte_progress
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
    encode,
    expect,
)
from .storage import Destination, RejectedFile

__all__ = ["Receiver", "serve_receiver"]

logger = logging.getLogger("examples.stream.receiver")

#: Empty fragments tolerated in one data message: each non-empty one brings at least a
#: byte of the announced size, so together they bound the receiving loop.
MAX_EMPTY_FRAGMENTS = 64


class ChecksumMismatch(Exception):
    """The received bytes do not hash to the SHA-256 of the sender's trailer."""


@dataclass
class _Claim:
    """The connection currently receiving one file name."""

    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    released: trio.Event = field(default_factory=trio.Event)


class Receiver:
    """Receives files into ``directory``, one per connection; ``handle`` is the handler."""

    def __init__(self, directory: Path, *, max_size: int | None, show_progress: bool) -> None:
        self.directory = directory
        self.max_size = max_size
        self.show_progress = show_progress
        self._claims: dict[str, _Claim] = {}
        self._connection_ids = itertools.count(1)

    async def handle(self, ws: rawsock.WebSocket) -> None:
        """Receive one file over ``ws``; every failure is reported to the sender."""
        tag = f"[#{next(self._connection_ids)}]"
        destination: Destination | None = None
        try:
            header = expect(await ws.receive(), Header)
            destination = Destination.inside(self.directory, header.name)
            async with self._claim(header.name) as claim:
                with claim.scope:
                    await self._receive(ws, header, destination, tag)
            if claim.scope.cancelled_caught:
                logger.info("%s %s: a newer connection took this file over", tag, header.name)
                await ws.aclose(
                    rawsock.CloseCode.POLICY_VIOLATION, "a newer connection took this file over"
                )
        except (ProtocolViolation, RejectedFile, ChecksumMismatch) as error:
            await _refuse(ws, f"{tag} refused", str(error), rawsock.CloseCode.POLICY_VIOLATION)
        except PeerError as error:
            logger.warning("%s the sender gave up: %s", tag, error)
        except rawsock.ConnectionClosed as closed:
            held = _part_size(destination)
            logger.warning(
                "%s connection %s (close code %d)%s", tag, "closed" if closed.ok else "lost",
                closed.code,
                f"; {destination.part.name} keeps {held} bytes" if destination and held else "",
            )
        except (OSError, EOFError) as error:
            text = f"the receiver cannot store the file: {error}"
            await _refuse(ws, f"{tag} failed", text, rawsock.CloseCode.INTERNAL_ERROR)

    async def _receive(
        self, ws: rawsock.WebSocket, header: Header, destination: Destination, tag: str
    ) -> None:
        # File system checks run in a thread, as Trio's file API does: a slow disk or
        # network file system must not stall the other connections.
        held = await trio.to_thread.run_sync(
            destination.check_acceptable, header.size, self.max_size
        )
        digest = await hash_prefix(destination.part, held) if held else hashlib.sha256()
        await ws.send(encode(Offset(held, digest.hexdigest())))
        start = expect(await ws.receive(), Start).offset
        if start not in (0, held):
            raise ProtocolViolation(f"start.offset must be {held} (resume) or 0, not {start}")
        if start == 0:
            digest = hashlib.sha256()
        logger.info(
            "%s receiving %s (%d bytes) %s", tag, header.name, header.size,
            f"from byte {start}" if start else "from the start",
        )
        progress = byte_progress(header.name, header.size, start, self.show_progress)
        with progress:
            async with await trio.open_file(destination.part, "ab" if start else "wb") as file:
                await _receive_data(ws, file.write, digest, header.size - start, progress)
                trailer = expect(await ws.receive(), Trailer)
                await file.flush()
                await trio.to_thread.run_sync(os.fsync, file.fileno())
        if trailer.sha256 != digest.hexdigest():
            await trio.to_thread.run_sync(destination.discard_part)
            raise ChecksumMismatch(
                f"SHA-256 mismatch for {header.name}: the sender says {trailer.sha256}, the "
                f"received bytes hash to {digest.hexdigest()}; the partial file was deleted"
            )
        await trio.to_thread.run_sync(destination.complete)
        await ws.send(encode(Done(header.size, digest.hexdigest())))
        logger.info("%s received %s, sha256 %s", tag, destination.final, digest.hexdigest())

    @contextlib.asynccontextmanager
    async def _claim(self, name: str) -> AsyncIterator[_Claim]:
        """Make this connection the only one receiving ``name``.

        A connection already receiving it is most likely dead (its sender reconnected
        to resume), so it is cancelled, and this one waits until it has closed the file.
        """
        claim = _Claim()
        previous = self._claims.get(name)
        self._claims[name] = claim
        try:
            if previous is not None:
                previous.scope.cancel()
                # Shielded: the previous connection must be done with the file whatever
                # happens to this one. Its file operations end at the cancellation.
                with trio.CancelScope(shield=True):
                    await previous.released.wait()
            yield claim
        finally:
            if self._claims.get(name) is claim:
                del self._claims[name]
            claim.released.set()


async def _receive_data(
    ws: rawsock.WebSocket,
    write: Callable[[bytes], Awaitable[object]],
    digest: Digest,
    expected: int,
    progress: tqdm[NoReturn],
) -> None:
    """Pass the data message to ``write`` as it arrives; it must hold ``expected`` bytes."""
    received = 0
    empty_fragments = 0
    async for chunk in ws.receive_stream():
        if isinstance(chunk, str):
            raise ProtocolViolation("expected the file's bytes as a binary message, got text")
        if not chunk:
            empty_fragments += 1
            if empty_fragments > MAX_EMPTY_FRAGMENTS:
                raise ProtocolViolation("too many empty fragments in the data message")
            continue
        received += len(chunk)
        if received > expected:
            raise ProtocolViolation(f"the data message is longer than the {expected} bytes due")
        digest.update(chunk)
        await write(chunk)
        progress.update(len(chunk))
    if received != expected:
        raise ProtocolViolation(f"the data message ended after {received} of {expected} bytes")


async def _refuse(ws: rawsock.WebSocket, context: str, text: str, code: int) -> None:
    """Tell the sender why (an ``error`` message, then the close reason) and close."""
    logger.warning("%s: %s", context, text)
    with contextlib.suppress(rawsock.ConnectionClosed):
        await ws.send(encode(TransferError(text)))
    await ws.aclose(code, close_reason(text))


def _part_size(destination: Destination | None) -> int:
    if destination is None:
        return 0
    try:
        return destination.part.stat().st_size
    except OSError:
        return 0


async def serve_receiver(
    receiver: Receiver,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[rawsock.Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``receiver`` on ``host``:``port`` until cancelled."""
    await rawsock.serve(
        receiver.handle, host, port, task_status=task_status, **CONNECTION_OPTIONS
    )

