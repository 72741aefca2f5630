"""A real headless browser for UI tests: Debian's ``chromium`` driven by Playwright (no browser download).

Without a Chromium the tests that need it skip, loudly; with ``ML_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which
installs ``chromium``) they fail instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
VIEWPORT = {"width": 1400, "height": 900}


def chromium_path() -> str | None:
    """The installed Chromium (``ML_CHROMIUM`` overrides), or None."""
    for path in (os.environ.get("ML_CHROMIUM"), *CANDIDATES, shutil.which("chromium")):
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    return None


def require_chromium() -> str:
    """The Chromium to drive; skips the test (with a warning) when there is none, or fails under CI."""
    path = chromium_path()
    if path:
        return path
    message = ("NO CHROMIUM INSTALLED: the browser tests did not run. Install Debian's package "
               "(`apt-get install chromium`) to run them; CI (.ci/run) installs it and sets ML_REQUIRE_BROWSER=1.")
    if os.environ.get("ML_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " ML_REQUIRE_BROWSER=1: failing instead of skipping.")
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


@contextlib.contextmanager
def browser_page() -> Iterator:
    """A fresh page (1400×900) in a headless Chromium; the browser is closed after."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser.new_context(viewport=VIEWPORT).new_page()
        finally:
            browser.close()


def log_in(page, base_url: str, user: str, password: str) -> None:
    """Sign in through Airflow's own login page (simple auth manager); the UI's ``_token`` cookie is then set."""
    page.goto(f"{base_url}/auth/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(lambda url: "/auth/" not in url, timeout=30_000)
