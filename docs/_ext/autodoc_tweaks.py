"""Two corrections to what autodoc and napoleon make of rawsock's code.

- A dataclass field with ``default_factory`` shows as ``=<factory>`` in the signature,
  which Sphinx cannot parse (the whole argument list then breaks apart at its commas):
  the default is shown as the value the factory makes (``[]``), or ``...``.
- napoleon reads the text before the first colon of a property's docstring as its type
  ("The transport: a ``trio.SocketStream``..." would give the type "The transport").
  A property's type is its return annotation, which autodoc shows already, so the
  summary line is kept whole.
"""

from __future__ import annotations

import dataclasses
from typing import Any

_FACTORY = "=<factory>"
_BUILTIN_FACTORIES = (list, dict, set, tuple)


def factory_defaults(obj: object, signature: str) -> str:
    """``signature`` with each ``=<factory>`` default of dataclass ``obj`` spelled out.

    Args:
        obj: the documented object (only dataclasses have factory defaults).
        signature: the signature autodoc made, ``(a: int, b: list[str] = <factory>)``.

    Returns:
        The signature, with ``[]`` (``{}``, ``set()``, ``()``) or ``...`` for each
        factory default, in field order.
    """
    if _FACTORY not in signature.replace(" ", "") or not dataclasses.is_dataclass(obj):
        return signature
    for field in dataclasses.fields(obj):
        factory = field.default_factory
        if factory is dataclasses.MISSING:
            continue
        shown = repr(factory()) if factory in _BUILTIN_FACTORIES else "..."
        signature = signature.replace("= <factory>", f"= {shown}", 1)
        signature = signature.replace("=<factory>", f"={shown}", 1)
    return signature


def _process_signature(  # noqa: PLR0917 (Sphinx passes these positionally)
    app: Any,
    what: str,
    name: str,
    obj: object,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None] | None:
    if signature is None or what != "class":
        return None
    return factory_defaults(obj, signature), return_annotation


def restore_summary(original: str, lines: list[str]) -> None:
    """Undo napoleon's reading of a property summary's first words as its type.

    Args:
        original: the docstring's first line, before napoleon.
        lines: the lines napoleon made of the docstring, changed in place: a
            ``:type: X`` line where ``X`` is the start of ``original`` is removed, and
            the first line gets ``X:`` back.
    """
    head, colon, _ = original.partition(":")
    typed = f":type: {head.strip()}"
    if not colon or typed not in lines:
        return
    index = lines.index(typed)
    del lines[index]
    if index and not lines[index - 1].strip():
        del lines[index - 1]
    first = next(i for i, line in enumerate(lines) if line.strip())
    lines[first] = (
        f"{head.strip()}:{lines[first]}"
        if lines[first].startswith(" ")
        else (f"{head.strip()}: {lines[first]}")
    )


_SUMMARIES = "rawsock_property_summaries"


def _remember_summary(  # noqa: PLR0917 (Sphinx passes these positionally)
    app: Any, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    if what == "property" and lines:
        app.env.temp_data.setdefault(_SUMMARIES, {})[name] = lines[0]


def _restore_summary(  # noqa: PLR0917 (Sphinx passes these positionally)
    app: Any, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    original = app.env.temp_data.get(_SUMMARIES, {}).pop(name, None)
    if what == "property" and original is not None:
        restore_summary(original, lines)


def setup(app: Any) -> dict[str, object]:
    """Connect both corrections (the second around napoleon's docstring hook)."""
    app.connect("autodoc-process-signature", _process_signature)
    app.connect("autodoc-process-docstring", _remember_summary, priority=400)
    app.connect("autodoc-process-docstring", _restore_summary, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
