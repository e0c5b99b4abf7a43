"""Fixtures for the example applications' tests (helpers live in example_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser import Chromium, find_chromium
from example_support import Program


@pytest.fixture
def programs() -> Iterator[list[Program]]:
    """A list to put started programs in; each is stopped after the test."""
    started: list[Program] = []
    yield started
    for program in started:
        program.stop()


@pytest.fixture
def chromium() -> Chromium:
    """Chromium and its driver; a test without them skips (fails in CI) at setup, saying
    what to install."""
    return find_chromium()
