"""A partner in a real browser: signs in with the form, drops a broken file, reads the
reasons within seconds with nothing committed, sends it, and after the pipeline's run
finds it loaded, still signed in after reloading the page. Headless Chromium against
the dashboard served by Streamlit on a copy of the demo deployment."""

from __future__ import annotations

import time

import pytest

from app.headless import dashboard
from app.i18n import catalog
from tests import readers
from tests.browsers import chromium, require_browser
from tests.test_portal import POLICE_FILE, broken_police_file, files_of

EN = catalog("en")
pytestmark = pytest.mark.slow


def test_a_partner_uploads_in_the_browser_and_the_file_reaches_the_dashboard(
    demo_build, tmp_path, monkeypatch
):
    require_browser()
    from playwright.sync_api import expect

    paths = demo_build.copy_to(tmp_path)
    monkeypatch.setenv("CIM_HOME", str(paths.home))
    monkeypatch.delenv("CIM_APP_DB", raising=False)
    username = readers.account("partner", "police")
    upload = tmp_path / POLICE_FILE
    upload.write_bytes(broken_police_file())
    with dashboard(paths.home, timeout=120) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/login", wait_until="networkidle")
        page.get_by_label(EN["login.username"], exact=True).fill(username)
        page.get_by_label(EN["login.password"], exact=True).fill(readers.PASSWORD)
        page.get_by_role("button", name=EN["login.submit"]).click()
        expect(page.locator("h1")).to_have_text(EN["page.portal"], timeout=30_000)

        before = files_of(paths)
        started = time.perf_counter()
        page.locator('input[type="file"]').set_input_files(str(upload))
        verdict = page.get_by_text(EN["upload.verdict.would_load_with_rejected_rows"])
        verdict.wait_for(timeout=60_000)
        print(f"dry run shown {time.perf_counter() - started:.1f} s after the drop")
        main = page.inner_text('[data-testid="stMain"]')
        assert "23 rows read: 20 accepted, 3 rejected." in main
        assert files_of(paths) == before  # nothing committed

        page.get_by_role("button", name=EN["upload.send"]).click()
        page.get_by_text(EN["upload.waiting"]).wait_for(timeout=30_000)
        assert [p.name for p in paths.landing.iterdir()] == [POLICE_FILE]

        result, _ = demo_build.run(paths, monkeypatch)
        assert result.success
        page.reload(wait_until="networkidle")  # the sign-in cookie keeps the session
        expect(page.locator("h1")).to_have_text(EN["page.portal"], timeout=30_000)
        sent = page.get_by_text(f"{POLICE_FILE} ·")  # the list of files sent from here
        expect(sent).to_contain_text("· loaded", timeout=30_000)
