"""The imputation (did2s) estimator for staggered roll-outs against pyfixest's did2s, the
truth of simulated roll-outs, and two-way fixed effects."""

from __future__ import annotations

import functools
import time
import tracemalloc
import warnings

import numpy as np
import pyfixest as pf  # a dev dependency: never skipped
import pytest
from cim.impact import twfe
from cim.impact.staggered import fit_staggered
from cim.impact.twfe import Panel
from pyfixest.estimation.models.feols_ import Feols

from tests.staggered_sim import Rollout, simulate

PANELS = {
    "never-treated group": dict(seed=1),
    "all eventually treated": dict(seed=2, never_share=0, starts=(8, 16, 24, 40)),
    "weighted": dict(seed=3, weights=True),
    "weighted, unbalanced": dict(seed=4, weights=True, missing=0.15),
    "all treated, weighted, unbalanced": dict(
        seed=5, never_share=0, starts=(5, 12, 20, 36), weights=True, missing=0.1
    ),
}


@pytest.fixture
def exact_pyfixest(monkeypatch):
    """pyfixest's did2s recovers the stage-1 fixed effects with ``lsqr`` at tolerance 1e-6
    (``Feols.fixef`` defaults), which moves its estimates by ~1e-6; at a tight tolerance it
    is the exact least-squares answer, which ``fit_staggered`` computes directly."""
    tight = functools.partialmethod(Feols.fixef, atol=1e-15, btol=1e-15)
    monkeypatch.setattr(Feols, "fixef", tight)


def _did2s(rollout: Rollout, second_stage: str):
    return pf.did2s(
        rollout.frame(),
        yname="y",
        first_stage="~0|area+period",
        second_stage=second_stage,
        treatment="treat",
        cluster="area",
        weights="w",
    )


def _pyfixest_events(rollout: Rollout):
    fit = _did2s(rollout, "~i(rel_year, ref=-1.0)")
    tidy = fit.tidy()
    offsets = [int(name.split("::")[1]) for name in tidy.index]
    return fit, tidy, offsets


def _assert_matches(rollout: Rollout, tol: float) -> dict[str, float]:
    ours = fit_staggered(rollout.panel, rollout.start)
    att = _did2s(rollout, "~treat").tidy().loc["treat"]
    fit, tidy, offsets = _pyfixest_events(rollout)
    events = {e.offset: e for e in ours.events}
    assert sorted(events) == offsets
    lead_rows = np.eye(len(offsets))[[i for i, o in enumerate(offsets) if o < 0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Distribution changed to chi2"
        pretrend = fit.wald_test(R=lead_rows)["pvalue"]
    diffs = {
        "estimate": abs(ours.estimate - att["Estimate"]),
        "se": abs(ours.se - att["Std. Error"]),
        "interval": max(abs(ours.lower - att["2.5%"]), abs(ours.upper - att["97.5%"])),
        "p_value": abs(ours.p_value - att["Pr(>|t|)"]),
        "event effect": max(
            abs(events[o].effect - tidy["Estimate"].iloc[i]) for i, o in enumerate(offsets)
        ),
        "event se": max(
            abs(events[o].se - tidy["Std. Error"].iloc[i]) for i, o in enumerate(offsets)
        ),
        "event interval": max(
            abs(events[o].lower - tidy["2.5%"].iloc[i]) for i, o in enumerate(offsets)
        ),
        "pretrend p": abs(ours.pretrend_chi2_p_value - pretrend),
    }
    worst = {k: v for k, v in diffs.items() if not v <= tol}
    assert not worst, worst
    return diffs


@pytest.mark.parametrize("name", list(PANELS))
def test_equals_pyfixest_did2s(name, exact_pyfixest):
    rollout = simulate(**PANELS[name])
    diffs = _assert_matches(rollout, 1e-6)
    print(name, {k: f"{v:.1e}" for k, v in diffs.items()})


def test_close_to_pyfixest_at_its_default_tolerance():
    """Without the tight tolerance pyfixest is ~1e-6 off the exact answer, no more."""
    _assert_matches(simulate(**PANELS["weighted"]), 1e-5)


def test_event_counts_and_cohorts():
    rollout = simulate(seed=1)
    fit = fit_staggered(rollout.panel, rollout.start)
    assert fit.cohorts == {8: 10, 16: 10, 24: 10}
    assert fit.clusters == 40 and fit.dropped_areas == [] and fit.reasons == []
    assert fit.n_treated_obs == int(rollout.treated.sum()) == 10 * (28 + 20 + 12)
    by_offset = {e.offset: e.n_obs for e in fit.events}
    assert -1 not in by_offset and by_offset[0] == 30 and by_offset[27] == 10
    assert by_offset[-24] == 10 and min(by_offset) == -24
    assert sum(n for o, n in by_offset.items() if o >= 0) == fit.n_treated_obs


def test_unbiased_where_twfe_is_not():
    """72 months, three cohorts, few never-treated areas, effects growing 1% a month: TWFE
    on the treatment dummy misses the true average effect, the imputation does not."""
    rollout = simulate(seed=1, n_periods=72, starts=(12, 30, 48), never_share=0.1)
    plain = twfe.fit(rollout.panel, rollout.treated.astype(float))
    lo, hi = plain.interval()
    assert not lo <= rollout.truth <= hi, (rollout.truth, lo, hi)
    assert plain.coef[0] > rollout.truth + 0.25  # biased towards zero
    ours = fit_staggered(rollout.panel, rollout.start)
    assert ours.lower <= rollout.truth <= ours.upper
    assert abs(ours.estimate - rollout.truth) < abs(plain.coef[0] - rollout.truth) / 3


def test_coverage_and_pretrend_size():
    """Over 200 seeded draws the 95% interval covers the true effect at least 90% of the
    time, and the pre-trend test (no pre-trend simulated) rejects at most 10% at 5%."""
    covered = rejected = rejected_chi2 = 0
    for seed in range(200):
        rollout = simulate(
            seed=1000 + seed, n_areas=60, n_periods=20, starts=(5, 10, 15), never_share=0.2
        )
        fit = fit_staggered(rollout.panel, rollout.start)
        covered += fit.lower <= rollout.truth <= fit.upper
        rejected += fit.pretrend_p_value < 0.05
        rejected_chi2 += fit.pretrend_chi2_p_value < 0.05
    print(f"coverage {covered / 200:.3f}, pre-trend rejections {rejected / 200:.3f}")
    print(f"(chi-squared as pyfixest: {rejected_chi2 / 200:.3f})")
    assert covered >= 180
    assert rejected <= 20


def test_pretrend_detects_anticipation():
    rollout = simulate(seed=9)
    p = rollout.panel
    lead = (p.period - rollout.start >= -4) & (p.period < rollout.start)
    y = p.y - 1.0 * lead  # outcomes fall four months before the start
    fit = fit_staggered(Panel(p.area, p.period, y, p.w), rollout.start)
    assert fit.pretrend_p_value < 0.05
    assert fit_staggered(p, rollout.start).pretrend_p_value > 0.05


def test_area_without_untreated_period_is_dropped(exact_pyfixest):
    rollout = simulate(seed=6)
    area0 = rollout.panel.area == 0
    start = np.where(area0, 0.0, rollout.start)  # area 0 treated from the first period on
    fit = fit_staggered(rollout.panel, start)
    assert fit.dropped_areas == [0]
    assert len(fit.reasons) == 1 and fit.reasons[0].startswith("area 0:")
    assert "no untreated period" in fit.reasons[0]
    assert fit.clusters == 39
    # The same as leaving the area out, which pyfixest can estimate.
    p = rollout.panel
    rest = ~area0
    without = Rollout(
        Panel(p.area[rest] - 1, p.period[rest], p.y[rest], p.w[rest]),
        rollout.start[rest],
        rollout.effect[rest],
        rollout.truth,
    )
    alone = fit_staggered(without.panel, without.start)
    assert abs(alone.estimate - fit.estimate) < 1e-12 and abs(alone.se - fit.se) < 1e-12
    att = _did2s(without, "~treat").tidy().loc["treat"]
    assert abs(fit.estimate - att["Estimate"]) < 1e-6 and abs(fit.se - att["Std. Error"]) < 1e-6


def test_treated_period_without_untreated_area_is_refused():
    rollout = simulate(seed=7, never_share=0, starts=(8, 16, 24))
    with pytest.raises(ValueError, match=r"periods 24, 25, .* no untreated one"):
        fit_staggered(rollout.panel, rollout.start)


def test_bad_start_is_refused():
    rollout = simulate(seed=8)
    mixed = rollout.start.copy()
    mixed[0] = 3.0 if not np.isfinite(mixed[0]) else np.inf
    with pytest.raises(ValueError, match="same area"):
        fit_staggered(rollout.panel, mixed)
    with pytest.raises(ValueError, match=r"np\.inf"):
        fit_staggered(rollout.panel, np.where(np.isfinite(rollout.start), rollout.start, np.nan))
    with pytest.raises(ValueError, match="no treated"):
        fit_staggered(rollout.panel, np.full(len(rollout.start), np.inf))


def test_disconnected_untreated_sample_is_refused():
    # Two never-treated areas observed in disjoint halves, one treated area seen throughout.
    area = np.repeat([0, 1, 2], [5, 5, 10])
    period = np.concatenate([np.arange(5), np.arange(5, 10), np.arange(10)])
    start = np.where(area == 2, 5.0, np.inf)
    # Area 2's untreated periods 0-4 link to area 0 only; periods 5-9 link to area 1 only.
    y = np.arange(20.0)
    panel = Panel(area, period, y, np.ones(20))
    with pytest.raises(ValueError, match="share no observation"):
        fit_staggered(panel, start)


def test_scale_20000_areas_72_months():
    """1.44 M rows: no rows x areas matrix, memory a few dozen row-length columns."""
    rollout = simulate(
        seed=11, n_areas=20_000, n_periods=72, starts=(12, 30, 48), never_share=0.25, weights=True
    )
    tracemalloc.start()
    began = time.perf_counter()
    try:
        fit = fit_staggered(rollout.panel, rollout.start)
        seconds = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    column = len(rollout.panel.y) * 8
    print(f"fit_staggered 20,000 x 72: {seconds:.1f} s, peak {peak / 2**20:.0f} MB")
    assert peak < 40 * column
    assert fit.clusters == 20_000 and len(fit.events) == 107
    assert abs(fit.estimate - rollout.truth) < 4 * fit.se
