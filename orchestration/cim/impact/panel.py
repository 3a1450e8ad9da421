"""The long panel every impact estimate starts from, and its validation.

One row per area and period: ``area``, ``period``, ``treated`` (the area receives the
action), ``post`` (the period is after the action started there), or instead of these two
``treatment`` (1 in the rows where the action is in effect), and either ``numerator`` +
``denominator`` (a rate weighted by its denominator) or ``value`` with an optional
``weight``. Periods only need to sort in time order (``2024-03``, ``2024-Q1``, ``2024``,
integers or dates all do); written as text, numbers sort as numbers.

Values may come as text (``cim.impact.reading`` reads every cell as text), so this is
where they are judged: a bad one is a ``PanelError`` naming its column and row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cim.impact.twfe import Panel

_TRUE = {"1", "true", "t", "yes", "y", "1.0"}
_FALSE = {"0", "false", "f", "no", "n", "0.0"}
# an outcome written like this is missing: the row is left out and counted
_MISSING = {"", "na", "n/a", "nan", ".", "-", "null", "none", "#n/a"}
_NO_CODE = {"", "na", "n/a", "nan", "nat", "null", "none", "#n/a"}
_NUMBER = r"[+-]?\d+(?:\.\d*)?"

NO_OUTCOME = "no outcome (empty or n/a)"
NO_DENOMINATOR = "no denominator (empty or n/a)"
NO_WEIGHT = "no weight (empty or n/a)"
ZERO_DENOMINATOR = "zero denominator"
ZERO_WEIGHT = "zero weight"
LONE_PERIOD = "period only one area has"


class PanelError(ValueError):
    """A panel that cannot be estimated; the message names the column or row."""


@dataclass(frozen=True)
class LongPanel:
    frame: pd.DataFrame  # area, period, treated, post, y, w (+ numerator when counts)
    areas: list[str]
    periods: list
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows left out

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


def plain(value):
    """A value as plain Python for a message: 1970, not ``np.int64(1970)``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return value


def show(value) -> str:
    return repr(plain(value))


def _line(row: int) -> str:
    """Where a 0-based data row is in its CSV file: the header is line 1."""
    return f" (CSV line {row + 2}: data row {row + 1} + 1 for the header)"


def _first(mask) -> int:
    return int(np.flatnonzero(np.asarray(mask, dtype=bool))[0])


def _one_text(v) -> str:
    return "" if v is None or v is pd.NA or v != v else str(plain(v)).strip()


def _same_key(series: pd.Series):
    """Keys equal exactly where the values' text is equal, or None: text, integers and
    flags as they are, floats by their bits (-0.0 is not 0.0); mixed objects have none
    (1, 1.0 and True are equal keys but different text)."""
    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype):
        return series
    if dtype is np.dtype(object):
        return series if pd.api.types.infer_dtype(series, skipna=False) == "string" else None
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":
        return series.to_numpy()
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy()
        return values.view(f"i{values.itemsize}")
    return None


def _text(series: pd.Series) -> pd.Series:
    """Every value as stripped text; a missing one as ''. Each distinct value is written
    once: a long panel repeats its areas, periods and flags."""
    values = series.astype(object)
    key = _same_key(series)
    if key is None:
        return values.map(_one_text)
    codes, _ = pd.factorize(key, use_na_sentinel=False)
    _, firsts = np.unique(codes, return_index=True)
    text = values.iloc[firsts].map(_one_text).take(codes)
    text.index = series.index
    return text


def _flag(series: pd.Series, column: str) -> pd.Series:
    text = _text(series).str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        row = _first(bad)
        raise PanelError(
            f"column {column!r}, row {row + 1}: {show(series.iloc[row])} is not 0/1 or "
            f"true/false{_line(row)}"
        )
    return text.isin(_TRUE).reset_index(drop=True)


def _numeric(data: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """The column's numbers, and where they are missing (empty, n/a, NA, NaN, '.', '-');
    other text is an error, and so is an infinite value."""
    series = data[column].reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.astype(float)
        missing = values.isna()
    else:
        text = _text(series)
        missing = text.str.lower().isin(_MISSING)
        values = pd.to_numeric(text.where(~missing), errors="coerce").astype(float)
        bad = values.isna() & ~missing
        if bad.any():
            row = _first(bad)
            raise PanelError(
                f"column {column!r}, row {row + 1}: {show(series.iloc[row])} is not a number"
                f"{_line(row)}"
            )
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        row = _first(infinite)
        raise PanelError(
            f"column {column!r}, row {row + 1}: {show(series.iloc[row])} is infinite; give a "
            f"finite number, or leave the cell empty when it is missing{_line(row)}"
        )
    return values, missing


def _codes(data: pd.DataFrame) -> pd.Series:
    area = _text(data["area"])
    missing = area.str.lower().isin(_NO_CODE)
    if missing.any():
        row = _first(missing)
        raise PanelError(
            f"column 'area', row {row + 1}: the area code is missing "
            f"({show(data['area'].iloc[row])}); every row needs one{_line(row)}"
        )
    return area


def _periods(series: pd.Series) -> pd.Series:
    """The periods as values that sort in time order: numbers (also written as text) as
    numbers, dates as dates, other text as text when every period is written the same way
    (``2024-03`` and ``2024-10``, not ``2024-3``)."""
    series = series.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(series):
        missing = series.isna()
        kind = "date"
    elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        missing = series.isna()
        kind = "number"
    else:
        text = _text(series)
        missing = text.str.lower().isin(_NO_CODE)
        kind = None
    if missing.any():
        row = _first(missing)
        raise PanelError(
            f"column 'period', row {row + 1}: the period is missing ({show(series.iloc[row])})"
            f"{_line(row)}"
        )
    if kind == "date":
        return series
    if kind is None:
        number = text.str.fullmatch(_NUMBER)
        if number.all():
            series, kind = pd.to_numeric(text), "number"
        elif number.any():
            a, b = _first(number), _first(~number)
            raise PanelError(
                f"column 'period' mixes numbers and text: {show(series.iloc[a])} (row {a + 1}) "
                f"and {show(series.iloc[b])} (row {b + 1}) do not sort in time order; write "
                "every period the same way"
            )
    if kind == "number":
        values = series.astype(float)
        if np.isinf(values.to_numpy()).any():
            row = _first(np.isinf(values.to_numpy()))
            raise PanelError(f"column 'period', row {row + 1}: the period is infinite{_line(row)}")
        whole = (values == values.round()).all() and values.abs().max() < 2**53
        return values.astype("int64") if whole else values
    if pd.Series(text.unique()).str.replace(r"\d", "9", regex=True).nunique() > 1:
        shape = text.str.replace(r"\d", "9", regex=True)
        a = 0
        b = _first(shape != shape.iloc[0])
        raise PanelError(
            f"column 'period' writes periods in more than one way: {show(text.iloc[a])} "
            f"(row {a + 1}) and {show(text.iloc[b])} (row {b + 1}) do not sort in time order "
            "as text; write them all the same way (2024-03 and 2024-10, not 2024-3; 2024-01 "
            "for a month, not 2024 next to 2024-01)"
        )
    return text


def _stops(frame: pd.DataFrame) -> None:
    """``treatment`` must stay 1 once it is 1 in an area."""
    order = frame.sort_values(["area", "period"], kind="stable")
    started = order.groupby("area")["post"].cummax()
    stop = started & ~order["post"]
    if stop.any():
        row = order[stop].iloc[0]
        start = order[(order["area"] == row["area"]) & order["post"]]["period"].iloc[0]
        raise PanelError(
            f"area {show(row['area'])}: treatment is 1 from period {show(start)} but 0 again "
            f"in period {show(row['period'])}: an action that stops is not supported by the "
            "treatment layout; give treated and post columns instead (post 1 from the start "
            "on, also after the stop)"
        )


def long_panel(data: pd.DataFrame, multiplier: float = 1.0) -> LongPanel:
    """Validate a long panel and derive the outcome ``y`` and weight ``w``.

    Rows without an outcome (a missing delivery), with a zero denominator or in a period
    only one area has are left out and counted in ``dropped``: the fixed-effects fit takes
    unbalanced panels. A value that cannot be right (text in a number, an infinite value,
    an area without a code, periods that do not sort) is a ``PanelError``."""
    layout = ["treatment"] if "treatment" in data.columns else ["treated", "post"]
    missing = [c for c in ("area", "period", *layout) if c not in data.columns]
    if missing:
        raise PanelError(f"the panel lacks column(s) {missing}; see docs/impact.md for the layout")
    if "treatment" in data.columns and {"treated", "post"} & set(data.columns):
        raise PanelError(
            "the panel has a treatment column and treated/post columns: give one layout "
            "(--treatment, or --treated and --post)"
        )
    if data.empty:
        raise PanelError("the panel has no rows")
    data = data.reset_index(drop=True)  # row n is the n-th data row
    frame = pd.DataFrame({"area": _codes(data), "period": _periods(data["period"])})
    if "treatment" in data.columns:
        frame["post"] = _flag(data["treatment"], "treatment")
        frame["treated"] = frame.groupby("area")["post"].transform("any").astype(bool)
    else:
        frame["treated"] = _flag(data["treated"], "treated")
        frame["post"] = _flag(data["post"], "post")
    twice = frame.duplicated(["area", "period"])
    if twice.any():
        row = frame[twice].iloc[0]
        raise PanelError(
            f"area {show(row['area'])}, period {show(row['period'])} appears twice"
            f"{_line(_first(twice))}"
        )
    mixed = frame.groupby("area")["treated"].nunique()
    if (mixed > 1).any():
        raise PanelError(f"area {show(mixed[mixed > 1].index[0])} is treated in some rows only")
    if "treatment" in data.columns:
        _stops(frame)
    if not frame["treated"].any():
        raise PanelError("no area is treated: the treated (or treatment) column is 0 everywhere")
    if (frame["treated"] & frame["post"]).all():
        raise PanelError(
            "no untreated observation: every row is treated and after the start (treatment, "
            "or treated and post, 1 everywhere); there is nothing to compare with"
        )
    reasons = pd.Series(None, index=frame.index, dtype=object)

    def leave_out(mask, reason: str) -> None:
        reasons[np.asarray(mask, dtype=bool) & reasons.isna().to_numpy()] = reason

    if {"numerator", "denominator"} <= set(data.columns):
        numerator, no_numerator = _numeric(data, "numerator")
        w, no_w = _numeric(data, "denominator")
        leave_out(no_numerator, NO_OUTCOME)
        leave_out(no_w, NO_DENOMINATOR)
        leave_out(w == 0, ZERO_DENOMINATOR)
        frame["numerator"] = numerator
        frame["w"] = w
        frame["y"] = numerator / w.where(w > 0) * multiplier
    elif "value" in data.columns:
        frame["y"], no_value = _numeric(data, "value")
        leave_out(no_value, NO_OUTCOME)
        if "weight" in data.columns:
            frame["w"], no_w = _numeric(data, "weight")
            leave_out(no_w, NO_WEIGHT)
            leave_out(frame["w"] == 0, ZERO_WEIGHT)
        else:
            frame["w"] = 1.0
    else:
        raise PanelError("the panel needs numerator and denominator columns, or a value column")
    if (frame["w"] < 0).any():
        row = _first(frame["w"] < 0)
        raise PanelError(
            f"row {row + 1}: negative denominator or weight {show(frame['w'].iloc[row])}"
            f"{_line(row)}"
        )
    kept = reasons.isna()
    if kept.any() and frame.loc[kept, "area"].nunique() > 1:
        areas_per_period = frame[kept].groupby("period")["area"].nunique()
        lone = areas_per_period.index[areas_per_period == 1]
        leave_out(kept & frame["period"].isin(lone), LONE_PERIOD)
    counts = reasons.value_counts()
    order = [NO_OUTCOME, NO_DENOMINATOR, NO_WEIGHT, ZERO_DENOMINATOR, ZERO_WEIGHT, LONE_PERIOD]
    dropped = {reason: int(counts[reason]) for reason in order if reason in counts.index}
    frame = frame[reasons.isna().to_numpy()].reset_index(drop=True)
    if frame.empty:
        raise PanelError("no row has an outcome and a positive denominator or weight")
    untreated_post = frame["post"] & ~frame["treated"]
    frame.loc[untreated_post, "post"] = False  # post only matters where the action is
    areas = sorted(frame["area"].unique().tolist())
    periods = sorted(plain(p) for p in frame["period"].unique())
    frame["area_code"] = frame["area"].map({a: i for i, a in enumerate(areas)})
    frame["period_code"] = frame["period"].map({p: i for i, p in enumerate(periods)})
    return LongPanel(frame=frame, areas=areas, periods=periods, dropped=dropped)


def first_post(panel: LongPanel) -> pd.Series:
    """Index of each treated area's first post period (areas never post are absent)."""
    post = panel.frame[panel.frame["post"]]
    return post.groupby("area")["period_code"].min()
