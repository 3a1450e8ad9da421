"""A second, realistic city end to end: Atlasstadt's police crime atlas (tests/atlas.py).

One wide file per batch of years (a year column), pseudo-area codes placed at their
district or the city, residents in the same file, an unknown code, a feed that ended,
and years delivered late on purpose. Every total the city publishes, at every level,
must equal the sums of the delivered rows computed here in plain Python; the unknown
code is a rejected row with its reason; health shows no false late or missing delivery.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
from cim.appstate import default_url, open_state

from tests import atlas, readers
from tests.conftest import REPO

pytestmark = pytest.mark.slow
AS_OF = "2026-12-01"
RECENT = list(range(2020, 2026))
CIM = str(REPO / ".venv" / "bin" / "cim")


def _epoch(day: str) -> float:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp()


def _cim(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CIM, *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture(scope="module")
def atlas_run(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("atlas")
    city = atlas.write_city(base / "city")
    home = base / "home"
    env = {
        k: v for k, v in os.environ.items() if k not in {"CIM_CITY", "CIM_HOME", "DAGSTER_HOME"}
    } | {"CIM_CITY": str(city), "CIM_HOME": str(home), "CIM_AS_OF": AS_OF}
    try:
        assert _cim(env, "init").returncode == 0
        landing = home / "landing"
        history, recent = atlas.atlas_rows(atlas.YEARS), atlas.atlas_rows(RECENT, seed=8)
        first = landing / "kriminalitaetsatlas_2012-2019.csv"
        first.write_bytes(atlas.atlas_csv(history))
        # the history, sent by the police on request this autumn
        os.utime(first, (_epoch("2026-11-20"), _epoch("2026-11-20")))
        second = landing / "kriminalitaetsatlas_2020-2025.csv"
        second.write_bytes(atlas.atlas_csv(recent))
        # delivered in time for 2025 (due 90 days after the year, 30 days' grace)
        os.utime(second, (_epoch("2026-03-01"), _epoch("2026-03-01")))
        for year in atlas.REPORTS_YEARS:
            # each year delivered in February of the next, in time
            reports = landing / f"buergermeldungen_{year}.csv"
            reports.write_bytes(atlas.reports_csv(year))
            os.utime(reports, (_epoch(f"{year + 1}-02-01"), _epoch(f"{year + 1}-02-01")))
        checked = _cim(env, "check-config")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        done = _cim(env, "pipeline")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield home, history + recent, done.stdout, city
    finally:
        # the run rewrote the dbt project's generated models: give them back to the demo
        restore = {k: v for k, v in os.environ.items() if k != "CIM_CITY"}
        subprocess.run([CIM, "prepare"], env=restore, check=True, capture_output=True)


def _published(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "published" / "current.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _warehouse(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("indicator", ["graffiti", "straftaten"])
def test_every_published_total_equals_the_files(atlas_run, indicator):
    home, rows, *_ = atlas_run
    expected = atlas.expected_totals(rows, indicator)
    published = _published(
        home,
        "SELECT area_id, period_id, numerator, value, suppressed FROM marts.fct_indicator_values "
        "WHERE indicator_id = ?",
        [indicator],
    )
    seen = {(area, period): (num, value, hidden) for area, period, num, value, hidden in published}
    # every area at every level, every year of both files
    assert set(seen) == set(expected)
    for key, total in expected.items():
        num, value, hidden = seen[key]
        if hidden:
            assert num is None and value is None, key
        else:
            assert (num, value) == (total, total), key
    # the city's totals are all published, and include the pseudo-areas
    city = {p: v for (a, p), (_, v, _) in seen.items() if a == atlas.CITY}
    assert all(v is not None for v in city.values())


def test_a_rate_takes_its_denominator_from_the_same_file(atlas_run):
    home, rows, *_ = atlas_run
    residents = atlas.expected_totals(rows, "einwohner")
    robberies = atlas.expected_totals(rows, "raub")
    published = _published(
        home,
        "SELECT area_id, period_id, numerator, denominator, value FROM marts.fct_indicator_values "
        "WHERE indicator_id = 'raub_rate' AND NOT suppressed",
    )
    assert published
    for area, period, num, den, value in published:
        assert (num, den) == (robberies[(area, period)], residents[(area, period)])
        assert value == pytest.approx(100_000 * num / den)


def test_the_part_not_placed_below_each_level_is_published(atlas_run):
    home, rows, *_ = atlas_run
    placed = {
        (code, row["Jahr"]): int(row["Graffiti"])
        for row in rows
        for code in [row["LOR-Schlüssel"]]
        if code in atlas.PSEUDO
    }
    published = dict(
        ((a, p), v)
        for a, p, v in _published(
            home,
            "SELECT area_id, period_id, numerator_not_placed_below FROM marts.fct_indicator_values "
            "WHERE indicator_id = 'graffiti' AND area_level IN ('stadt', 'bezirk')",
        )
    )
    hidden = {
        (parent, period)
        for parent, period in _published(
            home,
            "SELECT a.parent_area_id, v.period_id FROM marts.fct_indicator_values AS v "
            "JOIN marts.dim_area AS a USING (area_id) WHERE v.indicator_id = 'graffiti' "
            "AND v.suppressed",
        )
    }
    codes = {atlas.CITY: "999999", "01": "019900", "02": "029900", "03": None}
    shown = 0
    for (area, year), value in published.items():
        if (area, year) in hidden:
            # a suppressed child could be recomputed from the parent and this part
            assert value is None, (area, year)
            continue
        code = codes[area]
        assert value == (placed[(code, year)] if code else 0), (area, year)
        shown += 1
    assert shown >= len(published) / 2
    # a neighbourhood has nothing below it
    lowest = _published(
        home,
        "SELECT count(*) FROM marts.fct_indicator_values WHERE area_level = 'lor' "
        "AND numerator_not_placed_below IS NOT NULL",
    )
    assert lowest == [(0,)]


def test_the_ledger_lists_periods_and_levels_and_keeps_the_unknown_code(atlas_run):
    home, _, printed, _ = atlas_run
    ledger = _warehouse(
        home,
        "SELECT original_name, status, period, periods, rows_read, rows_accepted, "
        "rows_rejected, rows_by_level FROM meta.file_ledger ORDER BY original_name",
    )
    by_name = {r[0]: r[1:] for r in ledger}
    status, period, periods, read, accepted, rejected, levels = by_name[
        "kriminalitaetsatlas_2012-2019.csv"
    ]
    assert (status, period) == ("loaded", None)
    assert periods == [str(y) for y in atlas.YEARS]
    per_year = sum(len(lors) for lors in atlas.DISTRICTS.values()) + len(atlas.PSEUDO) + 1
    assert (read, accepted, rejected) == (8 * per_year, 8 * (per_year - 1), 8)
    assert {(x["area_level"], x["row_count"]) for x in levels} == {
        ("lor", 8 * 8),
        ("bezirk", 8 * 2),
        ("stadt", 8),
    }
    # `cim pipeline` printed the same, as `cim ledger` does
    assert (
        "kriminalitaetsatlas_2012-2019.csv: periods 2012 to 2019 (8); rows placed per level: "
        "lor 64, bezirk 16, stadt 8"
    ) in printed
    reasons = _warehouse(home, "SELECT DISTINCT reason FROM meta.rejected_rows")
    assert len(reasons) == 1 and f"'{atlas.UNKNOWN}' is not a known lor code" in reasons[0][0]


def test_the_dashboard_says_where_rows_were_placed_in_the_citys_words(atlas_run, monkeypatch):
    """German first, as city.yaml says: the health page lists each file's rows per level
    under the city's names for its levels; the indicator page says how much of the city's
    total the police placed in no district. In English, the city's English words."""
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP, go

    home, rows, _, city = atlas_run
    monkeypatch.setenv("CIM_HOME", str(home))
    monkeypatch.setenv("CIM_CITY", str(city))
    history = "kriminalitaetsatlas_2012-2019.csv"
    for lang, column, placed in [
        ("de", "angenommene Zeilen je Ebene", "Planungsraum 64 · Bezirk 16 · Stadt 8"),
        ("en", "accepted rows per level", "planning area 64 · district 16 · city 8"),
    ]:
        params = {"lang": lang} if lang != "de" else {}
        at = readers.sign_in(AppTest.from_file(APP, default_timeout=60), "backbone")
        at = go(at, "health", **params)
        table = next(d.value for d in at.dataframe if column in d.value.columns)
        file_column = table.columns[0]
        line = table[table[file_column] == history].iloc[0]
        assert line[column] == placed
        assert line.iloc[2] == ", ".join(str(y) for y in atlas.YEARS)

    last = str(max(atlas.YEARS + RECENT))
    part = next(
        int(r["Graffiti"]) for r in rows if (r["LOR-Schlüssel"], r["Jahr"]) == ("999999", last)
    )
    total = atlas.expected_totals(rows, "graffiti")[(atlas.CITY, last)]
    from babel.numbers import format_decimal, format_percent

    def n(value: int, lang: str) -> str:  # figures in the reader's number format
        return format_decimal(value, "#,##0", locale=lang)

    for lang, said in [
        (
            "de",
            f"{format_percent(part / total, locale='de')} dieser Summe ({n(part, 'de')} von "
            f"{n(total, 'de')}, {last}) ist unterhalb der Ebene Stadt nicht zugeordnet",
        ),
        (
            "en",
            f"{format_percent(part / total, locale='en')} of this total ({n(part, 'en')} of "
            f"{n(total, 'en')}, {last}) is not placed below city level",
        ),
    ]:
        params = {"lang": lang} if lang != "de" else {}
        at = go(
            AppTest.from_file(APP, default_timeout=60),
            "indicator",
            indicator="graffiti",
            area=atlas.CITY,
            **params,
        )
        notes = [c.value for c in at.caption if said in c.value]
        assert len(notes) == 1, [c.value for c in at.caption]


def test_a_feed_that_ended_owes_nothing_after_its_end(atlas_run):
    home, *_ = atlas_run
    health = _published(
        home,
        "SELECT period_id, delivery_status FROM marts.fct_feed_health "
        "WHERE feed_id = 'buergermeldungen' ORDER BY period_id",
    )
    assert health == [(str(y), "on time") for y in atlas.REPORTS_YEARS]
    totals = dict(
        _published(
            home,
            "SELECT period_id, numerator FROM marts.fct_indicator_values "
            "WHERE indicator_id = 'meldungen' AND area_id = ?",
            [atlas.CITY],
        )
    )
    expected = {}
    for year in atlas.REPORTS_YEARS:
        lines = atlas.reports_csv(year).decode().splitlines()[1:]
        expected[str(year)] = sum(int(line.split(",")[1]) for line in lines)
    assert totals == expected


def test_health_shows_no_false_late_or_missing_delivery(atlas_run):
    home, *_ = atlas_run
    health = dict(
        _published(
            home,
            "SELECT period_id, delivery_status FROM marts.fct_feed_health "
            "WHERE feed_id = 'kriminalitaetsatlas'",
        )
    )
    # 2012-2024 sent late on purpose, 2025 in time, 2026 not due yet
    assert health == {str(y): "backfill" for y in range(2012, 2025)} | {
        "2025": "on time",
        "2026": "not yet due",
    }
    assert open_state(default_url(home)).reminders.list() == []
    rates = _published(
        home,
        "SELECT reporting_rate, on_time_rate FROM marts.fct_partner_health "
        "WHERE partner_id = 'polizei' AND feed_id = 'kriminalitaetsatlas'",
    )
    assert rates == [(1.0, 1.0)]
