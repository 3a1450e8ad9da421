"""Series as they are drawn: one scale per chart, and gaps kept as gaps
(docs/method.md, "Gaps are gaps").

A period without a published value (a missing or rejected delivery, a suppressed cell, a
12-month window that is not complete) is a gap: lines and bands break there and are never
drawn across it, and no other scale (single months for a missing 12-month value) fills in.
Pure pandas, no Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# indicators published monthly or quarterly are read over a rolling 12-month window
ROLLING_CADENCES = ("month", "quarter")


@dataclass(frozen=True)
class Scale:
    """The columns a chart or table reads, and whether they are the rolling 12 months."""

    value: str
    lower: str
    upper: str
    rolling: bool


def scale_of(cadence: str) -> Scale:
    """One scale per indicator, the one its overview card and progress use: the rolling
    12 months for monthly and quarterly indicators, the period itself otherwise."""
    if cadence in ROLLING_CADENCES:
        return Scale("rolling_12m_value", "rolling_12m_lower_95", "rolling_12m_upper_95", True)
    return Scale("value", "lower_95", "upper_95", False)


def complete(series: pd.DataFrame, calendar: pd.DataFrame) -> pd.DataFrame:
    """``series`` (rows with ``period_id`` and ``start_date``) with a row for every period of
    ``calendar`` between its first and last period, so that a period with no row at all
    shows as a gap instead of being bridged."""
    if series.empty:
        return series
    first, last = series["start_date"].min(), series["start_date"].max()
    span = calendar[(calendar["start_date"] >= first) & (calendar["start_date"] <= last)]
    missing = span[~span["period_id"].isin(series["period_id"])]
    if missing.empty:
        return series.reset_index(drop=True)
    return (
        pd.concat([series, missing[["period_id", "start_date"]]], ignore_index=True)
        .sort_values("start_date", kind="stable")
        .reset_index(drop=True)
    )


def runs(series: pd.DataFrame, column: str) -> list[pd.DataFrame]:
    """The unbroken stretches of ``column``: consecutive rows that all have a value."""
    present = series[column].notna()
    run_id = (present != present.shift()).cumsum()
    return [part for _, part in series[present].groupby(run_id[present], sort=True)]


def gaps(series: pd.DataFrame, column: str) -> list[tuple[str, str]]:
    """First and last period of every stretch without a value between two values."""
    present = series[column].notna()
    if not present.any():
        return []
    inside = series.loc[present.idxmax() : present[::-1].idxmax()]
    empty = inside[inside[column].isna()]
    if empty.empty:
        return []
    run_id = (inside[column].notna() != inside[column].notna().shift()).cumsum()
    return [
        (part["period_id"].iloc[0], part["period_id"].iloc[-1])
        for _, part in empty.groupby(run_id[empty.index], sort=True)
    ]


def latest_run(series: pd.DataFrame, column: str, limit: int = 36) -> list[float]:
    """The values of the latest unbroken stretch (at most ``limit``): a sparkline that
    neither bridges a gap nor mixes scales."""
    stretches = runs(series, column)
    if not stretches:
        return []
    return [float(v) for v in stretches[-1][column].tail(limit)]
