"""One period calendar: the Python periods (ingestion, quality) equal dbt's int_periods."""

from __future__ import annotations

import datetime as dt

import pytest
from cim.quality.periods import period_end, period_index, period_of, period_start

pytestmark = pytest.mark.slow


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
