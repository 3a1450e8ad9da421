"""The Streamlit app, run headless with AppTest against the real published demo snapshot."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from babel.numbers import format_decimal
from cim.serve import docs_url
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from app.data import fmt, fmt_date
from app.i18n import LANGS, catalog
from app.views import PAGES as REGISTRY
from app.views import pages_for
from tests import readers

APP = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
PAGES = ["overview", "indicator", "area", "partners", "impact", "health", "method"]
CITY = "04017"
# links written before the pages had their own URL path; they must keep working
OLD_LINKS = {
    "indicator": {"indicator": "property_crime_rate", "area": "04017A", "lang": "nl"},
    "impact": {"action": "ACT-014", "indicator": "nuisance_report_rate"},
}


def url_path(page: str) -> str:
    """The page's URL path: its key, except the default page, served at /."""
    return "" if page == PAGES[0] else page


def go(at: AppTest, page: str, **params: str) -> AppTest:
    """What the browser does for /<page>?<params>, for a typed URL as for a click on the
    sidebar's navigation (which drops the query string): ask for the page by its hash, which
    Streamlit computes from the key given as ``url_path``, with exactly ``params``.
    (``AppTest.switch_page`` finds only pages made from files; ours are functions.)"""
    at._page_hash = calc_hash(page)
    at.query_params.clear()
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run(page: str, **params: str) -> AppTest:
    """A new session opened on /<page>?<params>; on a page the public may not read, a
    session the backbone signed into (tests/test_access.py tests who reads what)."""
    at = AppTest.from_file(APP, default_timeout=60)
    audiences = REGISTRY[page].audiences
    if "public" not in audiences:
        readers.sign_in(at, *(("backbone",) if "backbone" in audiences else ("partner", "housing")))
    return go(at, page, **params)


def old_link(**params: str) -> AppTest:
    """A new session opened on /?<params>, as old ``?page=`` links do."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def title(page: str, lang: str) -> str:
    return catalog(lang)[f"page.{page}"]


def navigation(at: AppTest) -> list[tuple[str, str]]:
    """(title, URL path) of every page st.navigation registered in the last run, in order."""
    return [(p["page_name"], p["url_pathname"]) for p in at._registered_pages.values()]


def test_overview_cards_show_city_progress(published):
    at = run("overview")
    cards = {m.label: m.value for m in at.metric}
    rows = published(
        "SELECT i.indicator_name, p.latest_value FROM marts.fct_progress p "
        "JOIN marts.dim_indicator i USING (indicator_id) WHERE p.area_id = ?",
        [CITY],
    )
    assert len(rows) == 12
    for name, latest in rows:
        assert cards[name] == fmt(latest), name
    warnings = " ".join(w.value for w in at.warning)
    assert "youth_participation 2025-07: missing" in warnings
    captions = " ".join(c.value for c in at.caption)
    (created,) = published("SELECT manifest->>'created_at' FROM published.manifest")[0]
    assert fmt_date(created) in captions  # the date, in the reader's format
    assert at.query_params == {"lang": "en"}


def test_indicator_table_equals_mart_with_suppressed_cells(published):
    ind = "youth_participation_share"
    # a neighbourhood period with suppressed cells, to see how they are shown
    (period,) = published(
        "SELECT max(period_id) FROM marts.fct_indicator_values WHERE indicator_id = ? "
        "AND area_level = 'neighbourhood' AND suppressed AND period_type = 'month'",
        [ind],
    )[0]
    at = run("indicator", indicator=ind, area=CITY)
    assert at.selectbox[0].value == ind
    assert at.radio(key="breakdown_level").value == "neighbourhood"
    at.selectbox(key="breakdown_period").set_value(period).run()
    assert not at.exception
    shown = at.dataframe[0].value
    # a monthly indicator: the table shows the rolling 12 months, the overview's scale
    rows = published(
        "SELECT area_id, suppressed, rolling_12m_value, rolling_12m_lower_95, "
        "rolling_12m_upper_95, n "
        "FROM marts.fct_indicator_values WHERE indicator_id = ? AND period_id = ? "
        "AND area_level = 'neighbourhood' ORDER BY area_id",
        [ind, period],
    )
    assert shown["area code"].tolist() == [r[0] for r in rows]
    expected = [
        ["suppressed"] * 4 if sup else [fmt(v), fmt(lo), fmt(hi), fmt(n, 0)]
        for _, sup, v, lo, hi, n in rows
    ]
    assert shown[["value", "lower 95%", "upper 95%", "n"]].values.tolist() == expected
    assert any(r[1] for r in rows) and "suppressed" in shown["value"].tolist()
    # trend and map are drawn; the map needs nothing online and names suppressed areas
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    spec, config = json.loads(charts[1].proto.spec), json.loads(charts[1].proto.config)
    assert config["topojsonURL"].startswith("data:")
    assert spec["layout"]["geo"]["visible"] is False
    hover = [text for trace in spec["data"] for text in trace.get("text", [])]
    names = dict(published("SELECT area_id, area_name FROM marts.dim_area"))
    for area_id, sup, *_ in rows:
        assert any(h.startswith(f"{names[area_id]}: suppressed ·") for h in hover) == sup
    assert at.query_params["indicator"] == ind
    assert at.query_params["area"] == CITY


def test_indicator_district_level_and_deep_link(published):
    at = run("indicator", indicator="violent_crime_rate", area="04017A")
    assert at.selectbox[0].value == "violent_crime_rate"
    assert at.selectbox[1].value == "04017A"
    assert at.radio(key="breakdown_level").value == "district"
    period = at.selectbox(key="breakdown_period").value
    shown = at.dataframe[0].value
    rows = published(
        "SELECT area_id, rolling_12m_value FROM marts.fct_indicator_values "
        "WHERE indicator_id = ? AND period_id = ? AND area_level = 'district' ORDER BY area_id",
        ["violent_crime_rate", period],
    )
    assert list(zip(shown["area code"], shown["value"], strict=True)) == [
        (a, fmt(v)) for a, v in rows
    ]


def test_area_profile_against_city(published):
    at = run("area", area="04017A")
    table = at.dataframe[0].value.set_index("indicator")
    rows = published(
        "SELECT i.indicator_name || ' (' || i.unit || ')', a.latest_value, c.latest_value "
        "FROM marts.fct_progress a "
        "JOIN marts.fct_progress c ON c.indicator_id = a.indicator_id AND c.area_id = ? "
        "JOIN marts.dim_indicator i ON i.indicator_id = a.indicator_id WHERE a.area_id = ?",
        [CITY, "04017A"],
    )
    assert rows
    suppressed = {
        name
        for (name,) in published(
            "SELECT DISTINCT i.indicator_name || ' (' || i.unit || ')' "
            "FROM marts.fct_indicator_values v "
            "JOIN marts.dim_indicator i USING (indicator_id) WHERE v.area_id = ? AND v.suppressed",
            ["04017A"],
        )
    }
    for name, area_value, city_value in rows:
        if area_value is None:  # no published value: say why, never 0 or blank
            assert name in suppressed
            assert table.loc[name, "area"] == "suppressed"
        else:
            assert table.loc[name, "area"] == fmt(area_value)
        assert table.loc[name, "city"] == fmt(city_value)


def test_partners_lists_every_activity(published):
    at = run("partners")
    table = at.dataframe[0].value
    rows = published("SELECT action_name, partner_name FROM marts.fct_activities")
    assert sorted(zip(table["action"], table["partner"], strict=True)) == sorted(rows)


def test_health_lists_missing_delivery_first(published):
    at = run("health")
    feeds = at.dataframe[0].value
    row = feeds[(feeds["feed"] == "youth_participation") & (feeds["period"] == "2025-07")]
    assert row["status"].tolist() == ["❌ missing"]  # an icon of its own shape, and the word
    assert {s.split()[-1] for s in feeds["status"].head(3)} <= {"rejected", "missing", "late"}
    assert len(feeds) == published("SELECT count(*) FROM marts.fct_feed_health")[0][0]
    markdown = " ".join(m.value for m in at.markdown)
    # the Data Docs over HTTP from the documentation server, not a path on the server's disk
    assert f"({docs_url('quality/')})" in markdown and "file://" not in markdown


def test_method_page(published):
    at = run("method")
    assert "suppressed" in " ".join(m.value for m in at.markdown)


@pytest.mark.parametrize("page", PAGES)
def test_empty_state(page, tmp_path, monkeypatch):
    monkeypatch.setenv("CIM_HOME", str(tmp_path / "empty"))
    at = run(page)
    assert at.title[0].value == title(page, "en")
    assert any("No data published yet" in w.value for w in at.warning)
    body = " ".join(m.value for m in at.markdown)
    assert "make run" in body and "`make demo`" in body and "cim demo" not in body


def test_language_switch_to_dutch(published):
    at = run("overview", lang="nl")
    assert at.title[0].value == "Overzicht"
    at = run("health")
    assert at.title[0].value == "Data health"
    at.sidebar.radio(key="lang").set_value("nl").run()
    assert at.title[0].value == "Datakwaliteit"
    feeds = at.dataframe[0].value
    row = feeds[(feeds["aanlevering"] == "youth_participation") & (feeds["periode"] == "2025-07")]
    assert row["status"].tolist() == ["❌ ontbreekt"]
    assert at.query_params["lang"] == "nl"


def test_user_choices_are_written_to_the_url(published):
    at = run("indicator")
    at.selectbox[0].set_value("trust_police_share").run()
    assert not at.exception
    assert at.query_params["indicator"] == "trust_police_share"
    go(at, "area", lang="en")
    assert at.title[0].value == "Area profile"
    assert "indicator" not in at.query_params  # each page has its own parameters


# --- navigation: native st.navigation, translated titles, URL paths, old links ---------


@pytest.mark.parametrize("lang", list(LANGS))
def test_every_page_is_in_the_navigation_with_its_translated_title(lang, tmp_path, monkeypatch):
    monkeypatch.setenv("CIM_HOME", str(tmp_path / "empty"))  # titles need no data
    for reader in ("public", "partner", "backbone"):
        at = AppTest.from_file(APP, default_timeout=60)
        if reader != "public":
            readers.sign_in(at, reader, "housing" if reader == "partner" else None)
        go(at, "overview", lang=lang)
        pages = pages_for(reader)
        expected = [(title(page, lang), url_path(page)) for page in pages]
        assert navigation(at) == expected, reader
        assert len({name for name, _ in expected}) == len(pages)
        for page in pages:
            go(at, page)  # a click in the sidebar: the query string is dropped
            assert at.title[0].value == title(page, lang), (reader, page)
            assert at.query_params["lang"] == lang, page  # the language stays
            assert navigation(at) == expected, page


def test_the_translations_name_every_page():
    for lang in LANGS:
        assert all(catalog(lang).get(f"page.{page}") for page in REGISTRY), lang
    assert title("area", "nl") != title("area", "en") != title("area", "fr")


@pytest.mark.parametrize("page", list(OLD_LINKS))
def test_old_page_links_land_on_their_page_with_their_parameters(page, published):
    params = OLD_LINKS[page]
    at = old_link(page=page, **params)
    lang = params.get("lang", "en")
    assert at.title[0].value == title(page, lang)
    assert {k: at.query_params[k] for k in params} == params
    assert "page" not in at.query_params  # redirected once, to the native URL
    if page == "indicator":
        assert [at.selectbox[0].value, at.selectbox[1].value] == ["property_crime_rate", "04017A"]
    else:
        assert [at.selectbox[0].value, at.selectbox[1].value] == ["ACT-014", "nuisance_report_rate"]
        assert at.metric  # the estimate of that action and indicator


def test_old_link_to_an_unknown_page_opens_the_overview(tmp_path, monkeypatch):
    monkeypatch.setenv("CIM_HOME", str(tmp_path / "empty"))
    at = old_link(page="nowhere", lang="fr")
    assert at.title[0].value == title("overview", "fr")
    assert at.query_params == {"lang": "fr"}


def test_url_path_links_open_their_page(published):
    at = run("indicator", indicator="property_crime_rate", area="04017A", lang="nl")
    assert at.title[0].value == "Indicator"
    assert [at.selectbox[0].value, at.selectbox[1].value] == ["property_crime_rate", "04017A"]
    assert at.query_params == {"indicator": "property_crime_rate", "area": "04017A", "lang": "nl"}
    at = run("impact", action="ACT-014", indicator="violent_crime_rate", lang="fr")
    assert at.title[0].value == title("impact", "fr")
    assert [at.selectbox[0].value, at.selectbox[1].value] == ["ACT-014", "violent_crime_rate"]


def test_language_stays_when_switching_pages(published):
    at = run("health")
    at.sidebar.radio(key="lang").set_value("fr").run()
    assert at.title[0].value == title("health", "fr")
    for page in ["area", "impact", "overview"]:
        go(at, page)
        assert at.title[0].value == title(page, "fr")
        assert at.query_params["lang"] == "fr"
        assert at.sidebar.radio(key="lang").value == "fr"


def test_overview_cards_link_to_their_indicator_page(published):
    at = run("overview", lang="nl")
    links = at.page_link
    inds = [
        i
        for (i,) in published(
            "SELECT indicator_id FROM marts.fct_progress WHERE area_id = ?", [CITY]
        )
    ]
    assert len(links) == len(inds) == 12
    targets = [(link.proto.page, dict(parse_qsl(link.proto.query_string))) for link in links]
    assert sorted(targets, key=lambda t: t[1]["indicator"]) == [
        ("indicator", {"indicator": i, "lang": "nl"}) for i in sorted(inds)
    ]
    assert {link.value for link in links} == {catalog("nl")["overview.details"]}
    page, params = next(t for t in targets if t[1]["indicator"] == "trust_police_share")
    go(at, page, **params)  # a click on the link
    assert at.title[0].value == title("indicator", "nl")
    assert at.selectbox[0].value == "trust_police_share"
    assert at.selectbox[0].index > 0  # not the first indicator, which it shows by default


def test_impact_page_shows_estimate_interval_and_level(published):
    at = run("impact", action="ACT-014", indicator="nuisance_report_rate")
    (effect, lower, upper, relative, level, finding) = published(
        "SELECT effect, effect_lower_95, effect_upper_95, relative_effect, maryland_level, "
        "finding FROM marts.fct_action_impact "
        "WHERE action_id = 'ACT-014' AND indicator_id = 'nuisance_report_rate'"
    )[0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["effect"] == fmt(effect)
    assert metrics["95% interval"] == f"[{fmt(lower)} ; {fmt(upper)}]"
    assert metrics["Maryland level"] == f"{level} / 5"
    boxes = " ".join(b.value for b in [*at.info, *at.success, *at.warning])
    assert f"{relative * 100:+.0f}%" in boxes
    expected = {"no_detectable_change": "No change that stands out", "improvement": "contributed"}
    assert expected[finding] in boxes
    assert "not proof" in " ".join(c.value for c in at.caption)
    summary = at.dataframe[0].value
    assert (
        len(summary)
        == published("SELECT count(*) FROM marts.fct_action_impact WHERE action_id = 'ACT-014'")[0][
            0
        ]
    )
    assert len(at.get("plotly_chart")) == 2  # treated vs comparison, event study


def test_impact_page_names_the_method_and_shows_the_synthetic_comparison(published):
    """ACT-021 has two target areas and a wide donor pool: synthetic
    difference-in-differences, named in plain words, with its donors and weights."""
    rows = published(
        "SELECT indicator_id FROM marts.fct_action_impact "
        "WHERE action_id = 'ACT-021' AND method = 'sdid' AND result = 'estimated' "
        "ORDER BY indicator_id"
    )
    assert rows, "the demo has an action the synthetic method estimates"
    indicator = rows[0][0]
    at = run("impact", action="ACT-021", indicator=indicator, lang="nl")
    words = catalog("nl")
    shown = " ".join(m.value for m in at.markdown)
    assert words["impact.estimator.sdid"] in shown
    donors = published(
        "SELECT area_id, weight FROM marts.fct_action_donors "
        "WHERE action_id = 'ACT-021' AND indicator_id = ? ORDER BY weight DESC, area_id",
        [indicator],
    )
    table = at.dataframe[1].value  # the summary, then the donors
    assert len(table) == len(donors) and list(table.iloc[:, 1]) == [
        format_decimal(w, "#,##0.000", locale="nl") for _, w in donors
    ]
    assert words["impact.donors_title"] in [h.value for h in at.subheader]
    assert len(at.get("plotly_chart")) == 1  # the trend with its synthetic line; no event study


def test_impact_page_says_insufficient_evidence_without_a_number(published):
    at = run("impact", action="ACT-014", indicator="violent_crime_rate", lang="nl")
    assert at.title[0].value == "Effect van acties"
    assert any("Onvoldoende bewijs" in w.value for w in at.warning)
    # the guard rail's reason in Dutch, the level in the city's own word
    reasons = " ".join(m.value for m in at.markdown)
    assert "alleen gemeten tot op het niveau stadsdeel" in reasons, reasons
    assert not at.metric


def _app_with_a_probe_page() -> None:
    """The app as a developer extends it (docs/architecture.md, "A dashboard page"): a view
    with a render() function, one entry in PAGES, its title in each language. Nothing
    else: app/main.py is run unchanged."""
    import runpy
    from pathlib import Path

    import streamlit as st

    import app
    from app.i18n import LANGS, catalog
    from app.views import PAGES, View

    def render() -> None:
        st.title(catalog(st.query_params.get("lang", "en"))["page.probe"])
        st.write("probe page body")

    PAGES["probe"] = View(render, "🧪")
    for lang in LANGS:
        catalog(lang)["page.probe"] = f"Probe ({lang})"
    runpy.run_path(str(Path(app.__file__).parent / "main.py"))


def test_a_new_page_needs_only_the_promised_files(tmp_path, monkeypatch):
    from app import views

    monkeypatch.setenv("CIM_HOME", str(tmp_path / "empty"))
    try:
        at = go(
            AppTest.from_function(_app_with_a_probe_page, default_timeout=60), "probe", lang="nl"
        )
        assert ("Probe (nl)", "probe") in navigation(at)
        assert at.title[0].value == "Probe (nl)"
        assert any("probe page body" in m.value for m in at.markdown)
    finally:  # AppTest runs in this process: leave the app as it was
        views.PAGES.pop("probe", None)
        for lang in LANGS:
            catalog(lang).pop("page.probe", None)
    main = (Path(__file__).resolve().parents[1] / "app" / "main.py").read_text()
    # main.py names no page: pages come from app.views.PAGES only
    assert not [key for key in PAGES if f'"{key}"' in main or f"'{key}'" in main]
