"""The shared JSON tree and the patches that change it: pure data, no I/O.

A document is a JSON object. A patch names a *path* (a list of object keys, from the
root down) and a *value*: the value is stored at that path, creating the objects on the
way; ``None`` (JSON ``null``) deletes the key instead. Paths only go through objects, so
a path that meets a string, number, list or boolean before its last key is a conflict and
the patch is rejected. Values may be any JSON, within the limits of :class:`Limits`.

The server and every client apply patches with the same function, :func:`apply_patch`,
in the same (version) order, which is why they all end with the same tree.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "JSON",
    "MAX_SAFE_INTEGER",
    "JSONObject",
    "Limits",
    "SyncDocument",
    "SyncError",
    "apply_patch",
    "check_path",
    "check_value",
    "encoded_size",
]

JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"
JSONObject: TypeAlias = "dict[str, JSON]"

#: The largest integer a browser's JavaScript represents exactly (2**53 - 1).
MAX_SAFE_INTEGER = 2**53 - 1


class SyncError(Exception):
    """A message or patch the server refuses; the sender gets an error message.

    Attributes:
        code: a short machine-readable reason, such as ``"bad_path"``.
        detail: a sentence for people.
        ref: the ``ref`` of the refused patch, when it had a valid one.
    """

    def __init__(self, code: str, detail: str, ref: str | int | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.ref = ref


@dataclass(frozen=True)
class Limits:
    """What the server accepts (message sizes are the transport's ``max_message_size``).

    Attributes:
        max_path_depth: keys in a path.
        max_key_length: characters in one key of a path.
        max_value_depth: nesting of lists and objects inside a patch's value.
        max_document_size: bytes of the whole document as compact UTF-8 JSON.
    """

    max_path_depth: int = 8
    max_key_length: int = 64
    max_value_depth: int = 16
    max_document_size: int = 256 * 1024


def check_path(path: object, limits: Limits) -> tuple[str, ...]:
    """``path`` as a tuple of keys, if it is a valid path.

    Raises:
        SyncError: ``bad_path`` for anything but a list of 1 to ``max_path_depth``
            non-empty strings of at most ``max_key_length`` characters.
    """
    if not isinstance(path, list) or not path:
        raise SyncError("bad_path", "path must be a non-empty list of keys")
    if len(path) > limits.max_path_depth:
        raise SyncError("bad_path", f"path is deeper than {limits.max_path_depth} keys")
    for key in path:
        if not isinstance(key, str) or not key:
            raise SyncError("bad_path", "each key of a path must be a non-empty string")
        if len(key) > limits.max_key_length:
            raise SyncError("bad_path", f"a key is longer than {limits.max_key_length} characters")
    return tuple(path)


def check_value(value: object, limits: Limits) -> JSON:
    """``value`` itself, if it is JSON that every client can hold exactly.

    Raises:
        SyncError: ``bad_value`` for nesting deeper than ``max_value_depth``, a number
            that is not finite, an integer beyond JavaScript's safe range, or a type JSON
            does not have.
    """
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:  # each item is visited once: bounded by the size of the value
        item, depth = pending.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, int):
            if abs(item) > MAX_SAFE_INTEGER:
                raise SyncError("bad_value", "integers must be within ±(2**53 - 1)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise SyncError("bad_value", "numbers must be finite")
        elif isinstance(item, list | dict):
            if depth >= limits.max_value_depth:
                raise SyncError(
                    "bad_value", f"value is nested deeper than {limits.max_value_depth} levels"
                )
            children = item.values() if isinstance(item, dict) else item
            if isinstance(item, dict) and not all(isinstance(key, str) for key in item):
                raise SyncError("bad_value", "object keys must be strings")
            pending.extend((child, depth + 1) for child in children)
        else:
            raise SyncError("bad_value", f"{type(item).__name__} is not JSON")
    return value  # type: ignore[return-value]  # checked above


def encoded_size(value: JSON) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON, the form the document limit counts."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return len(text.encode())


def _nothing() -> None:
    """An undo for a patch that changed nothing."""


def apply_patch(tree: JSONObject, path: Sequence[str], value: JSON) -> Callable[[], None]:
    """Store ``value`` at ``path`` in ``tree`` (``None``: delete the key there).

    Objects missing on the way are created (not when deleting: deleting under a missing
    key changes nothing). Empty objects left by deletions stay. A key on the way that
    holds ``null`` (inside an earlier value) counts as holding a non-object.

    Returns:
        A function that restores ``tree`` exactly, key order included, if called before
        any other change (the server uses it to take back a patch over the size limit).

    Raises:
        SyncError: ``conflict`` when a key before the last one holds something other
            than an object; ``tree`` is then unchanged.
    """
    parent = tree
    first_created: tuple[JSONObject, str] | None = None
    for key in path[:-1]:
        if key not in parent:
            if value is None:
                return _nothing
            created: JSONObject = {}
            parent[key] = created
            first_created = first_created or (parent, key)
            parent = created
            continue
        child = parent[key]
        if not isinstance(child, dict):
            raise SyncError("conflict", f"{key!r} holds a {_json_type(child)}, not an object")
        parent = child
    leaf = path[-1]
    if first_created is not None:
        created_in, created_key = first_created

        def undo() -> None:
            del created_in[created_key]

    elif leaf in parent:
        old = parent[leaf]

        def undo() -> None:
            parent[leaf] = old  # same key, same place

    else:

        def undo() -> None:
            parent.pop(leaf, None)

    if value is None:
        parent.pop(leaf, None)
    else:
        parent[leaf] = value
    return undo


def _json_type(value: JSON) -> str:
    """The JSON name of the type of ``value``, for error messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object" if isinstance(value, dict) else "null"


class SyncDocument:
    """The server's copy of the tree, with the number of patches applied to it.

    Attributes:
        tree: the document.
        version: patches applied so far; the n-th applied patch has version n.
        size: bytes of ``tree`` as compact JSON.
    """

    def __init__(self, limits: Limits, tree: JSONObject | None = None) -> None:
        self.limits = limits
        self.tree: JSONObject = tree if tree is not None else {}
        self.version = 0
        self.size = encoded_size(self.tree)

    def apply(self, path: Sequence[str], value: JSON) -> int:
        """Apply one checked patch and return its version.

        A deletion is always accepted; any other patch that would make the document
        larger than ``max_document_size`` is refused, leaving the tree as it was.

        Raises:
            SyncError: ``conflict`` (see :func:`apply_patch`) or ``too_large``.
        """
        undo = apply_patch(self.tree, path, value)
        size = encoded_size(self.tree)
        if value is not None and size > self.limits.max_document_size:
            undo()
            raise SyncError(
                "too_large",
                f"the document would be {size} bytes; the limit is "
                f"{self.limits.max_document_size}",
            )
        self.size = size
        self.version += 1
        return self.version
