"""Checks of argument values at the API edge, with errors that name the argument.

Each check returns the value to use (sequences become tuples, paths str) or raises
``TypeError`` for a wrong type or ``ValueError`` for a value out of range, with the
argument's public name first in the message: ``max_message_size must be an int or None,
not str``, ``ping_interval must be > 0 (or None), not 0``. ``bool`` never passes as a
number, although it is an ``int`` subclass.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = [
    "check_callable",
    "check_header_pairs",
    "check_instance",
    "check_int",
    "check_number",
    "check_path",
    "check_strings",
]



def _kind(value: object) -> str:
    return type(value).__name__


def _or_none(optional: bool) -> str:
    return " or None" if optional else ""


def check_int(name: str, value: object, minimum: int, *, optional: bool = False) -> int | None:
    """An int (not a bool) of at least ``minimum``; ``None`` too when ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int{_or_none(optional)}, not {_kind(value)}")
    if value < minimum:
        allowed = " (or None)" if optional else ""
        raise ValueError(f"{name} must be >= {minimum}{allowed}, not {value}")
    return value


def check_number(
    name: str,
    value: object,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    optional: bool = False,
) -> float | None:
    """An int or a float (not a bool) within the bounds given; ``None`` too when
    ``optional``. NaN is in no range."""
    if value is None and optional:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number{_or_none(optional)}, not {_kind(value)}")
    rules = []
    if above is not None:
        rules.append((f"> {above}", value > above))
    if at_least is not None:
        rules.append((f">= {at_least}", value >= at_least))
    if at_most is not None:
        rules.append((f"<= {at_most}", value <= at_most))
    if not all(ok for _, ok in rules):
        allowed = " (or None)" if optional else ""
        rule = " and ".join(text for text, _ in rules)
        raise ValueError(f"{name} must be {rule}{allowed}, not {value!r}")
    return value


def check_instance(
    name: str, value: object, kind: type | tuple[type, ...], what: str, *, optional: bool = False
) -> Any:
    """An instance of ``kind`` (described as ``what`` in the error); ``None`` too when
    ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}{_or_none(optional)}, not {_kind(value)}")
    return value


def check_callable(name: str, value: object, *, optional: bool = False) -> Any:
    """A callable; ``None`` too when ``optional``."""
    if value is None and optional:
        return None
    if not callable(value):
        raise TypeError(f"{name} must be callable{_or_none(optional)}, not {_kind(value)}")
    return value


def _sequence(name: str, value: object, what: str) -> Sequence[object]:
    """A sequence, but not a bare str or bytes (which are sequences of characters)."""
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be {what}, not {_kind(value)}")
    return value


def check_strings(
    name: str, value: object, *, optional: bool = False, none_items: bool = False
) -> tuple[str | None, ...] | None:
    """A sequence of str (and of ``None`` with ``none_items``), as a tuple; ``None`` too
    when ``optional``."""
    if value is None and optional:
        return None
    strings: list[str | None] = []
    for index, item in enumerate(_sequence(name, value, f"a sequence of str{_or_none(optional)}")):
        if not (isinstance(item, str) or (none_items and item is None)):
            what = "a str or None" if none_items else "a str"
            raise TypeError(f"{name}[{index}] must be {what}, not {_kind(item)}")
        strings.append(item)
    return tuple(strings)


def check_header_pairs(name: str, value: object) -> tuple[tuple[str, str], ...]:
    """A sequence of ``(name, value)`` pairs of str, as a tuple of tuples."""
    pairs = []
    for index, item in enumerate(_sequence(name, value, "a sequence of (name, value) pairs")):
        pair = _sequence(f"{name}[{index}]", item, "a (name, value) pair")
        match pair:
            case (str(header), str(text)):
                pairs.append((header, text))
            case _:
                shown = ", ".join(_kind(part) for part in pair)
                raise TypeError(f"{name}[{index}] must be a (str, str) pair, not ({shown})")
    return tuple(pairs)


def check_path(name: str, value: object) -> str | None:
    """``None``, or a str or ``os.PathLike`` of str, as a str."""
    if value is None:
        return None
    path = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(path, str):
        raise TypeError(f"{name} must be a str, an os.PathLike or None, not {_kind(value)}")
    return path
