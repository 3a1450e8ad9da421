"""Every dashboard page in a real headless Chromium (Debian's), against a running app.

Skipped locally without /usr/bin/chromium; in CI (CI=true) a missing browser fails.
Screenshots of every page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = REPO / "test-artifacts" / "screenshots"
pytestmark = pytest.mark.slow


def _require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium (see README)")
    pytest.skip(f"{CHROMIUM} not installed (sudo apt-get install -y chromium)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(demo_build):
    _require_browser()
    port = _free_port()
    env = os.environ | {"CIM_HOME": str(demo_build.paths.home)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO / "app" / "main.py"),
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(timeout=20)


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
