"""The chat's page in a real browser (headless Chromium) talking to a Python client.

Chromium's WebSocket offers permessage-deflate, so this is also an interop test of
rawsock's server with a browser's compression.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from browser import Chromium, screenshot
from chat_helpers import chat_user
from example_support import ROOT, Program, serve_example
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.wait import WebDriverWait


async def test_browser_and_python_client_chat(
    programs: list[Program], tmp_path: Path, chromium: Chromium
) -> None:
    server, port = serve_example(programs, "examples.chat")
    long_text = "browsers compress this " * 12  # over the compression threshold
    with chromium.open(tmp_path / "profile") as driver:
        wait = WebDriverWait(driver, 15)
        async with chat_user(f"ws://127.0.0.1:{port}/ws", "py") as python_user:
            await python_user.join("lobby")
            await trio.to_thread.run_sync(driver.get, f"http://127.0.0.1:{port}/")
            wait.until(shown.text_to_be_present_in_element((By.ID, "status"), "connected"))
            driver.find_element(By.ID, "nick").send_keys("chromium")
            driver.find_element(By.ID, "hello").click()
            wait.until(shown.visibility_of_element_located((By.ID, "chat")))
            hint = driver.find_element(By.ID, "room-hint")
            assert hint.is_displayed() and "Join a room" in hint.text, hint.text
            driver.find_element(By.ID, "room").send_keys("lobby")
            driver.find_element(By.ID, "join").click()
            wait.until(shown.text_to_be_present_in_element((By.ID, "current-room"), "lobby"))
            wait.until(shown.invisibility_of_element_located((By.ID, "room-hint")))
            await python_user.expect("presence", nick="chromium", event="join")

            driver.execute_script(
                "document.getElementById('text').value = arguments[0];", long_text
            )
            driver.find_element(By.ID, "send").click()
            await python_user.expect("message", nick="chromium", text=long_text)
            await python_user.send(type="say", room="lobby", text=long_text.upper())
            await python_user.expect("message", nick="py")  # its own, back
            wait.until(shown.text_to_be_present_in_element((By.ID, "log"), long_text.upper()[:40]))

            driver.find_element(By.ID, "text").send_keys("hello from the browser")
            driver.find_element(By.ID, "send").click()
            await python_user.expect("message", nick="chromium", text="hello from the browser")
            await python_user.send(type="say", room="lobby", text="hello from Python")
            await python_user.expect("message", nick="py")
            wait.until(shown.text_to_be_present_in_element((By.ID, "log"), "hello from Python"))
            lines = [line.text for line in driver.find_elements(By.CSS_SELECTOR, "#log li")]
            members = driver.find_element(By.ID, "members").text.split()
            extensions = driver.execute_script("return state.ws.extensions")
            path = screenshot(driver, "chat-browser.png")
    assert members == ["chromium", "py"]
    assert any("chromium" in line and "hello from the browser" in line for line in lines)
    assert any("py" in line and "hello from Python" in line for line in lines)
    assert extensions.startswith("permessage-deflate"), extensions
    assert path.stat().st_size > 10_000
    if "Traceback" in server.output():
        pytest.fail(server.output())


def test_every_skip_says_what_to_install(tmp_path: Path) -> None:
    """Where Chromium is installed but not its driver, and redis-server is missing, the
    browser and Redis tests skip, each saying what is missing and what to install (an
    async test that skipped inside would say only "Skipped")."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "chromium"  # never started: the driver's absence skips first
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    env = {name: value for name, value in os.environ.items()
           if name != "RAWSOCK_REQUIRE_EXAMPLE_DEPS"}
    env["PATH"] = str(bin_dir)
    tests = [f"tests/examples/test_example_{name}.py"
             for name in ("chat_browser", "echo_browser", "sync_browser", "chat_redis")]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "-k", "not parent and not skip_says", *tests],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert result.returncode == 0 and "7 skipped" in result.stdout, result.stdout
    browser = "chromedriver is not installed (apt-get install chromium-driver;"
    redis = "redis-server is not installed (apt-get install redis-server;"
    assert all(browser in line or redis in line for line in skips), skips
    assert sum(int(line.split()[1].strip("[]")) for line in skips) == 7, skips  # SKIPPED [n]
