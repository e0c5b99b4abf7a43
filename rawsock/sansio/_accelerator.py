"""The optional compiled accelerator, ``_speedups`` (built from ``_speedups.c`` at install).

Each module with a hot spot (``_mask.py``, ``_whole_frame.py``, ``_payload_buffer.py``)
asks for its compiled function here and keeps a pure-Python path for when there is none:
the extension was not built (no C compiler at install time), or the
``RAWSOCK_NO_SPEEDUPS`` environment variable is set to a non-empty value.
"""

from __future__ import annotations

import importlib
import os

__all__ = ["compiled_function"]


def compiled_function(name: str) -> object | None:
    """The accelerator's function ``name``, or ``None`` when it is not to be used."""
    if os.environ.get("RAWSOCK_NO_SPEEDUPS"):
        return None
    try:
        module = importlib.import_module("rawsock.sansio._speedups")
    except ImportError:
        return None
    return getattr(module, name, None)
