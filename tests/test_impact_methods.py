"""Which method when, one inference for every verdict, and guard rails for designs that
cannot show an effect (docs/impact.md)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from cim.cli import main
from cim.impact import ImpactSettings, estimate_impact, long_panel
from cim.impact.twfe import fit

from tests.test_impact import synthetic_panel

DID = ImpactSettings(method="did")


def _one_treated(comparison: int = 19, periods: int = 12, seed: int = 3) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    rows = []
    for a in range(comparison + 1):
        level = gen.normal(10, 2)
        for t in range(periods):
            rows.append(
                {
                    "area": f"A{a:02d}",
                    "period": 2000 + t,
                    "treated": int(a == 0),
                    "post": int(a == 0 and t >= periods // 2),
                    "value": level + 0.3 * t + gen.normal(0, 1),
                }
            )
    return pd.DataFrame(rows)


def test_one_treated_area_twenty_placebo_sets_suffice_and_the_verdict_is_one_method():
    panel = _one_treated(comparison=19)
    est = estimate_impact(panel, DID)
    assert est.interval_method == "placebo_in_space" and est.placebo_sets == 20
    # a bounded interval is published; an unbounded one is refused as unbounded
    bounded = math.isfinite(est.placebo_lower) and math.isfinite(est.placebo_upper)
    assert est.sufficient == bounded
    if not bounded:
        assert "unbounded" in est.guard_rails_failed[0]
    # the pre-trend test is the placebo one: brute force over the 20 single areas
    lp = long_panel(panel)
    pre = lp.frame[lp.frame["period_code"] < 6]
    slopes = []
    for area in lp.areas:
        sub = long_panel(
            pd.DataFrame(
                {
                    "area": pre["area"],
                    "period": pre["period"],
                    "treated": (pre["area"] == area).astype(int),
                    "post": 0,
                    "value": pre["y"],
                }
            )
        )
        trend = sub.frame["period_code"].to_numpy(float) * sub.frame["treated"].to_numpy()
        slopes.append(fit(sub.codes, trend).coef[0])
    real = slopes[lp.areas.index("A00")]
    expected = np.mean(np.abs(slopes) >= abs(real) * (1 - 1e-12))
    assert est.pretrend_p_value == pytest.approx(expected)


def test_fewer_than_twenty_placebo_sets_say_so_without_an_interval():
    est = estimate_impact(_one_treated(comparison=12), DID)
    assert not est.sufficient and est.effect is not None
    assert est.guard_rails_failed[0].endswith(
        "only 13 placebo sets, 20 needed for a two-sided 5% placebo test"
    )
    assert est.as_dict()["interval"] is None and est.as_dict()["estimate"] is None


def test_action_output_and_constant_comparison_are_no_finding():
    panel = synthetic_panel()
    output = panel.assign(numerator=np.where(panel["treated"] * panel["post"], 40, 0))
    est = estimate_impact(output, multiplier=1000)
    assert not est.sufficient and est.effect is None
    assert "counts the action's own output" in est.guard_rails_failed[0]
    flat = panel.assign(
        numerator=np.where(panel["treated"] == 1, panel["numerator"], 0)
    )  # comparison areas all 0, treated areas vary before the start
    est = estimate_impact(flat, multiplier=1000)
    assert est.guard_rails_failed == [
        "the comparison areas have the same value (0.0) in every period: they cannot show "
        "what would have happened without the action"
    ]


def test_a_treated_area_without_enough_periods_before_is_left_out_and_named():
    panel = synthetic_panel()
    late = (panel["area"] == "A00") & (panel["period"] < "P016")
    est = estimate_impact(panel[~late], DID, multiplier=1000)
    assert est.sufficient and est.n_treated == 3
    assert est.notes == ["treated area A00 has 2 period(s) before its start, 3 needed: left out"]
    again = estimate_impact(panel[panel["area"] != "A00"], DID, multiplier=1000)
    assert est.effect == pytest.approx(again.effect, rel=1e-12)
    assert est.as_dict()["reasons"] == est.notes


def test_the_rule_picks_the_method_by_design():
    few = estimate_impact(synthetic_panel(areas=20), multiplier=1000)  # 4 of 20 treated
    assert few.method == "sdid" and "synthetic comparison" in few.method_reason
    # 8 comparison areas leave 4 donors per placebo replication: too few for weights
    thin_pool = estimate_impact(synthetic_panel(), multiplier=1000)
    assert thin_pool.method == "did" and "(14 needed)" in thin_pool.method_reason
    many = estimate_impact(synthetic_panel(areas=40, treated=12), multiplier=1000)
    assert many.method == "did" and many.interval_method == "cluster_robust"
    assert many.placebo_sets is None  # no placebo sets where they are not the headline
    asked = estimate_impact(
        synthetic_panel(areas=40, treated=12),
        ImpactSettings(placebo_always=True, max_placebo_sets=100),
        multiplier=1000,
    )
    assert asked.placebo_sets == 100 and asked.effect == pytest.approx(many.effect)
    thin = estimate_impact(synthetic_panel(areas=6, treated=3), multiplier=1000)
    assert thin.method == "did" and "too few for synthetic weights" in thin.method_reason


PROP99 = "tests/data/california_prop99.csv"


def _prop99() -> pd.DataFrame:
    raw = pd.read_csv(PROP99, sep=";")
    return pd.DataFrame(
        {
            "area": raw["State"],
            "period": raw["Year"],
            "treated": (raw["State"] == "California").astype(int),
            "post": raw["treated"],
            "value": raw["PacksPerCapita"],
        }
    )


@pytest.mark.parametrize(
    ("method", "published", "r_package"),
    [("did", -27.3, -27.349), ("sc", -19.6, -19.620), ("sdid", -15.6, -15.604)],
)
def test_proposition_99_reproduces_the_sdid_paper(method, published, r_package):
    est = estimate_impact(_prop99(), ImpactSettings(method=method))
    assert est.effect == pytest.approx(r_package, abs=0.01)
    assert abs(est.effect - published) < 0.5


def test_proposition_99_auto_is_sdid_with_its_placebo_se_and_donors(tmp_path, capsys):
    est = estimate_impact(_prop99())
    assert est.method == "sdid" and est.interval_method == "placebo_se"
    assert est.sufficient, est.guard_rails_failed
    assert 5 < est.se < 13  # the paper: 8.4 (placebo replications are random)
    assert est.lower == pytest.approx(est.effect - 1.959964 * est.se, rel=1e-6)
    assert est.maryland_level == 3  # one treated state
    donors = est.synthetic.donors
    assert sum(donors.values()) == pytest.approx(1) and "California" not in donors
    assert len(est.synthetic.periods) == len(est.synthetic.synthetic) == 31
    # the pre-trend test is the placebo replications' one, not a cluster-robust test
    assert est.pretrend_p_value >= 0.05
    _prop99().to_csv(tmp_path / "prop99.csv", index=False)
    assert main(["impact", str(tmp_path / "prop99.csv"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["method"] == "sdid" and printed["status"] == "estimated"
    assert printed["estimate"] == pytest.approx(-15.604, abs=0.01)
    assert printed["interval"] == pytest.approx([est.lower, est.upper])
    assert printed["se"] == pytest.approx(est.se) and printed["maryland_level"] == 3
    assert isinstance(printed["reasons"], list)


def _rollout_panel(rollout) -> pd.DataFrame:
    p = rollout.panel
    start = rollout.start
    return pd.DataFrame(
        {
            "area": [f"R{a:03d}" for a in p.area],
            "period": p.period,
            "treated": np.isfinite(start).astype(int),
            "post": (p.period >= start).astype(int),
            "value": p.y,
        }
    )


def test_staggered_roll_outs_headline_covers_the_truth_and_twfe_never_leads():
    """200 simulated roll-outs (three start cohorts and never-treated areas, an effect
    growing 1% a period): the published interval covers the true average effect in at
    least 90% of them, and the headline is never two-way fixed effects."""
    from tests.staggered_sim import simulate

    covered, methods = 0, set()
    for seed in range(200):
        rollout = simulate(
            seed=2000 + seed, n_areas=60, n_periods=20, starts=(5, 10, 15), never_share=0.2
        )
        est = estimate_impact(_rollout_panel(rollout))
        methods.add(est.method)
        # a draw the guard rails hold back (a pre-trend test rejecting by chance) has no
        # interval: it counts as not covered
        covered += est.sufficient and est.lower <= rollout.truth <= est.upper
    assert methods == {"staggered"}
    assert covered >= 180, covered


def test_staggered_with_every_area_treated_in_the_end_uses_the_later_starters():
    from tests.staggered_sim import simulate

    rollout = simulate(seed=5, n_areas=40, n_periods=30, starts=(6, 12, 18), never_share=0.0)
    panel = _rollout_panel(rollout)
    assert panel.groupby("area")["treated"].first().all()  # no area is never treated
    est = estimate_impact(panel)
    assert est.method == "staggered" and est.sufficient, est.guard_rails_failed
    assert est.n_comparison == 0 and len(est.cohorts) == 3
    assert est.notes == [
        "12 period(s) from 18 left out: every area is treated by then, so no area shows "
        "what would have happened without the action"
    ]
    kept = rollout.treated & (rollout.panel.period < 18)
    truth = rollout.effect[kept].mean()  # over the treated rows that are estimated
    assert est.lower <= truth <= est.upper
    early = long_panel(panel[panel["period"] < 18])
    d = (early.frame["treated"] & early.frame["post"]).to_numpy(float)
    twfe = fit(early.codes, d).coef[0]  # the plain two-way fixed effects on the same rows
    assert abs(est.effect - truth) < abs(twfe - truth)
