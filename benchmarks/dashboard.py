"""Dashboard timings on a published snapshot: every page's server-side run (AppTest,
cold and warm cache) and its first render in headless Chromium.

``python -m benchmarks.dashboard <CIM_HOME> [--no-browser]`` prints one JSON line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cim  # noqa: F401  (offline, no-telemetry environment first)

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app" / "main.py"
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


def pages() -> list[str]:
    sys.path.insert(0, str(REPO))
    from app.views import PAGES  # the app's own page list

    return list(PAGES)


def apptest_seconds(page: str) -> dict[str, float]:
    """Server-side run of one page: the first run fills the query cache, the second uses it."""
    from streamlit.testing.v1 import AppTest

    out = {}
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.query_params["page"] = page
    for label in ("cold", "warm"):
        started = time.perf_counter()
        at.run()
        out[label] = time.perf_counter() - started
        if at.exception:
            raise RuntimeError(f"page {page}: {[e.value for e in at.exception]}")
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_seconds(names: list[str]) -> dict[str, float]:
    """Time from navigation to the page's title and charts drawn, one fresh server."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.5)
        out = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name in names:
                started = time.perf_counter()
                page.goto(f"{url}/?page={name}", wait_until="networkidle")
                page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=120_000)
                page.wait_for_load_state("networkidle")
                out[name] = time.perf_counter() - started
            browser.close()
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(home: str, *flags: str) -> dict:
    os.environ["CIM_HOME"] = home
    names = pages()
    result = {"apptest": {name: apptest_seconds(name) for name in names}}
    if "--no-browser" not in flags and Path(CHROMIUM).exists():
        result["browser_first_render"] = browser_seconds(names)
    return result


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
