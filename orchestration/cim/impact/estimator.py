"""Impact of an action on one indicator: before/after, difference-in-differences, event
study, with guard rails and the Maryland Scientific Methods Scale level of the result.

``estimate_impact(panel)`` runs on any long panel (``cim.impact.panel``): the demo city,
another city, or a published study's data through ``make impact``. docs/impact.md states
the method, the guard rails and how to read the result.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from cim.impact import permutation
from cim.impact.panel import LongPanel, PanelError, first_post, long_panel
from cim.impact.settings import MIN_PLACEBO_SETS, ImpactSettings
from cim.impact.twfe import Panel, fit

# The intervals are 95% ones: the columns of the impact marts say so (``*_95``).
LEVEL = 0.95


@dataclass
class EventBin:
    bin: int  # 0 = first bin from the start; -1 = the reference bin before it
    first_offset: int
    last_offset: int
    coef: float
    lower: float
    upper: float


@dataclass
class Estimate:
    n_treated: int
    n_comparison: int
    pre_periods: int
    post_periods: int
    treated_pre: float
    treated_post: float
    comparison_pre: float | None = None
    comparison_post: float | None = None
    effect: float | None = None
    lower: float | None = None
    upper: float | None = None
    p_value: float | None = None
    interval_method: str | None = None
    relative_effect: float | None = None
    relative_lower: float | None = None
    relative_upper: float | None = None
    cluster_se: float | None = None
    cluster_se_nested: float | None = None
    cluster_lower: float | None = None
    cluster_upper: float | None = None
    cluster_p_value: float | None = None
    placebo_lower: float | None = None
    placebo_upper: float | None = None
    placebo_p_value: float | None = None
    placebo_sets: int | None = None
    pretrend_slope: float | None = None
    pretrend_p_value: float | None = None
    guard_rails_failed: list[str] = field(default_factory=list)
    event_study: list[EventBin] = field(default_factory=list)

    @property
    def before_after_change(self) -> float:
        return self.treated_post - self.treated_pre

    @property
    def sufficient(self) -> bool:
        return not self.guard_rails_failed and self.effect is not None

    @property
    def maryland_level(self) -> int | None:
        """SMS 4: several treated and comparison areas with parallel pre-trends shown;
        3: one side has a single area; 2: only a before/after change in treated areas."""
        if self.sufficient:
            return 4 if min(self.n_treated, self.n_comparison) >= 2 else 3
        return 2 if self.pre_periods and self.post_periods else None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["event_study"] = [asdict(e) for e in self.event_study]
        out |= {
            "before_after_change": self.before_after_change,
            "maryland_level": self.maryland_level,
            "sufficient": self.sufficient,
        }
        return out


def _relative(est: Estimate) -> None:
    """Against the treated level expected without the action, T - d; d / (T - d) rises
    with d, so the bounds map one to one while T - d stays positive."""
    bounds = [est.effect, est.lower, est.upper]
    if min(est.treated_post - b for b in bounds) <= 0:
        return
    est.relative_effect, est.relative_lower, est.relative_upper = (
        b / (est.treated_post - b) for b in bounds
    )


def _mean(frame: pd.DataFrame) -> float:
    return float(np.average(frame["y"], weights=frame["w"])) if len(frame) else math.nan


def _event_bins(panel: LongPanel, starts: pd.Series, width: int) -> tuple[np.ndarray, list[int]]:
    frame = panel.frame
    offset = frame["period_code"] - frame["area"].map(starts)
    bins = np.floor(offset / width)
    kept = sorted(int(b) for b in bins.dropna().unique() if b != -1)
    x = np.column_stack([(bins == b).to_numpy(dtype=float) for b in kept])
    return x, kept


def _subpanel(frame: pd.DataFrame) -> Panel:
    """Integer codes for a subset of a panel's rows (areas and periods renumbered)."""
    area = frame["area"].astype("category").cat.codes.to_numpy()
    period = frame["period_code"].rank(method="dense").to_numpy(dtype=np.int64) - 1
    return Panel(area, period, frame["y"].to_numpy(float), frame["w"].to_numpy(float))


def _pretrend(panel: LongPanel, first: int, sets: np.ndarray | None) -> tuple[float, float, float]:
    """Differential linear trend of treated areas before the start: slope, cluster p,
    placebo p (nan when not computed). Parallel trends cannot be proven; a clear
    difference in trends disproves them."""
    pre = panel.frame[panel.frame["period_code"] < first]
    sub = _subpanel(pre)
    trend = pre["period_code"].to_numpy(dtype=float)
    result = fit(sub, pre["treated"].to_numpy() * trend)
    placebo_p = math.nan
    if sets is not None:
        columns = [panel.areas.index(a) for a in pre["area"]]
        regressors = sets[:, columns].T * trend[:, None]
        slopes = permutation.placebo_slopes(sub, regressors, sub.y[:, None])[:, 0]
        placebo_p = permutation.p_value(slopes, float(result.coef[0]))
    return float(result.coef[0]), result.p_value(), placebo_p


def _pre_periods(frame: pd.DataFrame, starts: pd.Series) -> int:
    """Periods before the start that every treated area has (the thinnest one counts)."""
    treated = frame[frame["treated"]]
    before = treated[treated["period_code"] < treated["area"].map(starts)]
    counts = before.groupby("area")["period_code"].nunique()
    return int(counts.reindex(treated["area"].unique(), fill_value=0).min()) if len(treated) else 0


def estimate_impact(
    data: pd.DataFrame | LongPanel, settings: ImpactSettings | None = None, multiplier: float = 1.0
) -> Estimate:
    """Estimate the action's effect on the panel; never raises for thin data: a failed
    guard rail is listed in ``guard_rails_failed`` and the effect left out."""
    opt = settings or ImpactSettings()
    panel = data if isinstance(data, LongPanel) else long_panel(data, multiplier)
    frame = panel.frame
    starts = first_post(panel)
    first = int(starts.min()) if len(starts) else None
    late_pre = (
        frame["treated"] & ~frame["post"] & (frame["period_code"] >= frame["area"].map(starts))
    )
    if late_pre.any():
        raise PanelError(
            f"area {frame.loc[late_pre, 'area'].iloc[0]!r}: post must stay 1 from its "
            "first post period on"
        )
    treated, comparison = frame[frame["treated"]], frame[~frame["treated"]]
    est = Estimate(
        n_treated=len(panel.treated_areas),
        n_comparison=len(panel.comparison_areas),
        pre_periods=_pre_periods(frame, starts),
        post_periods=int(frame.loc[frame["post"], "period_code"].nunique()),
        treated_pre=_mean(treated[~treated["post"]]),
        treated_post=_mean(treated[treated["post"]]),
    )
    if first is not None:
        post_window = comparison["period_code"] >= first
        est.comparison_pre = _mean(comparison[~post_window])
        est.comparison_post = _mean(comparison[post_window])
    fails = est.guard_rails_failed
    for label, have, need in [
        ("treated areas", est.n_treated, opt.min_treated_areas),
        ("comparison areas", est.n_comparison, opt.min_comparison_areas),
        ("periods before the start", est.pre_periods, opt.min_pre_periods),
        ("periods after the start", est.post_periods, opt.min_post_periods),
    ]:
        if have < need:
            fails.append(f"{have} {label}, {need} needed")
    if np.ptp(frame["y"].to_numpy()) == 0:
        fails.append("the indicator has the same value everywhere: there is nothing to compare")
    if fails:
        return est
    try:
        _estimate(panel, est, opt, first, starts)
    except np.linalg.LinAlgError:
        est.guard_rails_failed.append(
            "the action cannot be told apart from the area and period effects (singular fit)"
        )
    return est


def _estimate(
    panel: LongPanel, est: Estimate, opt: ImpactSettings, first: int, starts: pd.Series
) -> None:
    codes: Panel = panel.codes
    d = (panel.frame["treated"] & panel.frame["post"]).to_numpy(dtype=float)
    did = fit(codes, d)
    est.effect = float(did.coef[0])
    est.cluster_se = float(did.se[0])
    est.cluster_se_nested = float(did.se_nested[0])
    if est.cluster_se == 0:
        raise np.linalg.LinAlgError("no residual variation")
    est.cluster_lower, est.cluster_upper = did.interval(0, LEVEL)
    est.cluster_p_value = did.p_value(0)
    common_start = starts.nunique() == 1
    sets = None
    if common_start:
        treated_idx = [panel.areas.index(a) for a in panel.treated_areas]
        sets = permutation.assignments(
            len(panel.areas), treated_idx, opt.max_placebo_sets, opt.seed
        )
        post = (codes.period >= first).astype(float)
        regressors = sets[:, codes.area].T * post[:, None]
        ab = permutation.placebo_slopes(codes, regressors, np.column_stack([codes.y, d]))
        ab = ab[np.isfinite(ab).all(axis=1)]  # a set the fixed effects absorb says nothing
        est.placebo_sets = len(ab)
        est.placebo_p_value = permutation.p_value(ab[:, 0], est.effect)
        est.placebo_lower, est.placebo_upper = permutation.interval(
            ab[:, 0], ab[:, 1], est.effect, 1 - LEVEL
        )
    if did.clusters >= opt.min_clusters and est.n_treated >= opt.min_treated_clusters:
        est.interval_method, est.lower, est.upper = (
            "cluster_robust",
            est.cluster_lower,
            est.cluster_upper,
        )
        est.p_value = est.cluster_p_value
    elif (
        sets is not None
        and est.placebo_sets >= MIN_PLACEBO_SETS
        and math.isfinite(est.placebo_lower)
        and math.isfinite(est.placebo_upper)
    ):
        est.interval_method, est.lower, est.upper = (
            "placebo_in_space",
            est.placebo_lower,
            est.placebo_upper,
        )
        est.p_value = est.placebo_p_value
    elif sets is None:
        est.guard_rails_failed.append(
            f"{did.clusters} areas, {est.n_treated} treated: too few for a cluster-robust "
            f"interval ({opt.min_clusters} areas and {opt.min_treated_clusters} treated "
            "needed), and the placebo interval needs one common start"
        )
    else:
        est.guard_rails_failed.append(
            f"{did.clusters} areas, {est.n_treated} treated: too few for a cluster-robust "
            f"interval ({opt.min_clusters} areas and {opt.min_treated_clusters} treated "
            f"needed), and {est.placebo_sets} placebo sets give no bounded placebo interval"
        )
    slope, cluster_p, placebo_p = _pretrend(
        panel, first, sets if est.interval_method == "placebo_in_space" else None
    )
    est.pretrend_slope = slope
    est.pretrend_p_value = placebo_p if est.interval_method == "placebo_in_space" else cluster_p
    if math.isnan(est.pretrend_p_value):
        est.guard_rails_failed.append("the trends before the start could not be compared")
    elif est.pretrend_p_value < opt.pretrend_alpha:
        est.guard_rails_failed.append(
            f"treated areas trended differently before the start (p = {est.pretrend_p_value:.3f})"
        )
    if est.lower is not None:
        _relative(est)
    width = opt.event_bin or 1  # a bare panel has no cadence to choose bins by
    x, bins = _event_bins(panel, starts, width)
    if x.shape[1]:
        event = fit(codes, x)
        for i, b in enumerate(bins):
            lo, hi = event.interval(i, LEVEL)
            est.event_study.append(
                EventBin(b, b * width, (b + 1) * width - 1, float(event.coef[i]), lo, hi)
            )
