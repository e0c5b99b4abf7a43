"""A client's copy of the document, kept in version order: pure logic, no I/O.

The server numbers applied patches 1, 2, 3, ... A replica starts from a snapshot and
applies each patch exactly once, in that order: a patch that arrives early (before the
snapshot, or before the one numbered just below it) waits, an old one (already in the
snapshot, or a duplicate) is ignored. Every replica that has seen version n holds the
same tree as the server at version n. The browser page does the same in JavaScript.
"""

from __future__ import annotations

import copy

from .document import JSONObject, apply_patch
from .protocol import AppliedPatch, Snapshot

__all__ = ["MAX_WAITING", "Replica", "ReplicaGap"]

#: Early patches a replica holds before it gives up on the missing one.
MAX_WAITING = 10_000


class ReplicaGap(Exception):
    """Too many patches wait for a missing one: the replica must start from a snapshot."""


class Replica:
    """One client's copy of the tree.

    Attributes:
        tree: the document at ``version``.
        version: the last version applied; ``None`` until the snapshot arrives.
        client: the name the server gave this connection (from the snapshot).
        applied: every patch applied since the snapshot, in version order.
    """

    def __init__(self) -> None:
        self.tree: JSONObject = {}
        self.version: int | None = None
        self.client: str | None = None
        self.applied: list[AppliedPatch] = []
        self._waiting: dict[int, AppliedPatch] = {}

    def load(self, snapshot: Snapshot) -> None:
        """Start over from ``snapshot``, then apply the early patches that follow it."""
        self.tree = copy.deepcopy(snapshot.document)
        self.version = snapshot.version
        self.client = snapshot.client
        self.applied = []
        self._apply_waiting()

    def receive(self, patch: AppliedPatch) -> None:
        """Apply ``patch`` now, later (when it is early) or never (when it is old).

        Raises:
            ReplicaGap: more than :data:`MAX_WAITING` patches wait.
        """
        if self.version is not None and patch.version <= self.version:
            return
        self._waiting[patch.version] = patch
        if len(self._waiting) > MAX_WAITING:
            raise ReplicaGap(f"patch {self._next_version()} never came")
        self._apply_waiting()

    def _next_version(self) -> int | None:
        """The version the replica needs next (``None`` before the snapshot)."""
        return None if self.version is None else self.version + 1

    def _apply_waiting(self) -> None:
        """Apply waiting patches for as long as the next one is there."""
        if self.version is None:
            return
        for old in [version for version in self._waiting if version <= self.version]:
            del self._waiting[old]
        while (patch := self._waiting.pop(self.version + 1, None)) is not None:
            apply_patch(self.tree, patch.path, copy.deepcopy(patch.value))
            self.version = patch.version
            self.applied.append(patch)
