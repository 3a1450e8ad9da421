"""Reporting rates that tell the truth, and a health page that reads at a glance.

The rates are judged on a later day than the demo's own: the demo warehouse, copied, is
rebuilt by dbt for fct_feed_health and fct_partner_health as of 2026-12-07. On that day
the education partner's only open delivery (school year 2025/26) is still in its grace
period, and youth work's 2025-07 delivery has been missing for well over a year.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import duckdb
import pytest
from cim.defs.dbt.project import DBT_DIR, DBT_EXECUTABLE
from cim.health.report import health_report

LATER = "2026-12-07"


@pytest.fixture(scope="module")
def judged_later(demo_build, tmp_path_factory):
    """A copy of the demo warehouse whose feed and partner health dbt rebuilt on LATER."""
    folder = tmp_path_factory.mktemp("later")
    warehouse = folder / "warehouse.duckdb"
    shutil.copyfile(demo_build.paths.warehouse, warehouse)
    command = [
        DBT_EXECUTABLE,
        *("build", "--select", "fct_feed_health", "fct_partner_health"),
        *("--vars", json.dumps({"as_of": LATER})),
        *("--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)),
        *("--target-path", str(folder / "target")),
    ]
    env = os.environ | {"CIM_WAREHOUSE": str(warehouse)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


def _status(con, feed: str, period: str) -> tuple:
    return con.execute(
        "SELECT delivery_status, received, days_late FROM marts.fct_feed_health "
        "WHERE feed_id = ? AND period_id = ?",
        [feed, period],
    ).fetchone()


def _rate(con, feed: str | None, partner: str) -> tuple:
    return con.execute(
        "SELECT deliveries_expected, deliveries_received, reporting_rate, on_time_rate, "
        "deliveries_missing FROM marts.fct_partner_health "
        "WHERE partner_id = ? AND feed_id IS NOT DISTINCT FROM ?",
        [partner, feed],
    ).fetchone()


def test_a_delivery_still_in_its_grace_period_is_not_counted_against_the_partner(
    judged_later,
):
    # the situation of the report: the partner's only open delivery is not overdue yet
    status, received, _ = _status(judged_later, "early_school_leavers", "2025/26")
    assert (status, received) == ("in grace", False)
    others = judged_later.execute(
        "SELECT count(*) FROM marts.fct_feed_health WHERE partner_id = 'education' "
        "AND delivery_status NOT IN ('on time', 'not yet due', 'in grace')"
    ).fetchone()
    assert others == (0,)
    for feed in ("early_school_leavers", None):
        expected, received_n, rate, on_time, missing = _rate(judged_later, feed, "education")
        assert (rate, on_time, missing) == (1.0, 1.0, 0), feed  # not 5/6 = 83%
        assert expected == received_n


def test_a_delivery_missing_for_over_a_year_counts_against_the_partner(judged_later):
    status, received, days = _status(judged_later, "youth_participation", "2025-07")
    assert (status, received) == ("missing", False) and days > 365
    # older than the last 12 deliveries owed: it used to age out of the window
    newer = judged_later.execute(
        "SELECT count(*) FROM marts.fct_feed_health WHERE feed_id = 'youth_participation' "
        "AND received AND due_date > (SELECT due_date FROM marts.fct_feed_health "
        "WHERE feed_id = 'youth_participation' AND period_id = '2025-07')"
    ).fetchone()[0]
    assert newer >= 12
    for feed in ("youth_participation", None):
        expected, received_n, rate, on_time, missing = _rate(judged_later, feed, "youth_work")
        assert missing == 1 and received_n == expected - 1, feed
        assert rate == pytest.approx((expected - 1) / expected) and rate < 1, feed
        assert on_time <= rate


def _report_rows(report: str) -> list[tuple[str, float, float]]:
    """(feed, reporting rate, on-time rate) of each row of the report's table."""
    rows = []
    for line in report.splitlines()[2:]:
        if not line.strip():
            break
        found = re.search(r"(\d+)%\s+(\d+)%\s+\d+$", line)
        assert found, line
        rows.append((line.split()[0], int(found[1]), int(found[2])))
    return rows


@pytest.mark.parametrize("day", ["demo", "later"])
def test_cim_health_ranks_the_lowest_rates_first(day, demo_build, judged_later):
    if day == "demo":
        con = duckdb.connect(str(demo_build.paths.warehouse), read_only=True)
        report = health_report(con)
        con.close()
    else:
        report = health_report(judged_later)
    rows = _report_rows(report)
    assert len(rows) == 7  # every feed of the demo
    rates = [(reporting, on_time) for _, reporting, on_time in rows]
    assert rates == sorted(rates), report
    # the feeds with a delivery still missing or rejected are the worst, below 100%
    assert {feed for feed, *_ in rows[:2]} == {"housing_complaints", "youth_participation"}
    assert all(r < 100 for _, r, _ in rows[:2]), report
    assert (rows[-1][1], rows[-1][2]) == (100, 100)


def test_cim_health_never_lists_a_received_file_as_one_to_chase(judged_later):
    report = health_report(judged_later)
    heading = "Deliveries to chase (missing and rejected first):"
    lines = report.splitlines()
    chase = lines[lines.index(heading) + 1 :]
    chase = chase[: chase.index("")] if "" in chase else chase
    received = {
        f"{feed} {period}:"
        for feed, period in judged_later.execute(
            "SELECT feed_id, period_id FROM marts.fct_feed_health WHERE received"
        ).fetchall()
    }
    assert len(chase) >= 2
    for line in chase:
        feed, period = line.split()[:2]
        assert f"{feed} {period}" not in received, line
        assert "late," not in line
    # the late file is reported as received, with its date
    assert any(
        line.strip().startswith("police_incidents 2025-02: received 2025-")
        for line in lines[lines.index("Received after the grace period (nothing to chase):") :]
    )
