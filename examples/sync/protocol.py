"""The JSON messages of the sync protocol: strict parsing and encoding, no I/O.

Client to server (text messages)::

    {"type": "patch", "path": ["form", "name"], "value": "Ada", "ref": 7}

Server to client::

    {"type": "snapshot", "version": 12, "document": {...}, "client": "c3"}
    {"type": "patch", "version": 13, "path": [...], "value": ..., "client": "c1", "ref": 7}
    {"type": "error", "code": "bad_path", "message": "...", "ref": 7}

``ref`` is optional: a string (at most 64 characters) or an integer the sender picks;
the server copies it into the broadcast of that patch, or into the error refusing it.
The README describes the protocol in full.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from .document import JSON, MAX_SAFE_INTEGER, JSONObject, Limits, SyncError, check_path, check_value

__all__ = [
    "MAX_REF_LENGTH",
    "AppliedPatch",
    "ErrorReply",
    "PatchRequest",
    "ServerMessage",
    "Snapshot",
    "decode_json",
    "encode_applied_patch",
    "encode_error",
    "encode_json",
    "encode_snapshot",
    "parse_client_message",
    "parse_server_message",
]

MAX_REF_LENGTH = 64


@dataclass(frozen=True)
class PatchRequest:
    """A checked patch from a client."""

    path: tuple[str, ...]
    value: JSON
    ref: str | int | None = None


@dataclass(frozen=True)
class Snapshot:
    """The whole document at ``version``; the first message on every connection."""

    version: int
    document: JSONObject
    client: str


@dataclass(frozen=True)
class AppliedPatch:
    """A patch the server applied, numbered ``version``, sent by ``client``."""

    version: int
    path: tuple[str, ...]
    value: JSON
    client: str
    ref: str | int | None = None


@dataclass(frozen=True)
class ErrorReply:
    """The server refused a message of ours."""

    code: str
    message: str
    ref: str | int | None = None


ServerMessage = Snapshot | AppliedPatch | ErrorReply


def _refuse_constant(name: str) -> float:
    """``parse_constant`` for :func:`json.loads`: ``NaN`` and ``Infinity`` are not JSON."""
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """``parse_float`` for :func:`json.loads`: ``1e999`` would become infinity."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def decode_json(message: str | bytes) -> object:
    """Parse a text message as strict JSON (RFC 8259: no ``NaN``, finite numbers).

    Raises:
        SyncError: ``not_text`` for a binary message, ``bad_json`` for anything that
            does not parse (nesting too deep for the parser included).
    """
    if not isinstance(message, str):
        raise SyncError("not_text", "messages must be text (JSON), not binary")
    try:
        return json.loads(message, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as error:
        raise SyncError("bad_json", f"not valid JSON: {error}"[:200]) from None


def encode_json(value: Any) -> str:
    """Compact JSON text, UTF-8 left as is (and never ``NaN``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _check_ref(ref: object) -> str | int | None:
    """The optional ``ref`` of a client message, if valid."""
    if ref is None:
        return None
    if isinstance(ref, str) and len(ref) <= MAX_REF_LENGTH:
        return ref
    if isinstance(ref, int) and not isinstance(ref, bool) and abs(ref) <= MAX_SAFE_INTEGER:
        return ref
    raise SyncError("bad_ref", f"ref must be a string of at most {MAX_REF_LENGTH} characters "
                    "or a safe integer")


def parse_client_message(message: str | bytes, limits: Limits) -> PatchRequest:
    """Check one message from a client; only ``patch`` messages exist.

    Raises:
        SyncError: ``not_text``, ``bad_json``, ``not_an_object``, ``bad_ref``,
            ``unknown_type``, ``bad_path``, ``missing_value`` or ``bad_value``; ``ref``
            is set when the message carried a valid one.
    """
    data = decode_json(message)
    if not isinstance(data, dict):
        raise SyncError("not_an_object", "a message must be a JSON object")
    ref = _check_ref(data.get("ref"))
    try:
        kind = data.get("type")
        if kind != "patch":
            shown = encode_json(kind)[:40] if kind is not None else "missing"
            raise SyncError("unknown_type", f"unknown message type {shown}; expected \"patch\"")
        path = check_path(data.get("path"), limits)
        if "value" not in data:
            raise SyncError("missing_value", "a patch needs a value (null deletes)")
        value = check_value(data["value"], limits)
    except SyncError as error:
        error.ref = ref
        raise
    return PatchRequest(path, value, ref)


def encode_snapshot(version: int, document: JSONObject, client: str) -> str:
    """The ``snapshot`` message."""
    return encode_json(
        {"type": "snapshot", "version": version, "document": document, "client": client}
    )


def encode_applied_patch(
    version: int, path: tuple[str, ...], value: JSON, client: str, ref: str | int | None
) -> str:
    """The ``patch`` message the server broadcasts (``ref`` only when given)."""
    message: dict[str, Any] = {
        "type": "patch", "version": version, "path": list(path), "value": value, "client": client
    }
    if ref is not None:
        message["ref"] = ref
    return encode_json(message)


def encode_error(code: str, detail: str, ref: str | int | None = None) -> str:
    """The ``error`` message (``ref`` only when the refused message had one)."""
    message: dict[str, Any] = {"type": "error", "code": code, "message": detail}
    if ref is not None:
        message["ref"] = ref
    return encode_json(message)


def parse_server_message(message: str | bytes) -> ServerMessage:
    """A message from the server, for clients.

    Raises:
        ValueError: the message is not one of the three the server sends.
    """
    try:
        data = decode_json(message)
    except SyncError as error:
        raise ValueError(error.detail) from None
    if not isinstance(data, dict):
        raise ValueError("a server message must be a JSON object")
    kind = data.get("type")
    try:
        if kind == "snapshot" and isinstance(data["document"], dict):
            return Snapshot(_version(data), data["document"], str(data["client"]))
        if kind == "patch" and isinstance(data["path"], list):
            path = tuple(str(key) for key in data["path"])
            return AppliedPatch(
                _version(data), path, data["value"], str(data["client"]), data.get("ref")
            )
        if kind == "error":
            return ErrorReply(str(data["code"]), str(data["message"]), data.get("ref"))
    except KeyError as error:
        raise ValueError(f"{kind} message without {error}") from None
    raise ValueError(f"unexpected server message type {kind!r}")


def _version(data: dict[str, Any]) -> int:
    """The ``version`` field, a non-negative integer."""
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"bad version {version!r}")
    return version
