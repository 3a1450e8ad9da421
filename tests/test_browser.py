"""Every dashboard page in a real headless Chromium (Debian's), against a running app.

Skipped locally without /usr/bin/chromium; in CI (CI=true) a missing browser fails.
Screenshots of every page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.headless import CHROMIUM, FLAGS, dashboard
from tests.conftest import REPO

SHOTS = REPO / "test-artifacts" / "screenshots"
pytestmark = pytest.mark.slow


def _require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium (see README)")
    pytest.skip(f"{CHROMIUM} not installed (sudo apt-get install -y chromium)")


@pytest.fixture(scope="module")
def app_url(demo_build):
    _require_browser()
    with dashboard(demo_build.paths.home) as url:
        yield url


PAGES = {  # page -> (query string, fragments that must be visible, read from the mart)
    "overview": ("", ["SELECT goal_name FROM marts.dim_indicator LIMIT 1"]),
    "indicator": (
        "&indicator=property_crime_rate&area=04017F",
        [
            "SELECT indicator_name FROM marts.dim_indicator "
            "WHERE indicator_id = 'property_crime_rate'"
        ],
    ),
    "area": ("&area=04017F", []),  # its figures are in a canvas grid; AppTest checks them
    "partners": ("", ["SELECT action_name FROM marts.fct_activities WHERE action_id = 'ACT-014'"]),
    "impact": (
        "&action=ACT-014&indicator=nuisance_report_rate",
        [
            "SELECT format('{:.2f}', effect) FROM marts.fct_action_impact "
            "WHERE action_id = 'ACT-014' AND indicator_id = 'nuisance_report_rate'"
        ],
    ),
    "health": (
        "",
        [
            "SELECT count(*) || ' deliveries are late, missing or rejected' "
            "FROM marts.fct_feed_health WHERE delivery_status IN ('late', 'missing', 'rejected')"
        ],
    ),
    "method": ("", []),
}


def test_every_page_renders_in_chromium(app_url, demo_build):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            for name, (query, probes) in PAGES.items():
                expected = [str(demo_build.query(sql)[0][0]) for sql in probes]
                page.goto(f"{app_url}/?page={name}{query}", wait_until="networkidle")
                page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=30_000)
                page.wait_for_timeout(1500)  # charts and tables finish rendering
                text = page.inner_text('[data-testid="stMain"]')
                assert not page.query_selector('[data-testid="stException"]'), name
                assert "Traceback" not in text, name
                for fragment in expected:
                    assert fragment in text, (name, fragment)
                page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        finally:
            browser.close()
    assert len(list(SHOTS.glob("*.png"))) >= len(PAGES)
