"""Two browser windows edit the sync example's form live, with a Python client alongside.

The server is started as its README says (``python -m examples.sync --port N``); two
headless Chromium instances (separate profiles) open its page. What one window types,
ticks or picks shows up in the other through the server; both reach the same version,
and a rawsock client (``examples.sync.client``) sees the same document as the pages and
can edit it too: its patch appears in both windows.

The page keeps its WebSocket inside a closure (``static/sync.js``), so unlike the chat's
browser test this one cannot read the negotiated extensions from the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import trio
from browser import Chromium, screenshot
from example_support import Program, serve_example
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from examples.sync.client import open_sync_client

WAIT = 15  # seconds, for every wait on a page or on the server
NO_VALUE = "\N{EN DASH}"  # what the status line shows before the snapshot

NAME = "Ada Lovelace"
NOTES = "first line\nsecond line"
EMAIL = "ada@example.org"


def wait_until(driver: Chrome, condition: Callable[[Chrome], Any], what: str) -> Any:
    """Wait (at most ``WAIT`` s) until ``condition(driver)`` is truthy; fail saying ``what``."""
    return WebDriverWait(driver, WAIT).until(condition, f"timed out waiting for {what}")


def field_value(driver: Chrome, field: str) -> Any:
    """The live value of ``#field-<field>`` (``checked`` for the checkbox)."""
    element = driver.find_element(By.ID, f"field-{field}")
    if element.get_attribute("type") == "checkbox":
        return element.is_selected()
    return element.get_property("value")


def shows(field: str, value: Any) -> Callable[[Chrome], bool]:
    """A condition: ``#field-<field>`` holds ``value``."""
    return lambda driver: field_value(driver, field) == value


def version(driver: Chrome) -> str:
    """The text of ``#document-version`` (``NO_VALUE`` before the snapshot)."""
    return str(driver.find_element(By.ID, "document-version").text)


def shows_version(expected: int) -> Callable[[Chrome], bool]:
    """A condition: ``#document-version`` says ``expected``."""
    return lambda driver: version(driver) == str(expected)


def page_document(driver: Chrome) -> Any:
    """The page's copy of the document, parsed from ``#document-view``.

    The view sits in a closed ``<details>``, so its text is read from the DOM, not as
    rendered.
    """
    return json.loads(driver.find_element(By.ID, "document-view").get_attribute("textContent"))


def connected(driver: Chrome) -> bool:
    """The page has its snapshot: state ``open`` and the fields enabled."""
    state = driver.find_element(By.ID, "connection-state").get_attribute("data-state")
    fieldset = driver.find_element(By.ID, "form-fields")
    return state == "open" and fieldset.is_enabled() and version(driver).isdigit()


async def test_two_windows_and_a_python_client_edit_one_form(
    programs: list[Program], tmp_path: Path, chromium: Chromium
) -> None:
    server, port = serve_example(programs, "examples.sync")
    page = f"http://127.0.0.1:{port}/"

    with ExitStack() as stack:
        a = stack.enter_context(chromium.open(tmp_path / "profile-a"))
        b = stack.enter_context(chromium.open(tmp_path / "profile-b"))
        for driver in (a, b):
            await trio.to_thread.run_sync(driver.get, page)
        for driver in (a, b):
            wait_until(driver, connected, "the page's snapshot")
        assert version(a) == version(b) == "0"
        names = {driver.find_element(By.ID, "client-name").text for driver in (a, b)}
        assert len(names) == 2 and NO_VALUE not in names, names

        # A types its name; B follows, keystroke by keystroke up to the whole text.
        a.find_element(By.ID, "field-name").send_keys(NAME)
        wait_until(b, shows("name", NAME), "window B to show the name typed in A")

        # B ticks the box and picks a plan; A follows.
        b.find_element(By.ID, "field-subscribed").click()
        Select(b.find_element(By.ID, "field-plan")).select_by_value("pro")
        wait_until(a, shows("subscribed", True), "window A to show B's checkbox")
        wait_until(a, shows("plan", "pro"), "window A to show B's plan")

        # A writes two lines of notes; B follows.
        a.find_element(By.ID, "field-notes").send_keys(NOTES)
        wait_until(b, shows("notes", NOTES), "window B to show the notes typed in A")

        # One patch per keystroke, click and choice: both windows end at that version.
        edits = len(NAME) + 1 + 1 + len(NOTES)
        for driver in (a, b):
            wait_until(driver, shows_version(edits), f"version {edits}")
        expected = {"form": {"name": NAME, "subscribed": True, "plan": "pro", "notes": NOTES}}
        assert page_document(a) == page_document(b) == expected

        # A Python client joining now gets the same document in its snapshot, and edits it.
        url = f"ws://127.0.0.1:{port}/ws"
        with trio.fail_after(WAIT):
            async with open_sync_client(url) as client:
                assert client.replica.version == edits
                assert client.replica.tree == expected
                assert client.replica.client not in names
                await client.patch(["form", "email"], EMAIL, ref="email")
                await client.patch(["form", "plan"], "team", ref="plan")
                await client.wait_for_version(edits + 2)
                python_tree = client.replica.tree
                python_applied = [(p.client, p.ref) for p in client.replica.applied]
                python_errors = client.errors
        assert python_errors == []
        assert python_applied == [(client.replica.client, "email"), (client.replica.client, "plan")]

        for driver in (a, b):
            wait_until(driver, shows("email", EMAIL), "the Python client's email in a window")
            wait_until(driver, shows("plan", "team"), "the Python client's plan in a window")
            wait_until(driver, shows_version(edits + 2), f"version {edits + 2}")
            assert page_document(driver) == python_tree
            assert field_value(driver, "name") == NAME
            assert field_value(driver, "subscribed") is True
            assert field_value(driver, "notes") == NOTES
            assert driver.find_element(By.ID, "last-error").get_attribute("hidden") is not None
        assert python_tree == {"form": {**expected["form"], "email": EMAIL, "plan": "team"}}

        path = screenshot(a, "sync-browser.png")
        browser_errors = [
            entry for driver in (a, b) for entry in driver.get_log("browser")
            if entry.get("level") == "SEVERE"
        ]

    assert path.stat().st_size > 10_000
    assert browser_errors == [], browser_errors
    assert server.process.poll() is None, server.output()
    if "Traceback" in server.output():
        pytest.fail(server.output())
