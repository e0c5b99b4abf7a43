"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium.

Nothing is downloaded: the browser and the driver must be installed (``.ci/run``
installs them); without them the test skips saying what to install, or fails in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from example_support import ROOT, require_program
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

#: Where screenshots go (a CI artifact): $RAWSOCK_ARTIFACTS or artifacts/ in the repository.
ARTIFACTS = Path(os.environ.get("RAWSOCK_ARTIFACTS", ROOT / "artifacts"))


@dataclass(frozen=True)
class Chromium:
    """An installed Chromium (``browser``) and its driver (``driver``)."""

    browser: str
    driver: str

    @contextmanager
    def open(self, profile: Path, *extra_flags: str) -> Iterator[webdriver.Chrome]:
        """A headless Chromium with an empty profile in ``profile``, and ``extra_flags``."""
        options = webdriver.ChromeOptions()
        options.binary_location = self.browser
        for flag in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--window-size=1100,800", *extra_flags,
        ):
            options.add_argument(flag)
        service = Service(executable_path=self.driver)
        driver = webdriver.Chrome(options=options, service=service)
        try:
            yield driver
        finally:
            driver.quit()


def find_chromium() -> Chromium:
    """The installed Chromium and driver, or skip (fail in CI) saying what to install.

    Tests get it through the ``chromium`` fixture (conftest.py), so that the skip happens
    while the test is set up: raised inside an async test, pytest-trio would report it
    as a bare "Skipped", without its reason.
    """
    browser = require_program("chromium", "apt-get install chromium chromium-driver")
    driver = require_program("chromedriver", "apt-get install chromium-driver")
    return Chromium(browser, driver)


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Save a screenshot of the page as ``ARTIFACTS/name``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), "the screenshot failed"
    return path
