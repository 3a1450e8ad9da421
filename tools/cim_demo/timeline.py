"""Calendar arithmetic, random streams and delivery moments.

Months are handled as integer ordinals so that numpy can do the date work for millions of
incidents: an ordinal is the runtime's month index (``cim.periods.period_index``, months
since year 0), and every period label, first and last day comes from ``cim.periods``, the
one home of the period calendar, so the demo writes periods exactly as the platform reads
them. Delivery moments are computed in the city's own time zone and never from the wall
clock, which keeps generated mtimes reproducible.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from cim.periods import label, period_at, period_end, period_index, period_of, period_start


def month_ordinal(value: str | date) -> int:
    """The ordinal of a month label (``2024-03``), or of the month containing a day
    (``2024-03-15`` or a date)."""
    if not isinstance(value, date):
        text = str(value)
        index = period_index(text, "month")
        if index is not None:
            return index
        value = date.fromisoformat(text)
    return period_index(period_of(value, "month"), "month")


def ordinal_year_month(ordinal: int) -> tuple[int, int]:
    year, month = divmod(ordinal, 12)
    return year, month + 1


def month_start(ordinal: int) -> date:
    return period_start(period_at(ordinal, "month"), "month")


def month_end(ordinal: int) -> date:
    return period_end(period_at(ordinal, "month"), "month") - timedelta(days=1)


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


def _period(grain: str, year: int, part: int, fields: dict[str, Any]) -> Period:
    """A calendar period as the contracts write it; ``end`` is its last day."""
    name = label(grain, year, part)
    return Period(
        name,
        period_start(name, grain),
        period_end(name, grain) - timedelta(days=1),
        fields,
        period_index(name, grain),
    )


def month_period(ordinal: int) -> Period:
    year, month = ordinal_year_month(ordinal)
    return _period("month", year, month, {"year": year, "month": month})


def quarter_period(year: int, quarter: int) -> Period:
    return _period("quarter", year, quarter, {"year": year, "quarter": quarter})


def year_period(year: int) -> Period:
    return _period("year", year, 1, {"year": year})


def school_year_period(year: int) -> Period:
    """School years run September to August and are labelled like the contracts: 2020/21."""
    return _period("school_year", year, 1, {"year": year, "year_end": year + 1})


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
