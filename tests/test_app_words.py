"""The dashboard speaks the city's languages and uses the city's own words: a city whose
city.yaml says ``languages: [de, en]`` gets a German interface by default, its level,
area, goal and indicator names from ``i18n/de.yaml``, and the agenda's text in English.

Run with AppTest on the published demo snapshot, the city folder a copy of the demo's
with other languages and words (names only: the figures are the snapshot's)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from app.data import fmt
from app.i18n import catalog

APP = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
DEMO = Path(__file__).resolve().parents[1] / "cities" / "demo"
CITY = "04017"
# not a word of any interface catalog: only the city's file can say it
DISTRICT = {"name": "Stadtbezirk", "plural": "Stadtbezirke"}


def run(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at._page_hash = calc_hash(page)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def german_city(demo_build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The demo deployment served with a city folder that speaks German first."""
    folder = tmp_path / "city"
    shutil.copytree(DEMO, folder)
    settings = yaml.safe_load((folder / "city.yaml").read_text(encoding="utf-8"))
    settings["languages"] = ["de", "en"]
    (folder / "city.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    words_file = folder / "i18n" / "de.yaml"
    words = yaml.safe_load(words_file.read_text(encoding="utf-8"))
    words["levels"]["district"] = DISTRICT
    words_file.write_text(yaml.safe_dump(words, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("CIM_CITY", str(folder))
    monkeypatch.setenv("CIM_HOME", str(demo_build.paths.home))
    return words


def test_german_interface_and_the_city_s_words(german_city, demo_build):
    words = german_city
    at = run("overview")
    assert at.title[0].value == catalog("de")["page.overview"] == "Übersicht"
    assert at.query_params["lang"] == "de"  # the city's first language is the default
    radio = at.sidebar.radio(key="lang")
    assert radio.options == ["DE", "EN"] and radio.label == "Sprache · Language"
    cards = {m.label: m.value for m in at.metric}
    latest = dict(
        demo_build.query(
            "SELECT indicator_id, latest_value FROM marts.fct_progress WHERE area_id = ?", [CITY]
        )
    )
    assert len(latest) == 12
    for indicator_id, value in latest.items():
        name = words["indicators"][indicator_id]["name"]
        assert cards[name] == fmt(value), indicator_id
    goals = [h.value for h in at.subheader]
    assert goals == [g["name"] for g in words["goals"].values()]

    at = run("indicator", indicator="violent_crime_rate", area="04017A")
    area = at.selectbox[1]
    assert area.value == "04017A"
    assert area.format_func(area.value) == f"{words['areas']['04017A']} ({DISTRICT['name']})"
    level = at.radio(key="breakdown_level")
    assert level.value == "district"
    assert level.format_func("district") == DISTRICT["plural"]
    assert "level." not in " ".join(level.options)
    table = at.dataframe[0].value
    districts = demo_build.query(
        "SELECT area_id FROM marts.dim_area WHERE area_level = 'district' ORDER BY area_id"
    )
    assert table[catalog("de")["col.area"]].tolist() == [words["areas"][a] for (a,) in districts]
    about = " ".join(m.value for m in at.markdown)
    definition = words["indicators"]["violent_crime_rate"]["definition"].strip()
    assert definition.split()[0] in about and "Zielsetzung" in about

    # English: the agenda's and the areas file's own text, the interface's level word
    at.sidebar.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Indicator"
    (english,) = demo_build.query(
        "SELECT indicator_name FROM marts.dim_indicator WHERE indicator_id = ?",
        ["violent_crime_rate"],
    )[0]
    assert at.selectbox[0].format_func(at.selectbox[0].value) == english
    assert at.selectbox[1].format_func("04017A") == "Centrum (district)"


def test_a_level_nobody_named_shows_readably_never_as_a_key(german_city):
    def probe() -> None:
        import streamlit as st

        from app.i18n import level_name

        st.write(f"[{level_name('bezirk')}] [{level_name('stat_sector', plural=True)}]")
        st.write(f"[{level_name('district')}] [{level_name('district', plural=True)}]")

    at = AppTest.from_function(probe, default_timeout=30)
    at.query_params["lang"] = "de"
    at.run()
    assert not at.exception
    shown = [m.value for m in at.markdown]
    assert shown == ["[bezirk] [stat sector]", "[Stadtbezirk] [Stadtbezirke]"]


def test_a_broken_words_file_is_named_and_the_agenda_text_shown(german_city, demo_build):
    file = Path(os.environ["CIM_CITY"]) / "i18n" / "de.yaml"
    file.write_text("levels: [district]\n", encoding="utf-8")
    at = run("overview")
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert "de.yaml" in warnings and "levels" in warnings and "check-config" in warnings
    names = {n for (n,) in demo_build.query("SELECT indicator_name FROM marts.dim_indicator")}
    assert {m.label for m in at.metric} == names


# --- texts the pipeline stores in English: numbers, guard rails, checks --------------------

REASONS = sorted(k for k in catalog("en") if k.startswith("reason."))


def translate(texts: list[str], lang: str, tmp_path: Path) -> list[str]:
    """``app.i18n.reason`` of each text in a real script run with ``?lang=<lang>``."""

    def probe() -> None:
        import json
        import os
        from pathlib import Path

        import streamlit as st

        from app.i18n import reason

        texts = json.loads(Path(os.environ["PROBE_TEXTS"]).read_text(encoding="utf-8"))
        st.code(json.dumps([reason(x) for x in texts], ensure_ascii=False))

    file = tmp_path / f"texts-{lang}.json"
    file.write_text(json.dumps(texts), encoding="utf-8")
    os.environ["PROBE_TEXTS"] = str(file)
    try:
        at = AppTest.from_function(probe, default_timeout=30)
        at.query_params["lang"] = lang
        at.run()
    finally:
        del os.environ["PROBE_TEXTS"]
    assert not at.exception, [e.value for e in at.exception]
    return json.loads(at.code[0].value)


@pytest.fixture
def demo_city(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIM_CITY", str(DEMO))


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_every_stored_english_template_is_said_in_each_language(lang):
    english, other = catalog("en"), catalog(lang)
    assert len(REASONS) >= 60
    for key in REASONS:
        assert other.get(key, "").strip(), (lang, key)
        assert other[key] != english[key], (lang, key, "a copy of English")
        assert sorted(re.findall(r"{(\w+)}", other[key])) == sorted(
            re.findall(r"{(\w+)}", english[key])
        ), (lang, key)


SAMPLE = {  # a value per placeholder, as the pipeline writes it
    "indicator": "property_crime_rate",
    "level": "neighbourhood",
    "lowest": "district",
    "start": "2019-09-01",
    "p": "0.012",
    "value": "4.8",
    "n": "139940",
    "rule": "pupils is given",
    "error": "no treated observation: nothing to estimate",
}


def test_each_template_round_trips_with_its_figures_in_the_reader_s_format(demo_city, tmp_path):
    english = catalog("en")
    texts = [english[key].format_map(_Sample(SAMPLE)) for key in REASONS]
    shown = dict(zip(REASONS, translate(texts, "nl", tmp_path), strict=True))
    dutch = catalog("nl")
    for key, text in zip(REASONS, texts, strict=True):
        assert shown[key] != text, (key, "left in English")
        # every literal part of the Dutch template is there, in its order
        literal = re.split(r"{\w+}", dutch[key])
        assert re.fullmatch(".*?".join(map(re.escape, literal)), shown[key], re.DOTALL), key
    words = yaml.safe_load((DEMO / "i18n" / "nl.yaml").read_text(encoding="utf-8"))
    name = words["indicators"]["property_crime_rate"]["name"]
    assert shown["reason.no_data_before"] == (
        f"geen gegevens voor {name} vóór de start (1 sep 2019)"
    )
    assert shown["reason.measured_coarser"] == (
        f"{name} wordt alleen gemeten tot op het niveau stadsdeel, niet per buurt"
    )
    assert "(p = 0,012, clusterrobuuste toets)" in shown["reason.pretrend_cluster"]
    assert (
        shown["reason.check_passed_rows"]
        == "geslaagd: pupils is ingevuld (139.940 rijen gecontroleerd)"
    )
    assert shown["reason.not_estimated"] == (
        "kon niet geschat worden: geen enkele waarneming met de actie: niets te schatten"
    )
    # English: the text as the pipeline wrote it, the count grouped the English way
    back = dict(zip(REASONS, translate(texts, "en", tmp_path), strict=True))
    assert back["reason.few_treated"] == texts[REASONS.index("reason.few_treated")]
    assert back["reason.check_passed_rows"] == "passed: pupils is given (139,940 rows checked)"
    assert translate(["a text no template knows"], "fr", tmp_path) == ["a text no template knows"]


class _Sample(dict):
    def __missing__(self, key: str) -> str:
        return "7"


def test_the_estimator_s_own_guard_rails_are_all_translated(demo_city, tmp_path):
    """Texts made by the estimator itself, not copied from its source: a changed wording in
    cim.impact shows here as a text left in English."""
    from cim.impact import ImpactSettings, estimate_impact

    from tests.test_impact import synthetic_panel

    short = synthetic_panel(periods=36)
    texts = estimate_impact(short[short["period"] >= "P016"], multiplier=1000).guard_rails_failed
    texts += estimate_impact(
        synthetic_panel(areas=5, treated=3), multiplier=1000
    ).guard_rails_failed
    texts += estimate_impact(synthetic_panel().assign(numerator=0)).guard_rails_failed
    one = synthetic_panel(areas=12, treated=1)
    texts += estimate_impact(
        one, ImpactSettings(min_clusters=2), multiplier=1000
    ).guard_rails_failed
    staggered = synthetic_panel()
    staggered.loc[(staggered["area"] == "A00") & (staggered["period"] == "P017"), "post"] = 1
    est = estimate_impact(staggered, multiplier=1000)
    texts += [*est.guard_rails_failed, est.method_reason]
    panel = synthetic_panel()
    output = panel.assign(numerator=np.where(panel["treated"] * panel["post"], 40, 0))
    texts += estimate_impact(output, multiplier=1000).guard_rails_failed
    flat = panel.assign(numerator=np.where(panel["treated"] == 1, panel["numerator"], 0))
    texts += estimate_impact(flat, multiplier=1000).guard_rails_failed
    assert len(texts) >= 8
    for lang in ("nl", "fr", "de"):
        left = [
            t
            for t, shown in zip(texts, translate(texts, lang, tmp_path), strict=True)
            if t == shown
        ]
        assert not left, (lang, left)


def test_every_text_the_demo_stores_in_english_is_translated(demo_build, demo_city, tmp_path):
    """Guard rails, notes, comparison rules and method reasons of the demo's impact table,
    and the message and name of every quality check of its last run."""
    texts: set[str] = set()
    for guard, notes, rule, why in demo_build.query(
        "SELECT guard_rails_failed, notes, comparison_rule, method_reason "
        "FROM marts.fct_action_impact"
    ):
        texts |= set(guard or []) | set(notes or []) | {t for t in (rule, why) if t}
    texts |= {
        text
        for row in demo_build.query(
            "SELECT message, expectation FROM meta.dq_results WHERE run_id = "
            "(SELECT run_id FROM meta.dq_results ORDER BY checked_at DESC LIMIT 1)"
        )
        for text in row
    }
    texts = sorted(texts)
    assert len(texts) > 100
    # names that are formulas read the same in every language
    formulas = {t for t in texts if re.fullmatch(r"\w+ [<>]=? \w+", t)}
    for lang in ("nl", "fr", "de"):
        shown = translate(texts, lang, tmp_path)
        left = [t for t, s in zip(texts, shown, strict=True) if t == s and t not in formulas]
        assert not left, (lang, left[:10])


@pytest.mark.parametrize(
    ("lang", "number", "share", "day"),
    [
        ("en", "1,234.50", "59%", "Dec 7, 2026"),
        ("nl", "1.234,50", "59%", "7 dec 2026"),
        ("fr", "1\u202f234,50", "59\u00a0%", "7 déc. 2026"),
        ("de", "1.234,50", "59\u00a0%", "07.12.2026"),
    ],
)
def test_numbers_shares_and_dates_in_the_reader_s_locale(
    demo_city, tmp_path, lang, number, share, day
):
    def probe() -> None:
        import datetime as dt

        import streamlit as st

        from app.data import fmt, fmt_date, fmt_pct
        from app.i18n import separators

        shown = [fmt(1234.5), fmt(1234.5, 0), fmt(-0.001), fmt(None), fmt_pct(0.594)]
        shown += [fmt_pct(float("nan")), fmt_date(dt.date(2026, 12, 7)), separators()]
        st.code("|".join(shown))

    at = AppTest.from_function(probe, default_timeout=30)
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception
    shown = at.code[0].value.split("|")
    whole = number.rsplit(number[-3], 1)[0]
    assert shown == [number, whole, "0" + number[-3] + "00", "–", share, "–", day, shown[-1]]
    assert shown[-1][0] == number[-3] and shown[-1][1] == number[1]  # decimal, then group


def test_the_top_language_switch_and_the_sidebar_s_share_one_language(demo_build, monkeypatch):
    """A phone starts with the sidebar collapsed: the switch at the top of the page changes
    the language as the sidebar's radio does, and each shows what the other chose."""
    monkeypatch.setenv("CIM_CITY", str(DEMO))
    monkeypatch.setenv("CIM_HOME", str(demo_build.paths.home))
    at = run("overview", lang="fr")
    top, side = at.segmented_control(key="lang_top"), at.sidebar.radio(key="lang")
    assert top.value == side.value == "fr" and top.options == side.options
    top.set_value("nl").run()
    assert not at.exception
    assert at.title[0].value == catalog("nl")["page.overview"]
    assert at.sidebar.radio(key="lang").value == "nl" and at.query_params["lang"] == "nl"
    at.sidebar.radio(key="lang").set_value("de").run()
    assert at.title[0].value == catalog("de")["page.overview"]
    assert at.segmented_control(key="lang_top").value == "de"
