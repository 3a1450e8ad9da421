"""Delivery periods as the contracts write them, turned into comparable numbers and dates.

A period string sorts correctly only within its grain, and GX compares numbers or dates,
not strings: so a period becomes an index (months since year 0, quarters since year 0,
the year, or the first calendar year of a school year) and the range checks compare those.
"""

from __future__ import annotations

import datetime as dt
import re

_PATTERNS = {
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
    "year": re.compile(r"^(\d{4})$"),
    "school_year": re.compile(r"^(\d{4})/\d{2}$"),
}


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
    if grain == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if grain == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    if grain == "year":
        return f"{day.year:04d}"
    if grain == "school_year":
        first = day.year if day.month >= 9 else day.year - 1
        return f"{first:04d}/{(first + 1) % 100:02d}"
    return None


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
