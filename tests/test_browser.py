"""Every dashboard page in a real headless Chromium (Debian's), against a running app:
reached by its URL path, by the sidebar's native navigation in each language, by old
``?page=`` links and by the links between pages.

Skipped locally without /usr/bin/chromium; in CI (CI=true) a missing browser fails.
Screenshots of every page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

from app.headless import dashboard
from app.i18n import catalog
from app.views import pages_for
from tests import readers
from tests.browsers import chromium, require_browser
from tests.conftest import DEMO_CITY, REPO

SHOTS = REPO / "test-artifacts" / "screenshots"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app_url(demo_build):
    require_browser()
    with dashboard(demo_build.paths.home) as url:
        yield url


APP_TITLE = "Collective Impact Monitor"
H1 = '[data-testid="stMainBlockContainer"] h1'
NAV_LINK = '[data-testid="stSidebarNavLink"]'
PAGE_LINK = '[data-testid="stPageLink-NavLink"]'

PAGES = {  # page -> (query string, fragments that must be visible, read from the mart)
    "overview": ("", ["SELECT goal_name FROM marts.dim_indicator LIMIT 1"]),
    "indicator": (
        "indicator=property_crime_rate&area=04017F",
        [
            "SELECT indicator_name FROM marts.dim_indicator "
            "WHERE indicator_id = 'property_crime_rate'"
        ],
    ),
    "area": ("area=04017F", []),  # its figures are in a canvas grid; AppTest checks them
    "partners": ("", ["SELECT action_name FROM marts.fct_activities WHERE action_id = 'ACT-014'"]),
    "impact": (
        "action=ACT-014&indicator=nuisance_report_rate",
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
DEFAULT = next(iter(PAGES))


def path_of(name: str) -> str:
    """The page's URL path: /<name>, the default page at /."""
    return "/" if name == DEFAULT else f"/{name}"


def title(name: str, lang: str) -> str:
    return catalog(lang)[f"page.{name}"]


@pytest.fixture(scope="module")
def browser(app_url):
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, app_url, demo_build):
    """A tab of a browser the backbone signed into, so every page opens (tests/test_access.py
    tests who reads what)."""
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    tab.context.add_cookies([readers.cookie(app_url, demo_build.paths.home, "backbone")])
    yield tab
    tab.close()


def href_path(page, link) -> str:
    return urlsplit(urljoin(page.url, link.get_attribute("href"))).path


def shows(page, name: str, lang: str) -> dict[str, str]:
    """Wait until ``page`` shows the page ``name`` in ``lang``, with no error; its URL
    path, query parameters and browser tab title."""
    from playwright.sync_api import expect

    expect(page.locator(H1)).to_have_text(title(name, lang), timeout=30_000)
    expect(page).to_have_title(f"{title(name, lang)} · {APP_TITLE}", timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert not page.query_selector('[data-testid="stException"]'), name
    assert "Traceback" not in page.inner_text('[data-testid="stMain"]'), name
    url = urlsplit(page.url)
    return {"path": url.path, **dict(parse_qsl(url.query))}


def test_every_page_renders_in_chromium(app_url, page, demo_build):
    """Each page at its own URL path, with its deep-link parameters; screenshots."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, (query, probes) in PAGES.items():
        expected = [str(demo_build.query(sql)[0][0]) for sql in probes]
        page.goto(f"{app_url}{path_of(name)}?{query}", wait_until="networkidle")
        url = shows(page, name, "en")
        assert url == {"path": path_of(name), **dict(parse_qsl(query)), "lang": "en"}, name
        page.wait_for_timeout(1500)  # charts and tables finish rendering
        text = page.inner_text('[data-testid="stMain"]')
        for fragment in expected:
            assert fragment in text, (name, fragment)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert len(list(SHOTS.glob("*.png"))) >= len(PAGES)


@pytest.mark.parametrize("lang", ["en", "nl", "fr", "de"])
def test_sidebar_navigation_reaches_every_page_in_each_language(app_url, page, lang):
    page.goto(f"{app_url}/?lang={lang}", wait_until="networkidle")
    shows(page, DEFAULT, lang)
    links = page.locator(NAV_LINK)
    listed = pages_for("backbone")  # the tab is the backbone's: every page it may read
    assert links.count() == len(listed)
    # the sidebar lists every page under its translated title, linking to its URL path
    hrefs = [href_path(page, links.nth(i)) for i in range(len(listed))]
    assert hrefs == [path_of(name) for name in listed]
    for i, name in enumerate(listed):
        assert title(name, lang) in links.nth(i).inner_text(), name
    for name in [*listed[1:], DEFAULT]:
        page.locator(NAV_LINK).filter(has_text=title(name, lang)).click()
        url = shows(page, name, lang)
        assert url["path"] == path_of(name), name
        assert url["lang"] == lang, name  # the language stays in the URL


@pytest.mark.parametrize(
    ("query", "name", "lang", "picked"),
    [
        (
            "page=indicator&indicator=property_crime_rate&area=04017A&lang=nl",
            "indicator",
            "nl",
            "property_crime_rate",
        ),
        ("page=impact&action=ACT-014&indicator=nuisance_report_rate", "impact", "en", "ACT-014"),
    ],
)
def test_old_page_links_land_on_their_page(app_url, page, demo_build, query, name, lang, picked):
    page.goto(f"{app_url}/?{query}", wait_until="networkidle")
    url = shows(page, name, lang)
    params = {k: v for k, v in parse_qsl(query) if k != "page"}
    assert url == {"path": path_of(name), **params, "lang": lang}
    main = page.inner_text('[data-testid="stMain"]')
    if name == "indicator":
        assert _indicator_name(demo_build, picked, lang) in main
    else:
        (effect,) = demo_build.query(
            "SELECT format('{:.2f}', effect) FROM marts.fct_action_impact "
            "WHERE action_id = ? AND indicator_id = 'nuisance_report_rate'",
            [picked],
        )[0]
        assert effect in main


def test_language_and_links_between_pages(app_url, page, demo_build):
    """Choose Dutch on one page; it stays through the sidebar and the overview's links."""
    page.goto(f"{app_url}/health", wait_until="networkidle")
    shows(page, "health", "en")
    page.locator('[data-testid="stSidebar"] label').filter(has_text="NL").click()
    assert shows(page, "health", "nl")["lang"] == "nl"
    page.locator(NAV_LINK).filter(has_text=title("overview", "nl")).click()
    shows(page, "overview", "nl")
    href = page.locator(PAGE_LINK).first.get_attribute("href")
    target = urlsplit(urljoin(page.url, href))
    assert target.path == "/indicator"
    indicator = dict(parse_qsl(target.query))["indicator"]
    # the link of that href, found again at the click: a page still rendering under load
    # can put another link first by then
    page.locator(f'{PAGE_LINK}[href="{href}"]').first.click()
    url = shows(page, "indicator", "nl")
    assert url["path"] == "/indicator" and url["indicator"] == indicator and url["lang"] == "nl"
    assert _indicator_name(demo_build, indicator, "nl") in page.inner_text('[data-testid="stMain"]')


def _indicator_name(demo_build, indicator: str, lang: str) -> str:
    """The name a reader of ``lang`` sees: the city's word for it, else the agenda's."""
    from cim.city.words import load_words

    word = load_words(DEMO_CITY, [lang]).indicator(indicator, "name", lang)
    (name,) = demo_build.query(
        "SELECT indicator_name FROM marts.dim_indicator WHERE indicator_id = ?", [indicator]
    )[0]
    return word or name


@pytest.mark.parametrize("lang", ["en", "nl", "fr", "de"])
def test_html_lang_follows_the_reader_language(app_url, page, lang):
    """Screen readers, hyphenation and the browser's translation offer read <html lang>."""
    page.goto(f"{app_url}/area?lang={lang}", wait_until="networkidle")
    shows(page, "area", lang)
    page.wait_for_function(f"document.documentElement.lang === {lang!r}", timeout=15_000)


def test_language_switch_is_reachable_on_a_phone(app_url, browser):
    """At phone width the sidebar starts collapsed; the switch at the top of the page is
    there, works, and hides again at desktop width, where the sidebar's radio is."""
    from playwright.sync_api import expect

    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone.goto(f"{app_url}/?lang=en", wait_until="networkidle")
        shows(phone, DEFAULT, "en")
        expect(phone.locator('[data-testid="stSidebar"]')).to_have_attribute(
            "data-collapsed", "true", timeout=15_000
        )
        top = phone.locator(".st-key-lang_top")
        expect(top).to_be_visible()
        top.get_by_role("radio", name="FR").click()
        url = shows(phone, DEFAULT, "fr")
        assert url["lang"] == "fr"
        phone.wait_for_function("document.documentElement.lang === 'fr'", timeout=15_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        phone.screenshot(path=str(SHOTS / "overview-phone-fr.png"))
        phone.set_viewport_size({"width": 1400, "height": 1000})
        expect(top).to_be_hidden()
    finally:
        phone.close()
