"""Impact estimator: equal to statsmodels, honest guard rails, and the demo's known truth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from cim.impact import ImpactSettings, PanelError, estimate_impact, long_panel
from cim.impact.adjacency import load_neighbours
from cim.impact.permutation import p_value
from cim.impact.tables import holm
from cim.impact.twfe import fit
from cim.impact.wdd import Counts, weighted_displacement_difference

from tests.conftest import DEMO_CITY


def synthetic_panel(
    effect: float = -0.2, areas: int = 12, treated: int = 4, periods: int = 36, seed: int = 7
) -> pd.DataFrame:
    """Poisson counts with area levels, seasonality and a relative effect after period 18."""
    gen = np.random.default_rng(seed)
    rows = []
    for a in range(areas):
        population, level = gen.integers(3000, 6000), gen.uniform(4, 9)
        for t in range(periods):
            post = t >= periods // 2
            mean = population / 1000 * level * (1 + 0.3 * math.sin(t / 6 * math.pi))
            mean *= 1 + effect if (a < treated and post) else 1
            rows.append(
                {
                    "area": f"A{a:02d}",
                    "period": f"P{t:03d}",
                    "treated": int(a < treated),
                    "post": int(post),
                    "numerator": gen.poisson(mean),
                    "denominator": population,
                }
            )
    return pd.DataFrame(rows)


def statsmodels_fit(panel: pd.DataFrame, multiplier: float, regressors: str = "d"):
    df = panel.copy()
    df["y"] = df["numerator"] / df["denominator"] * multiplier
    df["d"] = df["treated"] * df["post"]
    model = smf.wls(f"y ~ {regressors} + C(area) + C(period)", data=df, weights=df["denominator"])
    groups = df["area"].astype("category").cat.codes
    return model.fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)


@pytest.mark.parametrize("drop_rows", [0, 25])
def test_did_and_cluster_interval_equal_statsmodels(drop_rows):
    panel = synthetic_panel()
    if drop_rows:  # an unbalanced panel: missing deliveries
        panel = panel.drop(np.random.default_rng(1).choice(len(panel), drop_rows, replace=False))
    est = estimate_impact(
        panel, ImpactSettings(min_clusters=2, min_treated_clusters=1), multiplier=1000
    )
    sm = statsmodels_fit(panel, 1000)
    assert est.effect == pytest.approx(sm.params["d"], rel=1e-9)
    assert est.cluster_se == pytest.approx(sm.bse["d"], rel=1e-7)
    lower, upper = sm.conf_int(alpha=0.05).loc["d"]
    assert (est.cluster_lower, est.cluster_upper) == pytest.approx((lower, upper), rel=1e-7)
    assert est.cluster_p_value == pytest.approx(sm.pvalues["d"], rel=1e-6)
    assert est.interval_method == "cluster_robust"
    assert (est.lower, est.upper) == (est.cluster_lower, est.cluster_upper)


def test_event_study_equals_statsmodels_with_bin_dummies():
    panel = synthetic_panel(periods=24)
    est = estimate_impact(panel, ImpactSettings(event_bin=3, method="did"), multiplier=1000)
    df = panel.copy()
    offset = df["period"].str[1:].astype(int) - 12
    bins = np.where(df["treated"] == 1, np.floor(offset / 3), np.nan)
    names = []
    for b in sorted(set(bins[~np.isnan(bins)]) - {-1}):
        name = f"bin_{'m' if b < 0 else ''}{abs(int(b))}"
        df[name] = (bins == b).astype(float)
        names.append(name)
    sm = statsmodels_fit(df, 1000, " + ".join(names))
    assert [b.bin for b in est.event_study] == [-4, -3, -2, 0, 1, 2, 3]
    for b, name in zip(est.event_study, names, strict=True):
        assert b.coef == pytest.approx(sm.params[name], rel=1e-8, abs=1e-10)
        lower, upper = sm.conf_int().loc[name]
        assert (b.lower, b.upper) == pytest.approx((lower, upper), rel=1e-6)


def test_fit_in_column_blocks_with_sparse_regressors_equals_statsmodels(monkeypatch):
    """The regressors demeaned a block of columns at a time (here one column per block),
    given dense or sparse, on an unbalanced weighted panel: statsmodels' dummy regression."""
    from cim.impact import twfe
    from scipy import sparse

    panel = synthetic_panel(periods=24)
    panel = panel.drop(np.random.default_rng(3).choice(len(panel), 20, replace=False))
    codes = long_panel(panel, 1000).codes
    df = panel.reset_index(drop=True)
    offset = np.where(df["treated"] == 1, df["period"].str[1:].astype(int) - 12, 99)
    names = [f"e{k}" for k in range(5)]
    for k, name in enumerate(names):  # five event dummies, offsets 0..4
        df[name] = (offset == k).astype(float)
    x = df[names].to_numpy()
    whole = fit(codes, x)
    monkeypatch.setattr(twfe, "_BLOCK_BYTES", 8 * len(df))  # one column per block
    for given in (x, sparse.csr_matrix(x), sparse.csc_array(x)):
        blocks = fit(codes, given)
        assert blocks.coef == pytest.approx(whole.coef, rel=1e-10, abs=1e-12)
        assert blocks.cov == pytest.approx(whole.cov, rel=1e-8, abs=1e-14)
    sm = statsmodels_fit(df, 1000, " + ".join(names))
    assert blocks.coef == pytest.approx(sm.params[names].to_numpy(), rel=1e-8, abs=1e-10)
    assert blocks.se == pytest.approx(sm.bse[names].to_numpy(), rel=1e-7)


DID = ImpactSettings(method="did")


def test_synthetic_effect_recovered_and_placebo_covers_zero():
    est = estimate_impact(synthetic_panel(effect=-0.25), DID, multiplier=1000)
    assert est.sufficient and est.interval_method == "placebo_in_space"
    assert est.relative_lower <= -0.25 <= est.relative_upper
    assert est.upper < 0 and est.maryland_level == 4
    # the placebo standard error of the comparison areas' own sets is shown beside it
    assert 0 < est.placebo_se < est.placebo_upper - est.placebo_lower
    assert est.se == est.placebo_se
    null = estimate_impact(synthetic_panel(effect=0.0, seed=11), DID, multiplier=1000)
    assert null.lower <= 0 <= null.upper


def test_placebo_interval_endpoints_are_where_the_test_flips():
    """Re-run the whole estimator with d taken out of the treated post periods: p-values
    just inside the interval exceed 5%, just outside they do not."""
    panel = synthetic_panel(effect=-0.2, areas=10, treated=3)
    est = estimate_impact(panel, DID, multiplier=1000)
    for bound, inward in [(est.placebo_lower, 1), (est.placebo_upper, -1)]:
        for step, accepted in [(inward * 1e-6, True), (-inward * 1e-6, False)]:
            d = bound + step
            shifted = panel.astype({"numerator": float})
            moved = (shifted["treated"] == 1) & (shifted["post"] == 1)
            shifted.loc[moved, "numerator"] -= d * shifted.loc[moved, "denominator"] / 1000
            again = estimate_impact(shifted, DID, multiplier=1000)
            placebo = _placebo_estimates(shifted)
            assert (p_value(placebo, again.effect) > 0.05) == accepted, (bound, step)


def _placebo_estimates(panel: pd.DataFrame) -> np.ndarray:
    """Brute force: the DiD with each other set of areas called treated."""
    import itertools

    areas = sorted(panel["area"].unique())
    k = panel.groupby("area")["treated"].first().sum()
    out = []
    for chosen in itertools.combinations(areas, k):
        moved = long_panel(panel.assign(treated=panel["area"].isin(chosen).astype(int)), 1000)
        d = (moved.frame["treated"] & moved.frame["post"]).to_numpy(dtype=float)
        out.append(fit(moved.codes, d).coef[0])
    return np.array(out)


def test_guard_rails_give_insufficient_evidence_not_a_number():
    short = synthetic_panel(periods=36)
    short = short[short["period"] >= "P016"]  # two periods before the start
    est = estimate_impact(short, multiplier=1000)
    assert not est.sufficient and est.effect is None
    assert est.guard_rails_failed == ["2 periods before the start, 3 needed"]
    assert est.maryland_level == 2  # a before/after change is all it shows
    few = synthetic_panel(areas=5, treated=3)
    est = estimate_impact(few, multiplier=1000)
    assert est.guard_rails_failed == ["2 comparison areas, 3 needed"]


def test_diverging_pre_trends_fail_the_guard_rail():
    panel = synthetic_panel(effect=0.0, periods=36)
    t = panel["period"].str[1:].astype(int)
    drift = (panel["treated"] == 1) * t * 0.15 * panel["denominator"] / 1000  # 0.15 per period
    panel["numerator"] = panel["numerator"] + drift.round()
    est = estimate_impact(panel, multiplier=1000)
    assert est.effect is None or not est.sufficient
    assert any("trended differently" in r for r in est.guard_rails_failed)


def test_panel_errors_name_the_column_and_row():
    panel = synthetic_panel().drop(columns=["post"])
    with pytest.raises(PanelError, match=r"lacks column\(s\) \['post'\]"):
        long_panel(panel)
    panel = synthetic_panel().astype({"treated": object})
    panel.loc[3, "treated"] = "maybe"
    with pytest.raises(PanelError, match=r"column 'treated', row 4: 'maybe'"):
        long_panel(panel)
    panel = pd.concat([synthetic_panel(), synthetic_panel().head(1)])
    with pytest.raises(PanelError, match="area 'A00', period 'P000' appears twice"):
        long_panel(panel)


def test_weighted_displacement_difference_by_hand():
    # treated 100 -> 70, displacement 50 -> 60, comparison 200 -> 190
    result = weighted_displacement_difference(Counts(100, 70), Counts(50, 60), Counts(200, 190))
    scale_t, scale_d = 100 / 200, 50 / 200
    assert result.wdd == pytest.approx((70 - 100) - scale_t * -10 + (60 - 50) - scale_d * -10)
    assert result.wdd_se == pytest.approx(math.sqrt(170 + 110 + (scale_t + scale_d) ** 2 * 390))
    assert result.displacement == pytest.approx(10 + 2.5)
    assert result.wdd_lower < result.wdd < result.wdd_upper
    assert weighted_displacement_difference(Counts(0, 5), Counts(5, 5), Counts(5, 5)) is None


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.2, float("nan"), 0.01]) == pytest.approx([0.4, 1.0, 0.03])


def test_adjacency_from_demo_boundaries(demo_city):
    neighbours = load_neighbours(DEMO_CITY / demo_city.settings.boundaries_file)
    rows = {
        a.area_code: (a.grid_row, a.grid_col) for a in demo_city.areas if a.grid_row is not None
    }
    for area, (r, c) in rows.items():
        expected = {
            b for b, (r2, c2) in rows.items() if b != area and abs(r - r2) <= 1 and abs(c - c2) <= 1
        }
        assert neighbours[area] & rows.keys() == expected, area  # districts touch them too


def test_thin_or_odd_panels_give_reasons_not_crashes():
    one = synthetic_panel(areas=12, treated=1)
    est = estimate_impact(one, ImpactSettings(min_clusters=2), multiplier=1000)
    assert not est.sufficient  # 1 treated: no cluster-robust interval, the placebo test
    assert est.interval_method == "placebo_in_space"  # judges, the pre-trend too
    assert est.method == "did"  # 11 comparison areas give 11 sets for synthetic weights
    assert "only 12 placebo sets, 20 needed" in est.guard_rails_failed[0]
    flat = synthetic_panel().assign(numerator=0)
    assert "same value everywhere" in estimate_impact(flat).guard_rails_failed[0]
    late = synthetic_panel()
    late = late[(late["treated"] == 0) | (late["period"] >= "P017")]  # 1 period before
    assert estimate_impact(late).guard_rails_failed == ["1 periods before the start, 3 needed"]
    staggered = synthetic_panel()
    staggered.loc[(staggered["area"] == "A00") & (staggered["period"] == "P017"), "post"] = 1
    est = estimate_impact(staggered, multiplier=1000)
    assert est.method == "staggered"
    assert "placebo sets need one common start" in est.guard_rails_failed[0]


def test_relative_interval_maps_each_bound():
    est = estimate_impact(synthetic_panel(effect=-0.25), multiplier=1000)
    level = est.treated_post
    assert est.relative_lower == pytest.approx(est.lower / (level - est.lower))
    assert est.relative_upper == pytest.approx(est.upper / (level - est.upper))
