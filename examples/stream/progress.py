"""Progress bars and status lines on stderr, with tqdm.

Status lines go through ``tqdm.write`` so that they do not tear a bar being drawn.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

from tqdm import tqdm

__all__ = ["ProgressLogHandler", "byte_progress", "say"]


def byte_progress(description: str, total: int, initial: int, enabled: bool) -> tqdm[NoReturn]:
    """A bar counting bytes (KiB, MiB, ... and a rate) on stderr; inert if not ``enabled``."""
    return tqdm(
        desc=description,
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not enabled,
        mininterval=0.5,
        dynamic_ncols=True,
    )


def say(line: str) -> None:
    """Print one status line on stderr, above any progress bar."""
    tqdm.write(line, file=sys.stderr)


class ProgressLogHandler(logging.Handler):
    """A logging handler that writes records the way :func:`say` does."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            say(self.format(record))
        except Exception:
            self.handleError(record)
