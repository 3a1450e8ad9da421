"""Calendar arithmetic, random streams and delivery moments.

Months are handled as integer ordinals (``year * 12 + month - 1``) so that numpy can do the
date work for millions of incidents. Delivery moments are computed in the city's own time
zone and never from the wall clock, which keeps generated mtimes reproducible.
"""

from __future__ import annotations

import calendar
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np


def month_ordinal(label: str) -> int:
    year, month = str(label).split("-")[:2]
    return int(year) * 12 + int(month) - 1


def ordinal_year_month(ordinal: int) -> tuple[int, int]:
    return ordinal // 12, ordinal % 12 + 1


def month_start(ordinal: int) -> date:
    year, month = ordinal_year_month(ordinal)
    return date(year, month, 1)


def month_end(ordinal: int) -> date:
    year, month = ordinal_year_month(ordinal)
    return date(year, month, calendar.monthrange(year, month)[1])


def stream_key(name: str) -> int:
    """A stable integer per feed/topic name: random streams keyed on it stay the same when
    feeds are added, removed or reordered in demo.yaml (unlike a positional index)."""
    return zlib.crc32(name.encode("utf-8"))


def rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


@dataclass(frozen=True)
class Period:
    """One delivery period of a feed: its label as used in demo.yaml and the manifest,
    its first and last day, the fields for the file-name template, and a stream key."""

    label: str
    start: date
    end: date
    fields: dict[str, Any]
    key: int


def month_period(ordinal: int) -> Period:
    year, month = ordinal_year_month(ordinal)
    return Period(
        f"{year}-{month:02d}",
        month_start(ordinal),
        month_end(ordinal),
        {"year": year, "month": month},
        ordinal,
    )


def quarter_period(year: int, quarter: int) -> Period:
    first = year * 12 + (quarter - 1) * 3
    return Period(
        f"{year}-Q{quarter}",
        month_start(first),
        month_end(first + 2),
        {"year": year, "quarter": quarter},
        year * 4 + quarter - 1,
    )


def year_period(year: int) -> Period:
    return Period(str(year), date(year, 1, 1), date(year, 12, 31), {"year": year}, year)


def school_year_period(year: int) -> Period:
    """School years run September to August and are labelled like the contracts: 2020/21."""
    return Period(
        f"{year}/{(year + 1) % 100:02d}",
        date(year, 9, 1),
        date(year + 1, 8, 31),
        {"year": year, "year_end": year + 1},
        year,
    )


def quarters_within(first_month: int, last_month: int) -> list[Period]:
    """Only quarters that end inside the demo period are ever delivered."""
    out = []
    for ordinal in range(first_month, last_month + 1):
        if ordinal % 3 == 2 and ordinal - 2 >= first_month:
            year, month = ordinal_year_month(ordinal)
            out.append(quarter_period(year, month // 3))
    return out


def due_date(contract: dict[str, Any], period: Period) -> date | None:
    """Contract SLA: due = period end (last day) + due_days, or period start + due_days
    when the contract says ``due_from: period_start``. Snapshot feeds have no due date."""
    sla = contract.get("sla") or {}
    if "due_days" not in sla:
        return None
    base = period.start if sla.get("due_from") == "period_start" else period.end
    return base + timedelta(days=int(sla["due_days"]))


def office_moment(
    day: date, generator: np.random.Generator, hours: list[int], tz: ZoneInfo
) -> datetime:
    hour = int(generator.integers(hours[0], hours[1]))
    minute = int(generator.integers(0, 60))
    second = int(generator.integers(0, 60))
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=tz)
