"""Impact on the demo city: the generator's embedded effect is recovered, placebos cover
zero, the published figures equal statsmodels, and guard rails hold back weak designs."""

from __future__ import annotations

import datetime as dt
import json
import logging

import duckdb
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml
from cim.city import load_city
from cim.cli import main
from cim.impact import estimate_impact
from cim.impact.design import design, load_inputs
from cim.impact.schema import TABLES

from tests.conftest import DEMO_CITY
from tests.test_impact_schema import _declared, _tests_of


@pytest.fixture(scope="module")
def truths() -> dict:
    spec = yaml.safe_load((DEMO_CITY / "demo.yaml").read_text(encoding="utf-8"))
    return {e["action_id"]: e for e in spec["truths"]["action_effects"]}


@pytest.fixture(scope="module")
def impact(demo_build) -> pd.DataFrame:
    con = duckdb.connect(str(demo_build.paths.warehouse), read_only=True)
    try:
        return con.execute("SELECT * FROM marts.fct_action_impact").df()
    finally:
        con.close()


def _row(impact: pd.DataFrame, action: str, indicator: str) -> pd.Series:
    return impact[(impact["action_id"] == action) & (impact["indicator_id"] == indicator)].iloc[0]


def _design(demo_build, action: str, indicator: str):
    con = duckdb.connect(str(demo_build.paths.warehouse), read_only=True)
    inputs = load_inputs(
        con, load_city(DEMO_CITY), dt.date.fromisoformat(demo_build.manifest["as_of"])
    )
    match = next(a for a in inputs.actions if a.action_id == action)
    return con, design(con, match, inputs.indicators.loc[indicator].to_dict(), inputs)


def _expected_effect(demo_build, demo_city, row: pd.Series, truth: dict) -> float:
    """The effect the generator put into this indicator over the post window: affected
    incidents observed x r / (1 + r), per denominator, as the weighted DiD measures it."""
    indicator = next(i for i in demo_city.agenda.indicators if i.id == row["indicator_id"])
    categories = set()
    for term in indicator.numerator:
        if term.feed == truth["feed"]:
            categories |= set((term.where or {}).get("offence_category", [])) & set(
                truth["categories"]
            )
    if not categories:
        return 0.0
    r = float(truth["relative_effect"])
    (affected,) = demo_build.query(
        "SELECT count(*) FROM staging.stg_police_incidents WHERE list_contains(?, area_code) "
        "AND list_contains(?, offence_category) AND strftime(occurred_on, '%Y-%m') BETWEEN ? AND ?",
        [
            truth["treated"],
            sorted(categories),
            row["post_first_period_id"],
            row["post_last_period_id"],
        ],
    )[0]
    (denominator,) = demo_build.query(
        "SELECT sum(denominator) FROM intermediate.int_indicator_values WHERE indicator_id = ? "
        "AND list_contains(?, area_id) AND period_id BETWEEN ? AND ?",
        [
            row["indicator_id"],
            truth["treated"],
            row["post_first_period_id"],
            row["post_last_period_id"],
        ],
    )[0]
    return indicator.multiplier * affected * r / (1 + r) / denominator


def test_embedded_effect_recovered_and_unaffected_indicators_cover_zero(
    demo_build, demo_city, impact, truths
):
    truth = truths["ACT-014"]
    rows = impact[(impact["action_id"] == "ACT-014") & (impact["result"] == "estimated")]
    assert set(rows["indicator_id"]) == {
        "nuisance_report_rate",
        "property_crime_rate",
        "vandalism_report_rate",
    }
    expected = {
        r["indicator_id"]: _expected_effect(demo_build, demo_city, r, truth)
        for _, r in rows.iterrows()
    }
    assert expected["nuisance_report_rate"] < -0.3  # the effect reaches this indicator
    assert expected["property_crime_rate"] == expected["vandalism_report_rate"] == 0.0
    for _, r in rows.iterrows():
        assert r["effect_lower_95"] <= expected[r["indicator_id"]] <= r["effect_upper_95"], r[
            "indicator_id"
        ]
        assert r["comparison_rule"] == "named in the activity registry"
        assert sorted(r["comparison_area_ids"]) == sorted(truth["comparison"])
        assert r["maryland_level"] == 4 and r["interval_method"] == "placebo_in_space"


def test_effect_on_the_affected_categories_is_minus_twenty_percent(demo_build, truths):
    """The estimator on a panel of only the incident categories the action changed: its
    relative interval covers the generator's relative effect (any panel, not only marts)."""
    truth = truths["ACT-014"]
    con, d = _design(demo_build, "ACT-014", "nuisance_report_rate")
    counts = con.execute(
        "SELECT area_code AS area, strftime(occurred_on, '%Y-%m') AS period, count(*) AS n "
        "FROM staging.stg_police_incidents WHERE list_contains(?, offence_category) GROUP BY ALL",
        [truth["categories"]],
    ).df()
    con.close()
    panel = d.panel().drop(columns="numerator").merge(counts, on=["area", "period"], how="left")
    panel["numerator"] = panel.pop("n").fillna(0)
    est = estimate_impact(panel, d.options(load_city(DEMO_CITY).settings.impact), multiplier=1000)
    assert est.sufficient
    assert est.relative_lower <= truth["relative_effect"] <= est.relative_upper
    assert est.upper < 0  # and it is detected


def test_placebo_action_and_placebo_areas_cover_zero(demo_build, impact, truths):
    placebo = truths["ACT-009"]
    assert float(placebo["relative_effect"]) == 0.0
    rows = impact[(impact["action_id"] == "ACT-009") & (impact["result"] == "estimated")]
    assert len(rows) >= 1
    for r in rows.itertuples():
        assert r.effect_lower_95 <= 0 <= r.effect_upper_95, r.indicator_id
        assert r.finding == "no_detectable_change"
    # placebo in space: untreated comparison areas pretending to start with ACT-014
    con, d = _design(demo_build, "ACT-014", "nuisance_report_rate")
    con.close()
    panel = d.panel()
    fake = sorted(d.displacement)[:4]
    untreated = panel[panel["treated"] == 0].copy()
    moved = d.values[d.values["area_id"].isin(fake)]
    moved = moved[moved["period_id"].isin(untreated["period"])]
    extra = pd.DataFrame(
        {
            "area": moved["area_id"],
            "period": moved["period_id"],
            "treated": 1,
            "post": (moved["period_index"] >= d.first_post).astype(int),
            "numerator": moved["numerator"],
            "denominator": moved["denominator"],
        }
    )
    est = estimate_impact(
        pd.concat([untreated, extra]),
        d.options(load_city(DEMO_CITY).settings.impact),
        multiplier=1000,
    )
    assert est.sufficient and est.lower <= 0 <= est.upper


def test_published_estimate_equals_statsmodels_on_the_same_panel(demo_build, impact):
    row = _row(impact, "ACT-014", "nuisance_report_rate")
    con, d = _design(demo_build, "ACT-014", "nuisance_report_rate")
    con.close()
    df = d.panel()
    df["y"] = df["numerator"] / df["denominator"] * 1000
    df["d"] = df["treated"] * df["post"]
    sm = smf.wls("y ~ d + C(area) + C(period)", data=df, weights=df["denominator"]).fit(
        cov_type="cluster", cov_kwds={"groups": df["area"].astype("category").cat.codes}, use_t=True
    )
    assert row["effect"] == pytest.approx(sm.params["d"], rel=1e-9)
    lower, upper = sm.conf_int().loc["d"]
    assert (row["cluster_lower_95"], row["cluster_upper_95"]) == pytest.approx(
        (lower, upper), rel=1e-7
    )
    assert row["cluster_se"] == pytest.approx(sm.bse["d"], rel=1e-7)


def test_guard_rails_hold_back_weak_designs(impact):
    violent = _row(impact, "ACT-014", "violent_crime_rate")
    assert violent["result"] == "insufficient_evidence" and pd.isna(violent["effect"])
    assert "district level only" in " ".join(violent["guard_rails_failed"])
    before_data = _row(impact, "ACT-001", "youth_participation_share")
    assert "before the start" in " ".join(before_data["guard_rails_failed"])
    # the youth centre's participation is 0 wherever and whenever the centre is not open:
    # an "effect" on it would be the action's own participants
    own_output = _row(impact, "ACT-005", "youth_participation_share")
    assert own_output["result"] == "insufficient_evidence" and pd.isna(own_output["effect"])
    assert "counts the action's own output" in " ".join(own_output["guard_rails_failed"])
    insufficient = impact[impact["result"] == "insufficient_evidence"]
    assert insufficient["effect"].isna().all() and insufficient["effect_lower_95"].isna().all()
    estimated = impact[impact["result"] == "estimated"]
    assert (estimated["effect_lower_95"] <= estimated["effect"]).all()
    assert (estimated["effect"] <= estimated["effect_upper_95"]).all()
    assert estimated["maryland_level"].between(3, 4).all()
    assert estimated["pretrend_p_value"].ge(0.05).all()


def test_event_study_trends_and_publication(demo_build, impact):
    file = demo_build.paths.published / "current.duckdb"
    con = duckdb.connect(str(file), read_only=True)
    try:
        published = con.execute("SELECT count(*) FROM marts.fct_action_impact").fetchone()[0]
        events = con.execute(
            "SELECT event_bin, first_offset, effect, is_reference "
            "FROM marts.fct_action_event_study WHERE action_id = 'ACT-014' "
            "AND indicator_id = 'nuisance_report_rate' ORDER BY event_bin"
        ).fetchall()
        groups = con.execute(
            "SELECT DISTINCT area_group FROM marts.fct_action_trends WHERE action_id = 'ACT-014'"
        ).fetchall()
        hidden = con.execute(
            "SELECT count(*) FROM marts.fct_action_trends WHERE suppressed AND value IS NOT NULL"
        ).fetchone()[0]
    finally:
        con.close()
    assert published == len(impact)
    reference = [e for e in events if e[3]]
    assert reference == [(-1, -3, 0.0, True)]
    assert [e[0] for e in events] == list(range(-8, 8))  # 2 years each side, quarterly bins
    assert {g[0] for g in groups} == {"treated", "comparison", "displacement"}
    assert hidden == 0


def test_cli_on_a_csv_panel_prints_the_estimate(demo_build, tmp_path, monkeypatch, capsys, impact):
    monkeypatch.setenv("CIM_HOME", str(demo_build.paths.home))
    monkeypatch.setenv("CIM_AS_OF", demo_build.manifest["as_of"])
    saved = tmp_path / "panel.csv"
    code = main(
        [
            "impact",
            "--action",
            "ACT-014",
            "--indicator",
            "nuisance_report_rate",
            "--save-panel",
            str(saved),
        ]
    )
    assert code == 0
    row = _row(impact, "ACT-014", "nuisance_report_rate")
    study = pd.read_csv(saved).rename(columns={"area": "buurt", "numerator": "feiten"})
    study.to_csv(saved, index=False)
    capsys.readouterr()
    code = main(
        [
            "impact",
            str(saved),
            "--area",
            "buurt",
            "--numerator",
            "feiten",
            "--multiplier",
            "1000",
            "--event-bin",
            "3",
            "--min-pre-periods",
            "12",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"weighted): {row['effect']:,.4f}" in out
    assert f"[{row['effect_lower_95']:,.4f}, {row['effect_upper_95']:,.4f}]" in out
    assert "Maryland Scientific Methods Scale level 4" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("buurt,periode\nA,2024-01\n")
    assert main(["impact", str(bad)]) == 2
    assert "lacks column(s) ['area', 'period', 'treated', 'post']" in capsys.readouterr().err


def test_dbt_tests_of_the_impact_tables_ran_once_on_the_fresh_tables(demo_build):
    """The impact asset ran `dbt test --select source:impact` after writing: every test of
    the declaration is a passed check; the mart's dbt build (before the tables existed on
    this fresh warehouse) ran none of them."""
    impact_keys = {("marts", t) for t in TABLES}
    evaluations = [
        e
        for e in demo_build.result.get_asset_check_evaluations()
        if tuple(e.asset_key.path) in impact_keys
    ]
    names = [e.check_name for e in evaluations]
    declared = sum(1 for t in _declared().values() for _ in _tests_of(t))
    assert len(names) == len(set(names)) == declared
    assert {
        "impact_no_number_without_an_estimate",
        "trends_suppressed_groups_have_no_value",
    } <= set(names)
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]
    observed = [
        e
        for e in demo_build.result.get_asset_observation_events()
        if tuple(e.asset_key.path) in impact_keys
    ]
    assert observed == []


def test_a_broken_impact_table_fails_its_dbt_check(demo_build, tmp_path):
    from cim.defs.dbt.project import DBT_EXECUTABLE, city_dbt_project
    from cim.defs.impact.assets import build_impact_assets, run_impact_source_tests
    from dagster_dbt import DbtCliResource

    paths = demo_build.copy_to(tmp_path)
    con = duckdb.connect(str(paths.warehouse))
    con.execute("INSERT INTO marts.fct_action_impact SELECT * FROM marts.fct_action_impact LIMIT 1")
    con.execute(
        "UPDATE marts.fct_action_impact SET result = 'maybe' WHERE action_id = 'ACT-001' "
        "AND indicator_id = 'youth_participation_share'"
    )
    con.execute(
        "UPDATE marts.fct_action_trends SET suppressed = true WHERE rowid = "
        "(SELECT min(rowid) FROM marts.fct_action_trends WHERE value IS NOT NULL)"
    )
    con.close()
    project = city_dbt_project(load_city(DEMO_CITY), paths.warehouse)
    checks = list(build_impact_assets(project).check_specs)
    results = list(
        run_impact_source_tests(
            DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE),
            paths.warehouse,
            json.loads(project.manifest_path.read_text(encoding="utf-8")),
            checks,
            logging.getLogger(__name__),
        )
    )
    assert len(results) == len(checks)
    assert {r.check_name for r in results if not r.passed} == {
        "source_unique_combination_impact_fct_action_impact_action_id__indicator_id",
        "source_accepted_values_impact_fct_action_impact_result__estimated__insufficient_evidence",
        "trends_suppressed_groups_have_no_value",
    }


def test_synthetic_comparison_is_published_with_its_donors(demo_build, impact):
    """ACT-021 (two target areas, a wide donor pool) is estimated by synthetic
    difference-in-differences: its donors' weights sum to 1 and are comparison areas,
    its synthetic line is in the trends, and the estimate equals the estimator's on the
    same panel."""
    rows = impact[(impact["action_id"] == "ACT-021") & (impact["result"] == "estimated")]
    assert len(rows) >= 1 and set(rows["method"]) == {"sdid"}
    assert set(rows["interval_method"]) == {"placebo_se"}
    file = demo_build.paths.published / "current.duckdb"
    con = duckdb.connect(str(file), read_only=True)
    try:
        donors = con.execute(
            "SELECT indicator_id, area_id, weight FROM marts.fct_action_donors "
            "WHERE action_id = 'ACT-021'"
        ).df()
        synthetic = con.execute(
            "SELECT indicator_id, count(*) FROM marts.fct_action_trends "
            "WHERE action_id = 'ACT-021' AND area_group = 'synthetic' GROUP BY ALL"
        ).fetchall()
    finally:
        con.close()
    for r in rows.itertuples():
        mine = donors[donors["indicator_id"] == r.indicator_id]
        assert mine["weight"].sum() == pytest.approx(1.0)
        assert set(mine["area_id"]) <= set(r.comparison_area_ids)
        assert r.effect_lower_95 < r.effect < r.effect_upper_95 and r.se > 0
    assert {i for i, _ in synthetic} == set(rows["indicator_id"])
    con, d = _design(demo_build, "ACT-021", rows.iloc[0]["indicator_id"])
    con.close()
    est = estimate_impact(
        d.panel(), d.options(load_city(DEMO_CITY).settings.impact), float(d.indicator["multiplier"])
    )
    assert est.method == "sdid" and est.effect == pytest.approx(rows.iloc[0]["effect"], rel=1e-12)
