"""Downloads a city monitor's reader expects: every table and every chart's series as CSV
and as Excel, numbers as numbers, the same cells empty as on screen and said why.

The app runs under AppTest on the published demo snapshot; the files are the bytes its
download buttons serve (tests.downloads), compared with the snapshot read on its own.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from app.i18n import catalog
from app.series import scale_of
from app.views.partners import partner_options
from tests.downloads import csv_rows, downloads, keep_downloads, xlsx_rows
from tests.test_app import run

pytestmark = pytest.mark.slow

PAGES = {
    "overview": {},
    "indicator": {"indicator": "vandalism_report_rate", "area": "04017A"},
    "area": {"area": "04017A"},
    "partners": {},
    "impact": {"action": "ACT-014", "indicator": "nuisance_report_rate"},
    "health": {},
}


@pytest.fixture
def served_app(published, monkeypatch):
    keep_downloads(monkeypatch)
    return published


def _same(text: str, cell: object) -> bool:
    """A CSV cell and the Excel cell of the same place hold the same thing."""
    if cell is None:
        return text == ""
    if isinstance(cell, bool):
        return text == str(cell)
    if isinstance(cell, int | float):
        return text != "" and math.isclose(float(text), float(cell), rel_tol=1e-12)
    return text == str(cell)


def _charts(at) -> int:
    """Charts on the page that draw a series (a map draws the breakdown table's rows)."""
    import json

    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return sum(all(tr.get("type") != "choropleth" for tr in s["data"]) for s in specs)


@pytest.mark.parametrize("lang", ["en", "nl"])
@pytest.mark.parametrize("page", list(PAGES))
def test_every_table_and_chart_offers_csv_and_excel(served_app, page, lang):
    at = run(page, lang=lang, **PAGES[page])
    files = downloads(at)
    stems = Counter(name.rsplit(".", 1)[0] for name in files)
    assert stems and all(n == 2 for n in stems.values()), files.keys()  # CSV and Excel
    # one download per table and per chart of a series; the overview's cards make one
    shown = len(at.dataframe) + _charts(at) or 1
    assert len(stems) >= shown, (sorted(stems), len(at.dataframe), _charts(at))
    words = catalog(lang)
    for stem in stems:
        rows, cells = csv_rows(files[f"{stem}.csv"]), xlsx_rows(files[f"{stem}.xlsx"])
        assert len(rows) == len(cells), stem
        assert len(rows) > 1, f"{stem}: a download without rows"
        for text_row, cell_row in zip(rows, cells, strict=True):
            assert len(text_row) == len(cell_row)
            assert all(_same(a, b) for a, b in zip(text_row, cell_row, strict=True)), (
                stem,
                text_row,
                cell_row,
            )
        # headers in the reader's language; an English header only where the words agree
        assert rows[0] and not any(h.startswith(("col.", "download.")) for h in rows[0])
    headers = [h for n, f in files.items() if n.endswith(".csv") for h in csv_rows(f)[0]]
    columns = {v for k, v in words.items() if k.startswith("col.")}
    assert set(headers) & columns, headers  # the reader's words for the columns


def _numbers(row: list[str], header: list[str], *columns: str) -> list[float | None]:
    return [None if row[header.index(c)] == "" else float(row[header.index(c)]) for c in columns]


def test_breakdown_download_is_the_table_with_its_suppression(served_app):
    """Vandalism per neighbourhood: some cells suppressed. The download has every area of
    the level, the published values as numbers, and nothing where the page says
    "suppressed"."""
    period, level = served_app(
        "SELECT period_id, area_level FROM marts.fct_indicator_values "
        "WHERE indicator_id = 'vandalism_report_rate' AND period_type = 'month' "
        "GROUP BY ALL HAVING bool_or(suppressed) AND bool_or(NOT suppressed) "
        "ORDER BY period_id DESC LIMIT 1"
    )[0]
    at = run("indicator", **PAGES["indicator"])
    at.selectbox(key="breakdown_period").set_value(period)
    at.radio(key="breakdown_level").set_value(level)
    at.run()
    assert not at.exception
    stem = f"vandalism_report_rate_{period}_{level}"
    files = downloads(at)
    header, *rows = csv_rows(files[f"{stem}.csv"])
    scale = scale_of("month")
    mart = {
        area: (suppressed, value, lower, upper, n)
        for area, suppressed, value, lower, upper, n in served_app(
            f"SELECT area_id, suppressed, {scale.value}, {scale.lower}, {scale.upper}, n "
            "FROM marts.fct_indicator_values WHERE indicator_id = 'vandalism_report_rate' "
            "AND period_id = ? AND area_level = ?",
            [period, level],
        )
    }
    words = catalog("en")
    value_col = next(h for h in header if h.startswith(words["col.value"]))
    assert "per" in value_col or "(" in value_col  # the unit is in the header
    assert {r[header.index(words["col.area_id"])] for r in rows} == set(mart)
    hidden = 0
    for row in rows:
        suppressed, *expected = mart[row[header.index(words["col.area_id"])]]
        got = _numbers(row, header, value_col, words["col.lower"], words["col.upper"], "n")
        note = row[header.index(words["col.note"])]
        assert row[header.index(words["col.scale"])] == words["scale.rolling"]
        if suppressed:
            hidden += 1
            assert got == [None] * 4 and note == words["suppressed"], row
        else:
            for a, b in zip(got, expected, strict=True):
                assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12), row
    assert 0 < hidden < len(rows)
    shown = at.dataframe[0].value  # the page says "suppressed" in the same rows
    assert (shown[words["col.value"]] == words["suppressed"]).sum() == hidden


def test_trend_download_is_the_drawn_series_gaps_included(served_app):
    """A neighbourhood's youth participation: most months suppressed. The series file has
    a row for every period the chart spans, a gap's cells empty with the reason."""
    value = scale_of("month").value
    area = served_app(
        "SELECT area_id FROM marts.fct_indicator_values "
        "WHERE indicator_id = 'youth_participation_share' AND period_type = 'month' "
        "AND area_level = 'district' GROUP BY ALL "
        f"HAVING bool_or(suppressed) AND bool_or(NOT suppressed AND {value} IS NOT NULL) "
        "ORDER BY area_id LIMIT 1"
    )[0][0]
    at = run("indicator", indicator="youth_participation_share", area=area)
    files = downloads(at)
    header, *rows = csv_rows(files[f"youth_participation_share_{area}_series.csv"])
    mart = dict(
        (p, (s, v))
        for p, s, v in served_app(
            f"SELECT period_id, suppressed, {value} FROM marts.fct_indicator_values "
            "WHERE indicator_id = 'youth_participation_share' AND area_id = ? "
            "AND period_type = 'month'",
            [area],
        )
    )
    words = catalog("en")
    periods = [r[header.index(words["col.period"])] for r in rows]
    assert periods == sorted(periods) and len(set(periods)) == len(periods)
    value_col = next(h for h in header if h.startswith(words["col.value"]))
    notes = Counter()
    for row, period in zip(rows, periods, strict=True):
        suppressed, value = mart.get(period, (False, None))
        got = row[header.index(value_col)]
        note = row[header.index(words["col.note"])]
        notes[note] += 1
        if suppressed:
            assert got == "" and note == words["suppressed"]
        elif value is None:
            assert got == "" and note == words["download.no_value"]
        else:
            assert math.isclose(float(got), value, rel_tol=1e-12) and note == ""
    assert notes[words["suppressed"]] > 0 and notes[""] > 0


def test_area_profile_download_has_numbers_where_the_page_has_them(served_app):
    at = run("area", area="04017A")
    files = downloads(at)
    header, *rows = csv_rows(files["profile_04017A.csv"])
    words = catalog("en")
    latest = dict(
        served_app(
            "SELECT i.indicator_name || ' (' || i.unit || ')', p.latest_value "
            "FROM marts.fct_progress p JOIN marts.dim_indicator i USING (indicator_id) "
            "WHERE p.area_id = '04017A'"
        )
    )
    assert len(rows) == len(at.dataframe[0].value)
    for row in rows:
        name = row[header.index(words["col.indicator"])]
        got = row[header.index(words["col.area_value"])]
        note = row[header.index(words["col.note"])]
        if latest.get(name) is None:
            assert got == "" and note in (words["suppressed"], words["area.not_published"])
        else:
            assert math.isclose(float(got), latest[name], rel_tol=1e-12) and note == ""


def test_health_download_gives_the_reason_a_delivery_was_refused(served_app):
    at = run("health")
    words = catalog("en")
    header, *rows = csv_rows(downloads(at)["feed_health.csv"])
    (reason,) = served_app(
        "SELECT reason FROM meta.file_ledger "
        "WHERE status = 'rejected' AND feed = 'housing_complaints'"
    )[0]
    rejected = [
        r
        for r in rows
        if r[header.index(words["col.period"])] == "2023-Q2"
        and r[header.index(words["col.feed"])] == "housing_complaints"
    ]
    assert [r[header.index(words["col.reason"])] for r in rejected] == [reason]
    assert header[0] == words["col.status"]  # the status leads, then what is owed
    assert header.index(words["col.reason"]) < header.index(words["col.partner"])
    # and the page says it in full above the table
    assert any("housing" in m.value and "BadZipFile" in m.value for m in at.markdown)
    # in Dutch, in Dutch (app.i18n.reason's templates of ingestion's reasons)
    at = run("health", lang="nl")
    words = catalog("nl")
    header, *rows = csv_rows(downloads(at)["feed_health.csv"])
    (dutch,) = [
        r[header.index(words["col.reason"])]
        for r in rows
        if r[header.index(words["col.period"])] == "2023-Q2"
        and r[header.index(words["col.feed"])] == "housing_complaints"
    ]
    assert dutch and dutch != reason and "BadZipFile" in dutch


def test_partner_picker_lists_every_partner_of_the_city(served_app):
    """Picker options come from dim_partner, not from the registry's names: a city whose
    registry names no partner still lists its partners."""
    at = run("partners")
    partners = dict(served_app("SELECT partner_id, partner_name FROM marts.dim_partner"))
    picker = at.multiselect[0]
    assert sorted(picker.options) == sorted(partners.values())
    import pandas as pd

    options = partner_options(
        pd.DataFrame({"partner_id": list(partners), "partner_name": list(partners.values())}),
        pd.DataFrame({"partner_id": pd.Series(dtype=object)}),
    )
    assert options == dict(sorted(partners.items(), key=lambda kv: kv[1].casefold()))
