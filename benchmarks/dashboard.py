"""Dashboard timings on a published snapshot: every page's server-side run (AppTest,
cold and warm cache) and its first render in headless Chromium.

``python -m benchmarks.dashboard <CIM_HOME> [--no-browser]`` prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import cim  # noqa: F401  (offline, no-telemetry environment first)

from app.access import COOKIE, TOKEN
from app.headless import CHROMIUM, FLAGS, MAIN, dashboard
from app.views import DEFAULT, PAGES  # the app's own page list


def url_path(page: str) -> str:
    """Where st.navigation serves a page: its key, the default page at /."""
    return "" if page == DEFAULT else page


def session_for(home: str, page: str) -> str | None:
    """A session token of a reader the page admits: none for a public page, else the
    backbone's, else a partner's (an account made for the benchmark, random password)."""
    import secrets

    from cim import settings
    from cim.appstate import default_url, open_state
    from cim.city import load_city

    audiences = PAGES[page].audiences
    if "public" in audiences:
        return None
    role = "backbone" if "backbone" in audiences else "partner"
    partner = None
    if role == "partner":
        city = load_city(settings.city_dir())
        partner = next(
            c.partner for c in city.contracts if not city.partner_by_id[c.partner].is_backbone
        )
    state = open_state(default_url(Path(home)))
    username = f"bench-{role}"
    if state.accounts.get(username) is None:
        state.accounts.create(username, secrets.token_urlsafe(18), role, partner_id=partner)
    return state.sessions.start(username)


def apptest_seconds(page: str) -> dict[str, float]:
    """Server-side run of one page: the first run fills the query cache, the second uses it."""
    from streamlit.testing.v1 import AppTest
    from streamlit.util import calc_hash

    out = {}
    at = AppTest.from_file(str(MAIN), default_timeout=300)
    if token := session_for(os.environ["CIM_HOME"], page):
        at.session_state[TOKEN] = token
    # open /<page> as the browser does (AppTest.switch_page knows only file pages)
    at._page_hash = calc_hash(page)
    for label in ("cold", "warm"):
        started = time.perf_counter()
        at.run()
        out[label] = time.perf_counter() - started
        if at.exception:
            raise RuntimeError(f"page {page}: {[e.value for e in at.exception]}")
    return out


def browser_seconds(home: str, names: list[str]) -> dict[str, float]:
    """Time from navigation to the page's title with charts drawn, on one fresh server."""
    from playwright.sync_api import sync_playwright

    out = {}
    with dashboard(home, timeout=120) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for name in names:
            page.context.clear_cookies()
            if token := session_for(home, name):
                page.context.add_cookies([{"name": COOKIE, "value": token, "url": url}])
            started = time.perf_counter()
            page.goto(f"{url}/{url_path(name)}", wait_until="networkidle")
            page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=120_000)
            page.wait_for_load_state("networkidle")
            out[name] = time.perf_counter() - started
        browser.close()
    return out


def main(home: str, *flags: str) -> dict:
    os.environ["CIM_HOME"] = home
    names = list(PAGES)
    result = {"apptest": {name: apptest_seconds(name) for name in names}}
    if "--no-browser" not in flags and Path(CHROMIUM).exists():
        result["browser_first_render"] = browser_seconds(home, names)
    return result


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
