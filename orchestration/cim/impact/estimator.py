"""Impact of an action on one indicator: the estimator the design calls for, with guard
rails and the Maryland Scientific Methods Scale level of the result.

``estimate_impact(panel)`` runs on any long panel (``cim.impact.panel``): the demo city,
another city, or a published study's data through ``cim impact``. It chooses the method by
the rule of docs/impact.md ("Which method when"), unless the settings name one:

- ``staggered``: the treated areas start at different times. Two-way fixed effects then
  weigh early starters against late ones with negative weights; the imputation estimator
  compares each treated area and period only with areas not (yet) treated.
- ``did``: one common start and enough areas, treated ones above all, for a cluster-robust
  interval; with fewer, the placebo-in-space test decides (``cim.impact.permutation``).
- ``sdid`` / ``sc``: one common start and few treated areas: a synthetic comparison
  weighted to match the treated areas before the start, with the placebo standard error
  of Arkhangelsky et al. (2021).

Every verdict (the interval, the p-value and the pre-trend test) comes from the one
inference method of the headline, named in ``interval_method``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse, stats

from cim.impact import permutation
from cim.impact.panel import LongPanel, PanelError, first_post, long_panel
from cim.impact.settings import LEVEL, MIN_PLACEBO_SETS, ImpactSettings
from cim.impact.twfe import Panel, fit

# What each method is called where a stakeholder reads it (docs/impact.md says more).
METHOD_NAMES = {
    "did": "difference-in-differences",
    "staggered": "difference-in-differences for staggered starts (imputation)",
    "sc": "synthetic control",
    "sdid": "synthetic difference-in-differences",
}


@dataclass
class EventBin:
    bin: int  # 0 = first bin from the start; -1 = the reference bin before it
    first_offset: int
    last_offset: int
    coef: float
    lower: float
    upper: float


@dataclass
class Synthetic:
    """The synthetic comparison of ``sc`` / ``sdid``: what the treated areas are compared
    with, period by period, and which comparison areas make it up."""

    periods: list
    treated: list[float]  # the treated areas' mean
    synthetic: list[float]  # the weighted comparison areas (SDID: shifted by its intercept)
    donors: dict[str, float]  # comparison area -> weight (weights > 0 only)
    time_weights: dict[str, float]  # pre period -> weight (SDID only)
    pre_rmse: float  # root mean square gap before the start: how well it fits


@dataclass
class Estimate:
    n_treated: int
    n_comparison: int
    pre_periods: int
    post_periods: int
    treated_pre: float
    treated_post: float
    method: str | None = None
    method_reason: str | None = None
    comparison_pre: float | None = None
    comparison_post: float | None = None
    effect: float | None = None
    se: float | None = None
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
    placebo_se: float | None = None
    placebo_lower: float | None = None
    placebo_upper: float | None = None
    placebo_p_value: float | None = None
    placebo_sets: int | None = None
    pretrend_slope: float | None = None
    pretrend_p_value: float | None = None
    cohorts: dict[str, int] = field(default_factory=dict)  # first post period -> areas
    synthetic: Synthetic | None = None
    guard_rails_failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was left out, and why
    event_study: list[EventBin] = field(default_factory=list)

    @property
    def before_after_change(self) -> float:
        return self.treated_post - self.treated_pre

    @property
    def sufficient(self) -> bool:
        return not self.guard_rails_failed and self.effect is not None

    @property
    def status(self) -> str:
        return "estimated" if self.sufficient else "insufficient_evidence"

    @property
    def maryland_level(self) -> int | None:
        """SMS 4: several treated and comparison areas with parallel pre-trends shown;
        3: one side has a single area; 2: only a before/after change in treated areas."""
        if self.sufficient:
            comparison = self.n_comparison or (len(self.cohorts) > 1) * self.n_treated
            return 4 if min(self.n_treated, comparison) >= 2 else 3
        return 2 if self.pre_periods and self.post_periods else None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["event_study"] = [asdict(e) for e in self.event_study]
        out |= {
            "estimate": self.effect if self.sufficient else None,
            "interval": [self.lower, self.upper] if self.sufficient else None,
            "status": self.status,
            "reasons": self.guard_rails_failed + self.notes,
            "method_name": METHOD_NAMES.get(self.method or ""),
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


def _event_bins(
    panel: LongPanel, starts: pd.Series, width: int
) -> tuple[sparse.csc_array, list[int]]:
    """One dummy per bin of periods since the start (the bin before it is the reference),
    sparse: each row is in at most one bin."""
    frame = panel.frame
    offset = frame["period_code"] - frame["area"].map(starts)
    bins = np.floor(offset.to_numpy(dtype=float) / width)
    kept = sorted(int(b) for b in np.unique(bins[np.isfinite(bins)]) if b != -1)
    rows = np.flatnonzero(np.isfinite(bins) & (bins != -1))
    columns = np.searchsorted(kept, bins[rows])
    x = sparse.csc_array((np.ones(len(rows)), (rows, columns)), shape=(len(frame), len(kept)))
    return x, kept


def _subpanel(frame: pd.DataFrame) -> Panel:
    """Integer codes for a subset of a panel's rows (areas and periods renumbered)."""
    area = frame["area"].astype("category").cat.codes.to_numpy()
    period = frame["period_code"].rank(method="dense").to_numpy(dtype=np.int64) - 1
    return Panel(area, period, frame["y"].to_numpy(float), frame["w"].to_numpy(float))


def _keep_areas(panel: LongPanel, keep: pd.Series) -> LongPanel:
    """The panel without the areas not in ``keep`` (codes renumbered, other fields kept)."""
    frame = panel.frame[panel.frame["area"].isin(keep)].reset_index(drop=True)
    areas = sorted(frame["area"].unique().tolist())
    periods = [p for p in panel.periods if p in set(frame["period"])]
    frame["area_code"] = frame["area"].map({a: i for i, a in enumerate(areas)})
    frame["period_code"] = frame["period"].map({p: i for i, p in enumerate(periods)})
    return dataclasses.replace(panel, frame=frame, areas=areas, periods=periods)


def _pre_counts(frame: pd.DataFrame, starts: pd.Series) -> pd.Series:
    """Periods before its start that each treated area has."""
    treated = frame[frame["treated"]]
    before = treated[treated["period_code"] < treated["area"].map(starts)]
    counts = before.groupby("area")["period_code"].nunique()
    return counts.reindex(sorted(treated["area"].unique()), fill_value=0)


def _plain(value) -> str:
    """A period or area as the panel names it (``1989``, not ``np.int64(1989)``)."""
    return str(value.item() if isinstance(value, np.generic) else value)


def choose_method(
    n_areas: int,
    n_treated: int,
    n_complete_comparison: int,
    common_start: bool,
    opt: ImpactSettings,
) -> tuple[str, str]:
    """The estimator for this design, and why (docs/impact.md, "Which method when")."""
    if opt.method != "auto":
        return opt.method, f"chosen in the settings (method: {opt.method})"
    if not common_start:
        return "staggered", (
            "the treated areas start at different times: each is compared only with areas "
            "not (yet) treated, since two-way fixed effects would weigh early starters "
            "against late ones"
        )
    if n_areas >= opt.min_clusters and n_treated >= opt.min_treated_clusters:
        return "did", (
            f"one common start and {n_treated} treated of {n_areas} areas: enough for a "
            "cluster-robust difference-in-differences"
        )
    if synthetic_fits(n_treated, n_complete_comparison, opt):
        return "sdid", (
            f"{n_treated} treated area(s) with one common start: a synthetic comparison, "
            "weighted to follow them before the start, with a placebo standard error"
        )
    return "did", (
        f"{n_treated} treated area(s) and {n_complete_comparison} comparison areas with "
        f"every period: too few for synthetic weights ({n_treated + opt.min_donor_areas} "
        "needed), so difference-in-differences with the placebo-in-space test"
    )


def synthetic_fits(n_treated: int, n_comparison: int, opt: ImpactSettings) -> bool:
    """Enough comparison areas for the synthetic methods' placebo standard error: each
    replication lets ``n_treated`` of them pose as treated and fits its weights on the
    rest, which must be at least ``min_donor_areas``; and the distinct replications must
    be enough for a 5% test."""
    return (
        n_comparison - n_treated >= opt.min_donor_areas
        and math.comb(n_comparison, n_treated) >= MIN_PLACEBO_SETS
    )


def estimate_impact(
    data: pd.DataFrame | LongPanel, settings: ImpactSettings | None = None, multiplier: float = 1.0
) -> Estimate:
    """Estimate the action's effect on the panel; never raises for thin data: a failed
    guard rail is listed in ``guard_rails_failed`` and the effect left out."""
    opt = settings or ImpactSettings()
    panel = data if isinstance(data, LongPanel) else long_panel(data, multiplier)
    frame = panel.frame
    starts = first_post(panel)
    late_pre = (
        frame["treated"] & ~frame["post"] & (frame["period_code"] >= frame["area"].map(starts))
    )
    if late_pre.any():
        raise PanelError(
            f"area {frame.loc[late_pre, 'area'].iloc[0]!r}: post must stay 1 from its "
            "first post period on"
        )
    notes: list[str] = []
    counts = _pre_counts(frame, starts)
    thin = counts[counts < opt.min_pre_periods]
    if 0 < len(thin) < len(counts):
        # one area that started too early must not hold back the others
        notes += [
            f"treated area {area} has {n} period(s) before its start, {opt.min_pre_periods} "
            "needed: left out"
            for area, n in thin.items()
        ]
        panel = _keep_areas(panel, frame.loc[~frame["area"].isin(thin.index), "area"])
        frame, starts = panel.frame, first_post(panel)
        counts = counts.drop(thin.index)
    first = int(starts.min()) if len(starts) else None
    treated, comparison = frame[frame["treated"]], frame[~frame["treated"]]
    est = Estimate(
        n_treated=len(panel.treated_areas),
        n_comparison=len(panel.comparison_areas),
        pre_periods=int(counts.min()) if len(counts) else 0,
        post_periods=int(frame.loc[frame["post"], "period_code"].nunique()),
        treated_pre=_mean(treated[~treated["post"]]),
        treated_post=_mean(treated[treated["post"]]),
        notes=notes,
    )
    if first is not None:
        post_window = comparison["period_code"] >= first
        est.comparison_pre = _mean(comparison[~post_window])
        est.comparison_post = _mean(comparison[post_window])
    common_start = starts.nunique() <= 1
    est.cohorts = {
        _plain(panel.periods[int(code)]): int(n)
        for code, n in starts.value_counts().sort_index().items()
    }
    complete = _complete_areas(panel)
    est.method, est.method_reason = choose_method(
        len(panel.areas),
        est.n_treated,
        len(set(panel.comparison_areas) & complete),
        common_start,
        opt,
    )
    _design_guard_rails(panel, est, opt, starts)
    if est.guard_rails_failed:
        return est
    try:
        if est.method == "staggered":
            _staggered(panel, est, opt, starts)
        elif est.method in ("sc", "sdid"):
            _synthetic(panel, est, opt, first, complete)
        else:
            _did(panel, est, opt, first, starts)
    except np.linalg.LinAlgError:
        est.guard_rails_failed.append(
            "the action cannot be told apart from the area and period effects (singular fit)"
        )
    if est.sufficient:
        _relative(est)
    return est


def _complete_areas(panel: LongPanel) -> set[str]:
    """Areas with a value in every period of the panel (the synthetic methods need them)."""
    have = panel.frame.groupby("area")["period_code"].nunique()
    return set(have[have == len(panel.periods)].index)


def _design_guard_rails(
    panel: LongPanel, est: Estimate, opt: ImpactSettings, starts: pd.Series
) -> None:
    """Designs that cannot show an effect, whatever the estimator: a clear reason each."""
    fails = est.guard_rails_failed
    frame = panel.frame
    # staggered starts: later starters are the comparison until they start
    comparison_label, comparison_have = "comparison areas", est.n_comparison
    if est.method == "staggered":
        first = int(starts.min())
        comparison_label = "areas not yet treated at the first start"
        comparison_have = int(
            frame.loc[frame["period_code"] == first]
            .pipe(lambda f: f[~(f["treated"] & f["post"])])["area"]
            .nunique()
        )
    for label, have, need in [
        ("treated areas", est.n_treated, opt.min_treated_areas),
        (comparison_label, comparison_have, opt.min_comparison_areas),
        ("periods before the start", est.pre_periods, opt.min_pre_periods),
        ("periods after the start", est.post_periods, opt.min_post_periods),
    ]:
        if have < need:
            fails.append(f"{have} {label}, {need} needed")
    y = frame["y"].to_numpy()
    if np.ptp(y) == 0:
        fails.append("the indicator has the same value everywhere: there is nothing to compare")
        return
    acting = (frame["treated"] & frame["post"]).to_numpy()
    untreated = y[~acting]
    if len(untreated) and np.all(untreated == 0):
        fails.append(
            "the indicator is 0 everywhere except in the treated areas after the start: it "
            "counts the action's own output (its participants, say), not an effect of it"
        )
        return
    comparison = frame.loc[~frame["treated"], "y"].to_numpy()
    if len(comparison) and np.ptp(comparison) == 0:
        fails.append(
            f"the comparison areas have the same value ({_plain(comparison[0])}) in every "
            "period: they cannot show what would have happened without the action"
        )


def _interval_family(n_areas: int, n_treated: int, opt: ImpactSettings) -> str:
    return (
        "cluster_robust"
        if n_areas >= opt.min_clusters and n_treated >= opt.min_treated_clusters
        else "placebo_in_space"
    )


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
        columns = pre["area_code"].to_numpy()
        slopes = permutation.placebo_slopes(sub, sets, columns, trend, sub.y[:, None])[:, 0]
        placebo_p = permutation.p_value(slopes, float(result.coef[0]))
    return float(result.coef[0]), result.p_value(), placebo_p


def _judge_pretrend(est: Estimate, p: float, opt: ImpactSettings) -> None:
    est.pretrend_p_value = None if math.isnan(p) else p
    if math.isnan(p):
        est.guard_rails_failed.append("the trends before the start could not be compared")
    elif p < opt.pretrend_alpha:
        est.guard_rails_failed.append(
            f"treated areas trended differently before the start (p = {p:.3f}, "
            f"{est.interval_method.replace('_', ' ')} test)"
        )


def _did(
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
    family = _interval_family(did.clusters, est.n_treated, opt)
    est.interval_method = family
    common_start = starts.nunique() == 1
    sets = None
    if common_start and (family == "placebo_in_space" or opt.placebo_always):
        sets = _placebo(panel, est, opt, codes, d, first)
    if family == "cluster_robust":
        est.se, est.lower, est.upper = est.cluster_se, est.cluster_lower, est.cluster_upper
        est.p_value = est.cluster_p_value
    elif sets is None:
        est.guard_rails_failed.append(
            f"{did.clusters} areas, {est.n_treated} treated: too few for a cluster-robust "
            f"interval ({opt.min_clusters} areas and {opt.min_treated_clusters} treated "
            "needed), and the placebo interval needs one common start"
        )
    elif est.placebo_sets < MIN_PLACEBO_SETS:
        est.guard_rails_failed.append(
            f"{did.clusters} areas, {est.n_treated} treated: too few for a cluster-robust "
            f"interval, and only {est.placebo_sets} placebo sets, {MIN_PLACEBO_SETS} needed "
            "for a two-sided 5% placebo test"
        )
    elif not (math.isfinite(est.placebo_lower) and math.isfinite(est.placebo_upper)):
        est.guard_rails_failed.append(
            f"{did.clusters} areas, {est.n_treated} treated: too few for a cluster-robust "
            f"interval, and the placebo interval of {est.placebo_sets} sets is unbounded "
            f"([{est.placebo_lower:g}, {est.placebo_upper:g}]): the data cannot bound the effect"
        )
    else:
        est.se = est.placebo_se
        est.lower, est.upper = est.placebo_lower, est.placebo_upper
        est.p_value = est.placebo_p_value
    slope, cluster_p, placebo_p = _pretrend(
        panel, first, sets if family == "placebo_in_space" else None
    )
    est.pretrend_slope = slope
    _judge_pretrend(est, placebo_p if family == "placebo_in_space" else cluster_p, opt)
    width = opt.event_bin or 1  # a bare panel has no cadence to choose bins by
    x, bins = _event_bins(panel, starts, width)
    if x.shape[1]:
        event = fit(codes, x)
        for i, b in enumerate(bins):
            lo, hi = event.interval(i, LEVEL)
            est.event_study.append(
                EventBin(b, b * width, (b + 1) * width - 1, float(event.coef[i]), lo, hi)
            )


def _placebo(
    panel: LongPanel,
    est: Estimate,
    opt: ImpactSettings,
    codes: Panel,
    d: np.ndarray,
    first: int,
) -> np.ndarray:
    """Placebo-in-space figures of the DiD: the exact test-inversion interval and p-value
    over every set of as many areas (or a seeded sample), and the placebo standard error
    of Arkhangelsky et al. (2021) from the sets of comparison areas only."""
    treated_idx = [panel.areas.index(a) for a in panel.treated_areas]
    sets = permutation.assignments(len(panel.areas), treated_idx, opt.max_placebo_sets, opt.seed)
    post = (codes.period >= first).astype(float)
    ab = permutation.placebo_slopes(codes, sets, codes.area, post, np.column_stack([codes.y, d]))
    finite = np.isfinite(ab).all(axis=1)  # a set the fixed effects absorb says nothing
    sets, ab = sets[finite], ab[finite]
    est.placebo_sets = len(ab)
    est.placebo_p_value = permutation.p_value(ab[:, 0], est.effect)
    est.placebo_lower, est.placebo_upper = permutation.interval(
        ab[:, 0], ab[:, 1], est.effect, 1 - LEVEL
    )
    untouched = ~sets[:, treated_idx].any(axis=1)
    if untouched.sum() >= 2:
        est.placebo_se = float(np.std(ab[untouched, 0]))
    return sets


def _staggered(panel: LongPanel, est: Estimate, opt: ImpactSettings, starts: pd.Series) -> None:
    from cim.impact.staggered import fit_staggered

    frame = panel.frame
    acting = frame["treated"] & frame["post"]
    untreated_periods = frame.loc[~acting, "period_code"].unique()
    unmatched = sorted(set(frame["period_code"]) - set(untreated_periods))
    if unmatched:
        # once every area is treated nothing shows the course without the action: those
        # periods are left out, the later starters are the comparison until then
        est.notes.append(
            f"{len(unmatched)} period(s) from {_plain(panel.periods[unmatched[0]])} left out: "
            "every area is treated by then, so no area shows what would have happened "
            "without the action"
        )
        keep = ~frame["period_code"].isin(unmatched)
        frame = frame[keep]
        est.post_periods = int(frame.loc[frame["post"], "period_code"].nunique())
    start = frame["area"].map(starts).fillna(np.inf).to_numpy(dtype=float)  # inf: never
    codes = Panel(
        frame["area_code"].to_numpy(),
        frame["period_code"].to_numpy(),
        frame["y"].to_numpy(dtype=float),
        frame["w"].to_numpy(dtype=float),
    )
    try:
        result = fit_staggered(codes, start, LEVEL)
    except ValueError as exc:
        est.guard_rails_failed.append(str(exc))
        return
    est.notes += [
        f"treated area {panel.areas[int(code)]} has no period before its start: "
        "nothing to compare it with, left out"
        for code in result.dropped_areas
    ]
    est.interval_method = "cluster_robust"
    treated = est.n_treated - len(result.dropped_areas)
    if _interval_family(result.clusters, treated, opt) != "cluster_robust":
        est.guard_rails_failed.append(
            f"{result.clusters} areas, {treated} treated with staggered starts: too few for "
            f"a cluster-robust interval ({opt.min_clusters} areas and "
            f"{opt.min_treated_clusters} treated needed); placebo sets need one common start"
        )
        return
    est.effect, est.se = float(result.estimate), float(result.se)
    est.cluster_se = est.se
    est.lower, est.upper = float(result.lower), float(result.upper)
    est.cluster_lower, est.cluster_upper = est.lower, est.upper
    est.p_value = est.cluster_p_value = float(result.p_value)
    _judge_pretrend(est, float(result.pretrend_p_value), opt)
    est.event_study = [
        EventBin(e.offset, e.offset, e.offset, float(e.effect), float(e.lower), float(e.upper))
        for e in result.events
    ]


def _synthetic(
    panel: LongPanel, est: Estimate, opt: ImpactSettings, first: int, complete: set[str]
) -> None:
    from cim.impact import synth

    incomplete = sorted(set(panel.areas) - complete)
    if incomplete:
        est.notes.append(
            f"{len(incomplete)} area(s) without a value in every period left out of the "
            f"synthetic comparison: {', '.join(incomplete[:10])}"
            + (" ..." if len(incomplete) > 10 else "")
        )
    controls = [a for a in panel.comparison_areas if a in complete]
    treated = [a for a in panel.treated_areas if a in complete]
    if not treated:
        est.guard_rails_failed.append(
            "no treated area has a value in every period: the synthetic methods need them"
        )
        return
    wide = panel.frame.pivot(index="area", columns="period_code", values="y")
    y = wide.loc[controls + treated].to_numpy(dtype=float)
    fitted = synth.fit_synthetic(y, len(treated), first, est.method)
    est.effect = float(fitted.estimate)
    if np.ptp(panel.frame["w"].to_numpy()) > 0:
        est.notes.append(
            "in the synthetic methods every area weighs the same: the denominators or "
            "weights do not weight them"
        )
    try:
        placebo = synth.placebo(
            y, len(treated), first, est.method, opt.placebo_replications, opt.seed
        )
    except ValueError as exc:
        est.guard_rails_failed.append(f"no placebo standard error: {exc}")
        return
    est.interval_method = "placebo_se"
    est.placebo_sets = int(placebo.replications)
    est.se = est.placebo_se = float(placebo.se)
    if not est.se > 0:
        est.guard_rails_failed.append("the placebo replications do not vary: no standard error")
        return
    z = stats.norm.ppf(0.5 + LEVEL / 2)
    est.lower, est.upper = est.effect - z * est.se, est.effect + z * est.se
    est.placebo_lower, est.placebo_upper = est.lower, est.upper
    est.p_value = float(2 * stats.norm.sf(abs(est.effect) / est.se))
    replications = len(placebo.estimates)
    est.placebo_p_value = float(
        (1 + np.sum(np.abs(placebo.estimates) >= abs(est.effect))) / (replications + 1)
    )
    est.pretrend_slope = float(fitted.gap_slope)
    pretrend_p = float(
        (1 + np.sum(np.abs(placebo.gap_slopes) >= abs(fitted.gap_slope))) / (replications + 1)
    )
    _judge_pretrend(est, pretrend_p, opt)
    periods = [_plain(p) for p in panel.periods]
    est.synthetic = Synthetic(
        periods=periods,
        treated=[float(v) for v in fitted.treated_path],
        synthetic=[float(v) for v in fitted.synthetic_path],
        donors={
            a: float(w)
            for a, w in sorted(zip(controls, fitted.unit_weights, strict=True), key=lambda x: -x[1])
            if w > 0
        },
        time_weights={periods[i]: float(w) for i, w in enumerate(fitted.time_weights) if w > 0},
        pre_rmse=float(fitted.pre_rmse),
    )
