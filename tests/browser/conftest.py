"""A real browser for the web frontend: Playwright for Python driving the distribution's
Chromium (Debian's ``chromium`` package; ``.ci/run`` installs it). Without Chromium the browser
tests are skipped with a message, except under CI, where they fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import stack  # noqa: F401 — the platform the browser tests drive

CHROMIUM = Path(os.environ.get("OSTAN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> Path | None:
    if CHROMIUM.exists():
        return CHROMIUM
    found = shutil.which("chromium")
    return Path(found) if found else None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one module: Playwright's sync API keeps an event loop running in this thread
    while it is open, which the asyncio tests that follow must not find."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("no Chromium here (apt-get install chromium): the browser tests are skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(path), args=CHROMIUM_FLAGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()
