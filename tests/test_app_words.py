"""The dashboard speaks the city's languages and uses the city's own words: a city whose
city.yaml says ``languages: [de, en]`` gets a German interface by default, its level,
area, goal and indicator names from ``i18n/de.yaml``, and the agenda's text in English.

Run with AppTest on the published demo snapshot, the city folder a copy of the demo's
with other languages and words (names only: the figures are the snapshot's)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
