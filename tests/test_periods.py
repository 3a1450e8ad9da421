"""One period calendar: the Python periods (ingestion, quality) equal dbt's int_periods."""

from __future__ import annotations

import datetime as dt

import pytest
from cim.periods import label, period_at, period_end, period_index, period_of, period_start


@pytest.mark.parametrize(
    ("grain", "year", "part", "expected"),
    [
        ("month", 2024, 3, "2024-03"),
        ("month", 2024, 13, None),
        ("quarter", 2024, 4, "2024-Q4"),
        ("quarter", 2024, 5, None),
        ("year", 2024, 1, "2024"),
        ("school_year", 1999, 1, "1999/00"),
        ("snapshot", 2024, 1, None),
    ],
)
def test_label_writes_periods_as_the_contracts_do(grain, year, part, expected):
    assert label(grain, year, part) == expected


@pytest.mark.parametrize("grain", ["month", "quarter", "year", "school_year"])
def test_period_at_inverts_period_index(grain):
    for day in (dt.date(1999, 12, 31), dt.date(2000, 1, 1), dt.date(2024, 9, 1)):
        period = period_of(day, grain)
        assert period_at(period_index(period, grain), grain) == period


@pytest.mark.slow
def test_python_periods_equal_the_marts_period_calendar(demo_build):
    rows = demo_build.query(
        "SELECT period_type, period_id, start_date, end_date, period_index "
        "FROM intermediate.int_periods ORDER BY period_type, start_date"
    )
    assert {r[0] for r in rows} == {"month", "quarter", "year", "school_year"}
    first: dict[str, int] = {}
    for grain, period, start, end, order in rows:
        assert period_start(period, grain) == start, (grain, period)
        assert period_end(period, grain) == end + dt.timedelta(days=1), (grain, period)
        assert period_of(start, grain) == period_of(end, grain) == period, (grain, period)
        # both number the periods without gaps and in the same order
        index = period_index(period, grain)
        first.setdefault(grain, index)
        assert order == index - first[grain] + 1, (grain, period)
