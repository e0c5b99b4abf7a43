"""Masking (RFC 6455 §5.3): the compiled accelerator and the pure-Python fallback agree."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rawsock.sansio import _mask


def reference(data: bytes, key: bytes) -> bytes:
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(data))


@given(st.binary(max_size=2000), st.binary(min_size=4, max_size=4))
def test_fallback_matches_the_definition(data: bytes, key: bytes) -> None:
    assert _mask.apply_mask_python(data, key) == reference(data, key)


@pytest.mark.parametrize("length", [16 * 1024, 16 * 1024 + 1, 3 * 16 * 1024 + 7])
def test_fallback_masks_large_payloads_block_by_block(length: int) -> None:
    data = bytes(range(251)) * (length // 251 + 1)
    key = b"\x12\x34\x56\x78"
    assert _mask.apply_mask_python(data[:length], key) == reference(data[:length], key)
    assert _mask.apply_mask_python(memoryview(data)[:length], key) == reference(data[:length], key)


HAVE_COMPILER = bool(shutil.which("cc") or shutil.which("gcc"))


def compiled_apply_mask() -> Callable[[bytes | bytearray | memoryview, bytes], bytes]:
    """The accelerator itself (whatever RAWSOCK_NO_SPEEDUPS says for the module)."""
    module = importlib.import_module("rawsock.sansio._speedups")
    return module.apply_mask  # type: ignore[no-any-return]


@pytest.mark.skipif(not HAVE_COMPILER, reason="no C compiler: the accelerator cannot exist")
@given(st.binary(max_size=2000), st.binary(min_size=4, max_size=4))
def test_accelerator_matches_the_definition(data: bytes, key: bytes) -> None:
    compiled = compiled_apply_mask()
    assert compiled(data, key) == reference(data, key)
    assert compiled(bytearray(data), key) == reference(data, key)
    assert compiled(memoryview(data), key) == reference(data, key)


@pytest.mark.skipif(not HAVE_COMPILER, reason="no C compiler: the accelerator cannot exist")
def test_accelerator_rejects_a_bad_key() -> None:
    with pytest.raises(ValueError):
        compiled_apply_mask()(b"data", b"abc")


def test_the_module_uses_the_accelerator_unless_told_not_to() -> None:
    """CI has gcc: the install must have built the extension, or this fails."""
    if os.environ.get("RAWSOCK_NO_SPEEDUPS") or not HAVE_COMPILER:
        assert not _mask.ACCELERATED
        assert _mask.apply_mask is _mask.apply_mask_python
    else:
        assert _mask.ACCELERATED


def test_environment_variable_forces_the_fallback() -> None:
    code = "from rawsock.sansio import _mask; print(_mask.ACCELERATED)"
    env = {**os.environ, "RAWSOCK_NO_SPEEDUPS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
