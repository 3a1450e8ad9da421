"""Data quality suites: real Great Expectations, real DuckDB, the real demo contracts.

Raw tables are written directly, shaped like ingestion writes them (cim.ingest.store),
with a ledger line per delivered file so messages can name the file.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import uuid
from pathlib import Path

import duckdb
import pytest
from cim.city import City, ConfigError, load_city
from cim.ingest import store
from cim.quality import (
    CheckOutcome,
    build_data_docs,
    read_results,
    run_feed_suite,
    run_mart_suite,
    write_results,
)

from tests.conftest import DEMO_CITY

TODAY = dt.date(2026, 11, 23)
ADULT_BANDS = ["18-24", "25-44", "45-64", "65+"]


@pytest.fixture
def con(tmp_path: Path, demo_city: City):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    store.ensure_meta(connection)
    for contract in demo_city.contracts:
        store.ensure_raw_table(connection, contract)
    yield connection
    connection.close()


def deliver(con, city: City, feed: str, name: str, period: str, rows: list[dict]) -> str:
    """Write one delivered file's rows as ingestion would, with its ledger line."""
    load_id = uuid.uuid4().hex
    con.execute(
        "INSERT INTO meta.file_ledger (load_id, feed, original_name, loaded_at, period, status) "
        "VALUES (?, ?, ?, now(), ?, 'loaded')",
        [load_id, feed, name, period],
    )
    columns = list(store.raw_columns(city.contract_by_feed[feed]))
    for number, row in enumerate(rows, start=2):
        values = row | {
            "_period": period,
            "_file_sha256": "0" * 64,
            "_row_number": number,
            "_load_id": load_id,
        }
        marks = ", ".join("?" * len(columns))
        con.execute(
            f"INSERT INTO raw.{feed} ({', '.join(columns)}) VALUES ({marks})",
            [values.get(c) for c in columns],
        )
    return load_id


def incidents(month: str, n: int = 10, **overrides) -> list[dict]:
    year, mon = map(int, month.split("-"))
    return [
        {
            "incident_id": f"PV/{month}/{i}",
            "occurred_on": dt.date(year, mon, 1 + i % 20),
            "registered_on": dt.date(year, mon, 2 + i % 20),
            "offence_category": "fietsdiefstal",
            "place_type": "openbare_weg",
            "area_code": "04017A001",
            "damage_eur": 100.0,
        }
        | overrides
        for i in range(n)
    ]


def by_name(outcomes: list[CheckOutcome]) -> dict[str, CheckOutcome]:
    return {o.expectation: o for o in outcomes}


def failures(outcomes: list[CheckOutcome]) -> list[CheckOutcome]:
    return [o for o in outcomes if not o.success]


def test_clean_feed_passes(con, demo_city):
    for month in ("2026-08", "2026-09", "2026-10"):
        deliver(
            con,
            demo_city,
            "police_incidents",
            f"politie_incidenten_{month}.csv",
            month,
            incidents(month),
        )
    outcomes = run_feed_suite(con, demo_city, "police_incidents", "r1", TODAY)
    assert outcomes and not failures(outcomes), [o.message for o in failures(outcomes)]
    names = by_name(outcomes)
    # baseline from the contract plus the YAML domain rules
    assert {
        "incident_id is given",
        "offence_category is one of the allowed values",
        "damage_eur >= 0",
        "delivery period not after 2026-11",
        "occurred_on not after today",
    } <= set(names)
    assert all(o.asset == "raw/police_incidents" and o.run_id == "r1" for o in outcomes)


def test_negative_count_fails_error_and_names_the_file(con, demo_city):
    rows = [
        {
            "neighbourhood_code": "04017A001",
            "complaint_type": "geluid",
            "complaints": c,
            "dwellings": 300,
        }
        for c in (4, 2, -3, 1, 7, -1)
    ]
    deliver(con, demo_city, "housing_complaints", "klachten_2026-Q2.xlsx", "2026-Q2", rows)
    outcome = by_name(run_feed_suite(con, demo_city, "housing_complaints", "r1", TODAY))[
        "complaints >= 0"
    ]
    assert not outcome.success and outcome.severity == "ERROR"
    assert outcome.unexpected_count == 2
    assert "2 rows of klachten_2026-Q2.xlsx (rows 4, 7)" in outcome.message
    assert "housing association" in outcome.message
    assert {e["file"] for e in outcome.unexpected_examples} == {"klachten_2026-Q2.xlsx"}
    assert sorted(e["complaints"] for e in outcome.unexpected_examples) == [-3, -1]


def test_future_incidents_and_periods_fail_error(con, demo_city):
    deliver(
        con,
        demo_city,
        "police_incidents",
        "politie_incidenten_2026-10.csv",
        "2026-10",
        incidents("2026-10"),
    )
    future = incidents("2027-05", n=3) + incidents("2026-10", n=2, occurred_on=dt.date(2019, 3, 1))
    deliver(con, demo_city, "police_incidents", "politie_incidenten_2027-05.csv", "2027-05", future)
    outcomes = by_name(run_feed_suite(con, demo_city, "police_incidents", "r1", TODAY))
    occurred = outcomes["occurred_on not after today"]
    assert not occurred.success and occurred.severity == "ERROR"
    assert occurred.message.startswith("3 rows of politie_incidenten_2027-05.csv (rows 2, 3, 4)")
    assert "occurred_on after 2026-11-23 — ask the police to correct the dates" in occurred.message
    period = outcomes["delivery period not after 2026-11"]
    assert not period.success and period.severity == "ERROR"
    assert "politie_incidenten_2027-05.csv" in period.message
    old = outcomes["occurred_on not more than a year before the feed's start"]
    assert not old.success and old.severity == "WARN" and old.unexpected_count == 2


def test_month_on_month_jump_is_a_warning_only(con, demo_city):
    for month in range(1, 8):
        period = f"2026-{month:02d}"
        n = 40 if month == 7 else 10
        deliver(
            con,
            demo_city,
            "police_incidents",
            f"politie_incidenten_{period}.csv",
            period,
            incidents(period, n=n),
        )
    failed = failures(run_feed_suite(con, demo_city, "police_incidents", "r1", TODAY))
    assert [(o.expectation, o.severity) for o in failed] == [
        ("monthly row count in line with the previous six months", "WARN")
    ]
    assert "politie_incidenten_2026-07.csv" in failed[0].message
    assert failed[0].unexpected_examples[0]["rows_vs_median_previous_6"] == 4.0


def _population(year: int, adults_per_band: int, areas=("04017A001", "04017A002")) -> list[dict]:
    bands = ["0-11", "12-17", *ADULT_BANDS]
    return [
        {"area_code": area, "age_band": band, "residents": adults_per_band, "dwellings": 10}
        for area in areas
        for band in bands
    ]


def _survey(total_weight: float, n: int = 8) -> list[dict]:
    return [
        {
            "respondent_id": f"r{i}",
            "district_code": "04017A",
            "age_band": "25-44",
            "weight": total_weight / n,
            "feels_unsafe": i % 2,
            "cohesion_1": 3,
        }
        for i in range(n)
    ]


def test_survey_weights_must_sum_to_the_adult_population(con, demo_city):
    # 2 areas x 4 adult bands x 100 residents = 800 adults in each year
    for year in (2023, 2025):
        deliver(
            con, demo_city, "population", f"bevolking_{year}.csv", str(year), _population(year, 100)
        )
    deliver(con, demo_city, "resident_survey", "bewonersbevraging_2023.csv", "2023", _survey(800))
    deliver(con, demo_city, "resident_survey", "bewonersbevraging_2025.csv", "2025", _survey(640))
    outcomes = by_name(run_feed_suite(con, demo_city, "resident_survey", "r1", TODAY))
    weights = outcomes["weights of a wave sum to the adult population within 2%"]
    assert not weights.success and weights.severity == "ERROR"
    assert weights.unexpected_count == 1
    assert weights.message.startswith("bewonersbevraging_2025.csv (_period=2025")
    assert outcomes["weight > 0"].success
    assert outcomes["adult population known for every wave"].success


def test_population_change_over_15_percent_is_a_warning(con, demo_city):
    deliver(con, demo_city, "population", "bevolking_2024.csv", "2024", _population(2024, 100))
    grown = _population(2025, 100, areas=("04017A001",)) + _population(
        2025, 130, areas=("04017A002",)
    )
    deliver(con, demo_city, "population", "bevolking_2025.csv", "2025", grown)
    failed = failures(run_feed_suite(con, demo_city, "population", "r1", TODAY))
    assert [(o.severity, o.unexpected_count) for o in failed] == [("WARN", 1)]
    assert "bevolking_2025.csv (area_code=04017A002, _period=2025" in failed[0].message


MART_DDL = """
CREATE SCHEMA marts;
CREATE TABLE marts.dim_indicator (
    indicator_id VARCHAR, indicator_kind VARCHAR, unit VARCHAR, multiplier DOUBLE,
    cadence VARCHAR);
INSERT INTO marts.dim_indicator VALUES
    ('crime_rate', 'rate', 'per 1,000 residents', 1000, 'month'),
    ('unsafe_share', 'survey_share', '%', 100, 'year'),
    ('cohesion', 'survey_mean', 'score 1-5', 1, 'year');
CREATE TABLE marts.dim_area (area_id VARCHAR, area_level VARCHAR, area_depth INTEGER);
INSERT INTO marts.dim_area VALUES ('04017', 'city', 0), ('04017A', 'district', 1);
CREATE TABLE marts.fct_indicator_values (
    indicator_id VARCHAR, area_id VARCHAR, area_level VARCHAR, period_id VARCHAR,
    numerator DOUBLE, denominator DOUBLE, value DOUBLE, lower_95 DOUBLE, upper_95 DOUBLE,
    input_completeness DOUBLE, suppressed BOOLEAN);
INSERT INTO marts.fct_indicator_values VALUES
    ('crime_rate', '04017', 'city', '2026-01', 12, 4000, 3.0, 2.4, 3.6, 1, false),
    ('crime_rate', '04017', 'city', '2026-02', 8, 4000, 2.0, 1.5, 2.6, 1, false),
    ('crime_rate', '04017', 'city', '2026-03', 4, 4000, 1.0, 0.6, 1.6, 1, false),
    ('unsafe_share', '04017A', 'district', '2025', 40, 100, 40.0, 31, 49, 1, false),
    ('cohesion', '04017A', 'district', '2025', 350, 100, 3.5, 3.3, 3.7, 1, false);
CREATE TABLE marts.fct_progress (indicator_id VARCHAR, area_id VARCHAR, status VARCHAR);
INSERT INTO marts.fct_progress VALUES
    ('crime_rate', '04017', 'on track'), ('cohesion', '04017A', 'no target');
"""


def test_mart_rules_pass_on_consistent_rows_and_fail_on_an_inconsistent_value(con, demo_city):
    con.execute(MART_DDL)
    for table in ("fct_indicator_values", "fct_progress"):
        outcomes = run_mart_suite(con, demo_city, table, "r1", TODAY)
        assert outcomes and not failures(outcomes), [o.message for o in failures(outcomes)]
    con.execute(
        "UPDATE marts.fct_indicator_values SET value = 120, upper_95 = 130, numerator = 120 "
        "WHERE indicator_id = 'unsafe_share';"
        "DELETE FROM marts.fct_indicator_values WHERE period_id = '2026-02';"
        "UPDATE marts.fct_progress SET status = 'great' WHERE indicator_id = 'cohesion'"
    )
    failed = {
        o.expectation: o
        for o in failures(run_mart_suite(con, demo_city, "fct_indicator_values", "r1", TODAY))
    }
    assert set(failed) == {
        "value not above its unit's maximum (% <= 100, scores <= scale maximum)",
        "no missing month at city level for a monthly indicator",
    }
    assert all(o.severity == "ERROR" for o in failed.values())
    assert (
        "period_id=2026-02"
        in failed["no missing month at city level for a monthly indicator"].message
    )
    con.execute(
        "INSERT INTO marts.fct_indicator_values VALUES ('crime_rate', '04017', 'city', "
        "'2026-02', 8.0, 4000.0, 3.5, 1.5, 3.6, 1.0, false)"
    )
    formula = by_name(run_mart_suite(con, demo_city, "fct_indicator_values", "r1", TODAY))[
        "value equals numerator / denominator x multiplier"
    ]
    assert not formula.success and formula.severity == "ERROR"
    assert "indicator_id=crime_rate, area_id=04017, period_id=2026-02" in formula.message
    status = failures(run_mart_suite(con, demo_city, "fct_progress", "r1", TODAY))
    assert [o.expectation for o in status] == [
        "status is one of on track, off track, insufficient data, no target"
    ]


def test_missing_tables_are_reported_not_raised(con, demo_city):
    (outcome,) = run_mart_suite(con, demo_city, "fct_progress", "r1", TODAY)
    assert not outcome.success and "dbt build" in outcome.message
    # the survey frame joins raw.population: its absence fails the rule, not the run
    con.execute("DROP TABLE raw.population")
    deliver(con, demo_city, "resident_survey", "bewonersbevraging_2025.csv", "2025", _survey(8))
    weights = by_name(run_feed_suite(con, demo_city, "resident_survey", "r1", TODAY))[
        "weights of a wave sum to the adult population within 2%"
    ]
    assert not weights.success and "could not be checked" in weights.message


def test_a_city_can_override_a_suite_and_mistakes_name_the_file(tmp_path, con):
    folder = tmp_path / "city"
    shutil.copytree(DEMO_CITY, folder)
    (folder / "expectations").mkdir()
    bad = folder / "expectations" / "police_incidents.yaml"
    bad.write_text(
        "feed: police_incidents\nrules:\n  - name: typo\n    expect: "
        "expect_column_values_to_not_be_null\n    kwargs: {column: ocurred_on}\n"
        "    severity: ERROR\n"
    )
    with pytest.raises(ConfigError, match="ocurred_on"):
        run_feed_suite(con, load_city(folder), "police_incidents", "r1", TODAY)


def test_results_are_written_and_docs_render_offline(con, demo_city, tmp_path):
    deliver(
        con,
        demo_city,
        "police_incidents",
        "politie_incidenten_2027-05.csv",
        "2027-05",
        incidents("2027-05", n=3),
    )
    outcomes = run_feed_suite(con, demo_city, "police_incidents", "run-42", TODAY)
    write_results(con, outcomes)
    write_results(con, outcomes[:1])
    assert con.execute("SELECT count(*) FROM meta.dq_results").fetchone()[0] == len(outcomes) + 1
    (examples,) = con.execute(
        "SELECT unexpected_examples FROM meta.dq_results "
        "WHERE expectation = 'occurred_on not after today' LIMIT 1"
    ).fetchone()
    assert json.loads(examples)[0]["file"] == "politie_incidenten_2027-05.csv"
    assert {o.expectation for o in read_results(con)} == {o.expectation for o in outcomes}

    index = build_data_docs(tmp_path / "home", con=con)  # from meta.dq_results
    assert index == tmp_path / "home" / "quality" / "docs" / "index.html"
    assert (index.parent / "static" / "styles" / "cim.css").is_file()
    pages = list(index.parent.rglob("*.html"))
    assert len(pages) > 2
    remote = re.compile(r"""(src|href)\s*=\s*["']?https?://""", re.I)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not remote.search(text), page
        assert "cim.css" in text
    text = index.read_text(encoding="utf-8")
    assert "occurred_on not after today" in text
    assert "politie_incidenten_2027-05.csv" in text
    assert "validations/police_incidents/run-42/" in text
