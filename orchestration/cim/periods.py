"""Periods: the one Python home of the period calendar.

A period is written as the contracts write it: month ``2024-03``, quarter ``2024-Q1``,
year ``2024``, school year ``2023/24`` (September to August). A period string sorts
correctly only within its grain, and checks compare numbers or dates, not strings: so a
period also becomes an index (months since year 0, quarters since year 0, the year, or the
first calendar year of a school year), and a first day and a day after.

dbt's twin is ``dbt_project/macros/periods.sql`` (``period_of``), from which
``int_periods`` builds the calendar; tests/test_periods.py pins the two equal.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

Grain = Literal["month", "quarter", "year", "school_year", "snapshot"]

_PATTERNS = {
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
    "year": re.compile(r"^(\d{4})$"),
    "school_year": re.compile(r"^(\d{4})/\d{2}$"),
}
# How many parts of a year each grain has (school years and years: one).
_PARTS = {"month": 12, "quarter": 4, "year": 1, "school_year": 1}


def label(grain: str, year: int, part: int = 1) -> str | None:
    """The period of ``grain`` in ``year`` (``part``: month 1-12 or quarter 1-4), as the
    contracts write it; None when ``part`` is out of range or the grain has no calendar."""
    if grain not in _PARTS or not 1 <= part <= _PARTS[grain]:
        return None
    if grain == "month":
        return f"{year:04d}-{part:02d}"
    if grain == "quarter":
        return f"{year:04d}-Q{part}"
    if grain == "school_year":
        return f"{year:04d}/{(year + 1) % 100:02d}"
    return f"{year:04d}"


def period_at(index: int, grain: str) -> str | None:
    """The period whose ``period_index`` is ``index`` (the inverse of ``period_index``)."""
    parts = _PARTS.get(grain)
    if parts is None:
        return None
    year, part = divmod(index, parts)
    return label(grain, year, part + 1)


def period_index(period: str | None, grain: str) -> int | None:
    """A number that grows by one per period of ``grain``; None when it does not parse."""
    pattern = _PATTERNS.get(grain)
    match = pattern.match(period or "") if pattern else None
    if not match:
        return None
    year = int(match[1])
    if grain == "month":
        return year * 12 + int(match[2]) - 1
    if grain == "quarter":
        return year * 4 + int(match[2]) - 1
    return year


def period_of(day: dt.date, grain: str) -> str | None:
    """The period of ``grain`` that contains ``day`` (school years run September-August)."""
    if grain == "school_year":
        return label(grain, day.year if day.month >= 9 else day.year - 1)
    part = {"month": day.month, "quarter": (day.month - 1) // 3 + 1}.get(grain, 1)
    return label(grain, day.year, part)


def period_start(period: str | None, grain: str) -> dt.date | None:
    """First day of a period, or None when it does not parse."""
    index = period_index(period, grain)
    if index is None:
        return None
    if grain == "month":
        return dt.date(index // 12, index % 12 + 1, 1)
    if grain == "quarter":
        return dt.date(index // 4, (index % 4) * 3 + 1, 1)
    if grain == "school_year":
        return dt.date(index, 9, 1)
    return dt.date(index, 1, 1)


def period_end(period: str | None, grain: str) -> dt.date | None:
    """First day after a period, or None when it does not parse."""
    index = period_index(period, grain)
    if index is None:
        return None
    if grain == "month":
        return dt.date((index + 1) // 12, (index + 1) % 12 + 1, 1)
    if grain == "quarter":
        return dt.date((index + 1) // 4, ((index + 1) % 4) * 3 + 1, 1)
    if grain == "school_year":
        return dt.date(index + 1, 9, 1)
    return dt.date(index + 1, 1, 1)


def shift(day: dt.date, amount: int, unit: str) -> dt.date:
    """``day`` moved by ``amount`` days (d), months (m) or years (y); clamps 29-31 Feb."""
    if unit == "d":
        return day + dt.timedelta(days=amount)
    months = amount * (12 if unit == "y" else 1)
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month + 1, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(f"cannot shift {day} by {amount}{unit}")
