"""The long panel every impact estimate starts from, and its validation.

One row per area and period: ``area``, ``period``, ``treated`` (the area receives the
action), ``post`` (the period is after the action started there), and either
``numerator`` + ``denominator`` (a rate weighted by its denominator) or ``value`` with an
optional ``weight``. Periods only need to sort in time order (``2024-03``, ``2024-Q1``,
``2024``, integers or dates all do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cim.impact.twfe import Panel

_TRUE = {"1", "true", "t", "yes", "y", "1.0"}
_FALSE = {"0", "false", "f", "no", "n", "0.0"}


class PanelError(ValueError):
    """A panel that cannot be estimated; the message names the column or row."""


@dataclass(frozen=True)
class LongPanel:
    frame: pd.DataFrame  # area, period, treated, post, y, w (+ numerator when counts)
    areas: list[str]
    periods: list

    @property
    def codes(self) -> Panel:
        return Panel(
            area=self.frame["area_code"].to_numpy(),
            period=self.frame["period_code"].to_numpy(),
            y=self.frame["y"].to_numpy(dtype=float),
            w=self.frame["w"].to_numpy(dtype=float),
        )

    @property
    def treated_areas(self) -> list[str]:
        return sorted(self.frame.loc[self.frame["treated"], "area"].unique().tolist())

    @property
    def comparison_areas(self) -> list[str]:
        return sorted(self.frame.loc[~self.frame["treated"], "area"].unique().tolist())


def _flag(series: pd.Series, column: str) -> pd.Series:
    text = series.astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise PanelError(
            f"column {column!r}, row {row + 1}: {series.iloc[row]!r} is not 0/1 or true/false"
        )
    return text.isin(_TRUE)


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna() & (frame[column].astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise PanelError(
            f"column {column!r}, row {row + 1}: {frame[column].iloc[row]!r} is not a number"
        )
    return values.astype(float)


def long_panel(data: pd.DataFrame, multiplier: float = 1.0) -> LongPanel:
    """Validate a long panel and derive the outcome ``y`` and weight ``w``.

    Rows without an outcome (a missing delivery) or with a zero denominator are left out:
    the fixed-effects fit takes unbalanced panels."""
    missing = [c for c in ("area", "period", "treated", "post") if c not in data.columns]
    if missing:
        raise PanelError(f"the panel lacks column(s) {missing}; see docs/impact.md for the layout")
    frame = pd.DataFrame({"area": data["area"].astype(str), "period": data["period"]})
    frame["treated"] = _flag(data["treated"], "treated")
    frame["post"] = _flag(data["post"], "post")
    if {"numerator", "denominator"} <= set(data.columns):
        frame["numerator"] = _numeric(data, "numerator")
        frame["w"] = _numeric(data, "denominator")
        frame["y"] = frame["numerator"] / frame["w"].where(frame["w"] > 0) * multiplier
    elif "value" in data.columns:
        frame["y"] = _numeric(data, "value")
        frame["w"] = _numeric(data, "weight") if "weight" in data.columns else 1.0
    else:
        raise PanelError("the panel needs numerator and denominator columns, or a value column")
    if (frame["w"] < 0).any():
        row = int(np.flatnonzero((frame["w"] < 0).to_numpy())[0])
        raise PanelError(f"row {row + 1}: negative denominator or weight {frame['w'].iloc[row]}")
    if frame["period"].isna().any():
        row = int(np.flatnonzero(frame["period"].isna().to_numpy())[0])
        raise PanelError(f"column 'period', row {row + 1}: empty")
    frame = frame[frame["y"].notna() & (frame["w"] > 0)].reset_index(drop=True)
    if frame.empty:
        raise PanelError("no row has an outcome and a positive denominator or weight")
    twice = frame.duplicated(["area", "period"])
    if twice.any():
        row = frame[twice].iloc[0]
        raise PanelError(f"area {row['area']!r}, period {row['period']!r} appears twice")
    mixed = frame.groupby("area")["treated"].nunique()
    if (mixed > 1).any():
        raise PanelError(f"area {mixed[mixed > 1].index[0]!r} is treated in some rows only")
    untreated_post = frame["post"] & ~frame["treated"]
    frame.loc[untreated_post, "post"] = False  # post only matters where the action is
    areas = sorted(frame["area"].unique().tolist())
    periods = sorted(frame["period"].unique().tolist())
    frame["area_code"] = frame["area"].map({a: i for i, a in enumerate(areas)})
    frame["period_code"] = frame["period"].map({p: i for i, p in enumerate(periods)})
    return LongPanel(frame=frame, areas=areas, periods=periods)


def first_post(panel: LongPanel) -> pd.Series:
    """Index of each treated area's first post period (areas never post are absent)."""
    post = panel.frame[panel.frame["post"]]
    return post.groupby("area")["period_code"].min()
