"""Headless Chromium for the status-page tests, driven by Selenium through Debian's chromedriver.

The browser is `chromium` and `chromedriver` on PATH (Debian's packages `chromium` and `chromium-driver`,
which `.ci/run` installs). Selenium is given that driver, so it never tries to download one; the flags keep
Chromium offline and away from the user's profile. When either is missing the tests skip, saying how to
install them, unless $CLAUDE_ANY_BROWSER_REQUIRED is set (as `.ci/run` does): then they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
PAGE_LOAD_S = 20


def find_browser() -> tuple[tuple[str, str] | None, str]:
    """(chromium, chromedriver), or None and a sentence saying what is missing."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser and driver:
        return (browser, driver), ""
    found = (("chromium", browser), ("chromedriver", driver))
    missing = " and ".join(name for name, path in found if not path)
    return None, (
        f"{missing} not found on PATH: install Debian's `apt-get install --no-install-recommends chromium "
        "chromium-driver` (as .ci/run does)"
    )


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium (its own profile under tmp_path) that records the network events it sees,
    for the response headers (`goog:loggingPrefs` performance)."""
    found, why = find_browser()
    if found is None:
        if os.environ.get("CLAUDE_ANY_BROWSER_REQUIRED"):  # set by .ci/run: CI must run these tests
            pytest.fail(why)
        pytest.skip(why)
    browser, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_S)
    try:
        yield driver
    finally:
        driver.quit()
