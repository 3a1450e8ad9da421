"""Never silently empty: an indicator with input records for a period it owes, but no
value and no suppressed cell to say why, fails a dbt test naming the cause: blocking when
the configuration is the cause, a warning when data is not delivered yet."""

from __future__ import annotations

import os
import subprocess

import duckdb
import pytest
from cim.defs.dbt.project import DBT_DIR, DBT_EXECUTABLE

pytestmark = pytest.mark.slow
BLOCKING = "assert_no_indicator_published_empty"
WAITING = "assert_owed_periods_with_records_have_values"
REPORTED = "assert_records_before_the_first_owed_period"


def _dbt_test(paths, tmp_path) -> tuple[int, str]:
    command = [
        DBT_EXECUTABLE,
        *("test", "--select", BLOCKING, WAITING, REPORTED, "--store-failures"),
        *("--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)),
        *("--target-path", str(tmp_path / "target")),
    ]
    env = os.environ | {"CIM_WAREHOUSE": str(paths.warehouse)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout


def _failures(paths, test: str) -> list[tuple]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute(f"SELECT * FROM dbt_test__audit.{test} ORDER BY 1, 2").fetchall()
    finally:
        con.close()


def test_the_demo_publishes_every_period_it_owes_and_reports_what_it_leaves_out(
    demo_build, tmp_path
):
    paths = demo_build.copy_to(tmp_path)
    code, out = _dbt_test(paths, tmp_path)
    assert code == 0, out[-3000:]
    assert "PASS=2 WARN=1" in out
    assert _failures(paths, BLOCKING) == [] and _failures(paths, WAITING) == []
    # incidents that happened before the police feed's first month are counted, not hidden:
    # every numerator record dated before the first period the indicator publishes
    reported = {row[0]: row[1] for row in _failures(paths, REPORTED)}
    unpublished = demo_build.query(
        "WITH first AS (SELECT v.indicator_id, min(p.start_date) AS first_start "
        "FROM marts.fct_indicator_values v JOIN intermediate.int_periods p USING (period_id) "
        "GROUP BY 1) "
        "SELECT t.indicator_id, sum(t.records) FROM intermediate.int_indicator_terms t "
        "JOIN intermediate.int_periods p USING (period_id) JOIN first USING (indicator_id) "
        "WHERE t.term = 'numerator' AND p.start_date < first.first_start GROUP BY 1"
    )
    assert reported == dict(unpublished)
    assert reported["property_crime_rate"] > 0  # registered in January, happened in December


def test_an_empty_indicator_fails_the_build_and_says_why(demo_build, tmp_path):
    paths = demo_build.copy_to(tmp_path)
    con = duckdb.connect(str(paths.warehouse))
    try:
        # a snapshot feed's records feeding a monthly indicator: no period of the calendar
        con.execute(
            "INSERT INTO intermediate.int_indicator_terms "
            "(indicator_id, term, area_code, period_id, amount, records) "
            "VALUES ('violent_crime_rate', 'numerator', NULL, 'snapshot', 7, 7)"
        )
        # a month whose denominator went missing everywhere: every value empty, no reason
        con.execute(
            "UPDATE marts.fct_indicator_values SET value = NULL, denominator = NULL, "
            "suppressed = false WHERE indicator_id = 'property_crime_rate' "
            "AND period_id = '2024-03'"
        )
    finally:
        con.close()
    code, out = _dbt_test(paths, tmp_path)
    assert code != 0 and "ERROR=1" in out and "WARN=2" in out, out[-3000:]
    # the configuration: blocking
    blocked = {(row[0], row[1]): row[3] for row in _failures(paths, BLOCKING)}
    assert list(blocked) == [("violent_crime_rate", "snapshot")]
    assert blocked[("violent_crime_rate", "snapshot")].startswith(
        "period snapshot is not a month of the calendar"
    )
    # data not delivered: said, per indicator and period, without blocking the rest
    waiting = {(row[0], row[1]): row[3] for row in _failures(paths, WAITING)}
    assert waiting == {
        ("property_crime_rate", "2024-03"): (
            "no denominator delivered for this period or before it, at any area"
        )
    }
