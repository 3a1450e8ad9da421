"""Debian's headless Chromium for the browser tests: required in CI, skipped without it
locally, launched the one way every browser test uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.headless import CHROMIUM, FLAGS


def require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium (see README)")
    pytest.skip(f"{CHROMIUM} not installed (sudo apt-get install -y chromium)")


@contextmanager
def chromium() -> Iterator:
    """A launched headless Chromium (Playwright's Browser), closed afterwards."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()
