"""The sync example's pure parts: patches on the tree, message checks, version order."""

from __future__ import annotations

import copy
import json
import random

import pytest

from examples.sync.document import (
    JSON,
    MAX_SAFE_INTEGER,
    JSONObject,
    Limits,
    SyncDocument,
    SyncError,
    apply_patch,
    check_path,
    check_value,
    encoded_size,
)
from examples.sync.protocol import (
    AppliedPatch,
    ErrorReply,
    Snapshot,
    encode_applied_patch,
    encode_error,
    encode_snapshot,
    parse_client_message,
    parse_server_message,
)
from examples.sync.replica import MAX_WAITING, Replica, ReplicaGap

LIMITS = Limits()


def refusal(code: str, message: str | bytes, limits: Limits = LIMITS) -> SyncError:
    """The error ``message`` is refused with, checking its code."""
    with pytest.raises(SyncError) as caught:
        parse_client_message(message, limits)
    assert caught.value.code == code, caught.value
    return caught.value


# -- apply_patch ---------------------------------------------------------------------------


def test_set_creates_the_objects_on_the_way() -> None:
    tree: JSONObject = {}
    apply_patch(tree, ("form", "name"), "Ada")
    apply_patch(tree, ("form", "tags"), ["a", {"b": 1}])
    assert tree == {"form": {"name": "Ada", "tags": ["a", {"b": 1}]}}


def test_set_replaces_and_keeps_the_key_order() -> None:
    tree: JSONObject = {"a": 1, "b": 2, "c": 3}
    apply_patch(tree, ("b",), {"x": True})
    assert list(tree) == ["a", "b", "c"]
    assert tree["b"] == {"x": True}


def test_null_deletes_and_leaves_the_parent() -> None:
    tree: JSONObject = {"form": {"name": "Ada", "email": "a@example.com"}}
    apply_patch(tree, ("form", "name"), None)
    assert tree == {"form": {"email": "a@example.com"}}
    apply_patch(tree, ("form", "email"), None)
    assert tree == {"form": {}}


def test_deleting_what_is_not_there_changes_nothing() -> None:
    tree: JSONObject = {"form": {"name": "Ada"}}
    apply_patch(tree, ("form", "missing"), None)
    apply_patch(tree, ("nowhere", "deep", "key"), None)
    assert tree == {"form": {"name": "Ada"}}


@pytest.mark.parametrize("blocker", ["text", 3, 1.5, True, [1], None])
def test_a_path_through_a_non_object_is_a_conflict(blocker: object) -> None:
    tree: JSONObject = {"form": blocker}  # type: ignore[dict-item]
    before = copy.deepcopy(tree)
    for value in ("x", None):
        with pytest.raises(SyncError) as caught:
            apply_patch(tree, ("form", "name", "first"), value)
        assert caught.value.code == "conflict"
        assert tree == before


@pytest.mark.parametrize(
    ("path", "value"),
    [(("a",), 9), (("new",), 1), (("b", "c"), 5), (("b", "new", "deeper"), 1), (("x", "y"), 1)],
)
def test_undo_restores_the_tree_exactly(path: tuple[str, ...], value: int) -> None:
    tree: JSONObject = {"a": 1, "b": {"c": 2, "d": 3}, "e": 4}
    before = copy.deepcopy(tree)
    undo = apply_patch(tree, path, value)
    assert tree != before
    undo()
    assert tree == before
    assert json.dumps(tree) == json.dumps(before)  # key order too


# -- checks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        [],
        "form.name",
        None,
        ["form", 3],
        ["form", ""],
        ["k"] * (LIMITS.max_path_depth + 1),
        ["x" * (LIMITS.max_key_length + 1)],
    ],
)
def test_bad_paths(path: object) -> None:
    with pytest.raises(SyncError) as caught:
        check_path(path, LIMITS)
    assert caught.value.code == "bad_path"


def test_paths_at_the_limits_pass() -> None:
    path = ["k" * LIMITS.max_key_length] * LIMITS.max_path_depth
    assert check_path(path, LIMITS) == tuple(path)


def nested(depth: int) -> object:
    """A value with ``depth`` levels of lists and objects."""
    value: object = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        MAX_SAFE_INTEGER + 1,
        -MAX_SAFE_INTEGER - 1,
        {"nested": [1, float("-inf")]},
        nested(LIMITS.max_value_depth + 1),
        {1: "not a string key"},
        (1, 2),
        b"bytes",
    ],
)
def test_bad_values(value: object) -> None:
    with pytest.raises(SyncError) as caught:
        check_value(value, LIMITS)
    assert caught.value.code == "bad_value"


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -MAX_SAFE_INTEGER, 2.5, "text", [], {}, nested(LIMITS.max_value_depth)],
)
def test_good_values(value: object) -> None:
    assert check_value(value, LIMITS) is value


# -- SyncDocument ---------------------------------------------------------------------------


def test_versions_count_applied_patches_including_no_op_deletes() -> None:
    document = SyncDocument(LIMITS)
    assert document.apply(("a",), 1) == 1
    assert document.apply(("missing",), None) == 2
    with pytest.raises(SyncError):
        document.apply(("a", "b"), 2)  # conflict: not counted
    assert document.apply(("a",), None) == 3
    assert document.version == 3
    assert document.tree == {}


def test_document_size_limit_refuses_and_leaves_the_tree_as_it_was() -> None:
    limits = Limits(max_document_size=100)
    document = SyncDocument(limits)
    document.apply(("notes",), "x" * 50)
    before = copy.deepcopy(document.tree)
    with pytest.raises(SyncError) as caught:
        document.apply(("more", "notes"), "y" * 50)
    assert caught.value.code == "too_large"
    assert document.tree == before
    assert document.version == 1
    assert document.size == encoded_size(before)
    document.apply(("notes",), "short")  # replacing with less fits
    assert document.size == len('{"notes":"short"}')
    assert document.version == 2


def test_size_counts_utf8_bytes() -> None:
    assert encoded_size({"k": "é"}) == len('{"k":"é"}'.encode())


# -- client messages -----------------------------------------------------------------------


def test_a_good_patch() -> None:
    text = json.dumps({"type": "patch", "path": ["form", "name"], "value": "Ada", "ref": "r1"})
    request = parse_client_message(text, LIMITS)
    assert (request.path, request.value, request.ref) == (("form", "name"), "Ada", "r1")


def test_a_delete_needs_an_explicit_null() -> None:
    request = parse_client_message('{"type":"patch","path":["a"],"value":null}', LIMITS)
    assert request.value is None
    refusal("missing_value", '{"type":"patch","path":["a"]}')


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("not_text", b'{"type":"patch","path":["a"],"value":1}'),
        ("bad_json", "{"),
        ("bad_json", ""),
        ("bad_json", '{"type":"patch","path":["a"],"value":NaN}'),
        ("bad_json", '{"type":"patch","path":["a"],"value":Infinity}'),
        ("bad_json", '{"type":"patch","path":["a"],"value":1e999}'),
        ("bad_json", '{"type":"patch","path":["a"],"value":' + "1" * 5000 + "}"),
        ("bad_json", "[" * 100_000 + "]" * 100_000),
        ("not_an_object", "[1, 2]"),
        ("not_an_object", '"patch"'),
        ("not_an_object", "null"),
        ("unknown_type", '{"path":["a"],"value":1}'),
        ("unknown_type", '{"type":"delete","path":["a"]}'),
        ("unknown_type", '{"type":["patch"],"path":["a"],"value":1}'),
        ("bad_path", '{"type":"patch","path":"a.b","value":1}'),
        ("bad_value", '{"type":"patch","path":["a"],"value":9007199254740992}'),
        ("bad_ref", '{"type":"patch","path":["a"],"value":1,"ref":{"x":1}}'),
        ("bad_ref", '{"type":"patch","path":["a"],"value":1,"ref":true}'),
    ],
)
def test_bad_messages(code: str, message: str | bytes) -> None:
    refusal(code, message)


def test_the_ref_comes_back_with_the_error() -> None:
    error = refusal("bad_path", '{"type":"patch","path":[],"value":1,"ref":42}')
    assert error.ref == 42
    error = refusal("unknown_type", '{"type":"nope","ref":"abc"}')
    assert error.ref == "abc"


# -- server messages -----------------------------------------------------------------------


def test_server_messages_round_trip() -> None:
    snapshot = parse_server_message(encode_snapshot(4, {"a": {"b": [1]}}, "c2"))
    assert snapshot == Snapshot(4, {"a": {"b": [1]}}, "c2")
    patch = parse_server_message(encode_applied_patch(5, ("a", "b"), None, "c1", 7))
    assert patch == AppliedPatch(5, ("a", "b"), None, "c1", 7)
    error = parse_server_message(encode_error("bad_path", "no", "r"))
    assert error == ErrorReply("bad_path", "no", "r")
    assert "ref" not in json.loads(encode_applied_patch(1, ("a",), 1, "c1", None))


@pytest.mark.parametrize(
    "message",
    ["[]", '{"type":"hello"}', '{"type":"patch","version":-1,"path":[],"value":1,"client":"c"}',
     '{"type":"snapshot","version":1,"client":"c"}', "not json"],
)
def test_unexpected_server_messages(message: str) -> None:
    with pytest.raises(ValueError):
        parse_server_message(message)


# -- Replica --------------------------------------------------------------------------------


def patches_from(document: SyncDocument, count: int, seed: int) -> list[AppliedPatch]:
    """``count`` random patches applied to ``document``, as the server broadcasts them."""
    chooser = random.Random(seed)
    keys = ["a", "b", "c"]
    applied: list[AppliedPatch] = []
    while len(applied) < count:  # conflicts are refused and retried: bounded by chance
        path = tuple(chooser.choice(keys) for _ in range(chooser.randint(1, 3)))
        choices: list[JSON] = [None, 1, "text", {"a": 2}, [3]]
        value = chooser.choice(choices)
        try:
            version = document.apply(path, copy.deepcopy(value))
        except SyncError:
            continue
        applied.append(AppliedPatch(version, path, value, "c1"))
    return applied


def test_a_replica_converges_whatever_the_arrival_order() -> None:
    server = SyncDocument(LIMITS)
    first = patches_from(server, 50, seed=1)
    snapshot = Snapshot(server.version, copy.deepcopy(server.tree), "c9")
    later = patches_from(server, 150, seed=2)
    for seed in range(5):
        arrivals = first[-10:] + later  # some already in the snapshot
        random.Random(seed).shuffle(arrivals)
        replica = Replica()
        for patch in arrivals[:40]:  # some before the snapshot
            replica.receive(patch)
        assert replica.version is None
        replica.load(snapshot)
        for patch in arrivals[40:] + later[:5]:  # and a few duplicates
            replica.receive(patch)
        assert replica.version == server.version == 200
        assert replica.tree == server.tree
        assert [patch.version for patch in replica.applied] == list(range(51, 201))


def test_a_replica_waits_for_a_missing_patch_then_gives_up() -> None:
    replica = Replica()
    replica.load(Snapshot(0, {}, "c1"))
    replica.receive(AppliedPatch(2, ("b",), 2, "c1"))
    assert (replica.version, replica.tree) == (0, {})
    replica.receive(AppliedPatch(1, ("a",), 1, "c1"))
    assert (replica.version, replica.tree) == (2, {"a": 1, "b": 2})
    with pytest.raises(ReplicaGap):
        for version in range(4, MAX_WAITING + 5):
            replica.receive(AppliedPatch(version, ("c",), version, "c1"))
