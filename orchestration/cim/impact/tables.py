"""The impact marts: one row per action and indicator, its event study and its trends."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pandas as pd

from cim.city import City
from cim.impact.design import Design, design, load_inputs
from cim.impact.estimator import Estimate, estimate_impact
from cim.impact.schema import TABLES
from cim.impact.wdd import Counts, weighted_displacement_difference


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: one action judged on several indicators gets no
    extra chances of a lucky 'finding'. A missing p-value counts as 1."""
    p_values = [p if p is not None and math.isfinite(p) else 1.0 for p in p_values]
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _findings(impact: list[dict], alpha: float = 0.05) -> None:
    """A change is a finding when its Holm-adjusted p-value is below ``alpha``."""
    for action_id in {row["action_id"] for row in impact}:
        rows = [r for r in impact if r["action_id"] == action_id and r.get("effect") is not None]
        for row, adjusted in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
            row["p_value_holm"] = adjusted
            if adjusted >= alpha:
                row["finding"] = "no_detectable_change"
            else:
                better = (row["effect"] < 0) == (row["desired_direction"] == "down")
                row["finding"] = "improvement" if better else "deterioration"


def _clean(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _displacement(d: Design) -> dict:
    """WDD over equally long windows right before and after the start (counts only)."""
    if d.indicator["indicator_kind"] not in ("rate", "count") or not d.displacement:
        return {}
    length = min(d.pre[1] - d.pre[0], d.post[1] - d.post[0]) + 1
    v = d.values
    before = v["period_index"].between(d.pre[1] - length + 1, d.pre[1])
    after = v["period_index"].between(d.post[0], d.post[0] + length - 1)

    def counts(group: list[str]) -> Counts:
        mine = v["area_id"].isin(group)
        return Counts(
            v.loc[mine & before, "numerator"].sum(), v.loc[mine & after, "numerator"].sum()
        )

    result = weighted_displacement_difference(
        counts(d.treated), counts(d.displacement), counts(d.comparison)
    )
    if result is None:
        return {}
    return {
        "wdd": result.wdd,
        "wdd_lower_95": result.wdd_lower,
        "wdd_upper_95": result.wdd_upper,
        "displacement": result.displacement,
        "displacement_lower_95": result.displacement_lower,
        "displacement_upper_95": result.displacement_upper,
    }


def _trends(d: Design, period_ids: dict) -> list[dict]:
    survey = d.indicator["indicator_kind"].startswith("survey")
    floor = d.indicator["min_respondents"] if survey else d.indicator["min_cell"]
    lo, hi = d.pre[0], d.post[1]
    rows = []
    for group, members in [
        ("treated", d.treated),
        ("comparison", d.comparison),
        ("displacement", d.displacement),
    ]:
        v = d.values[d.values["area_id"].isin(members) & d.values["period_index"].between(lo, hi)]
        for (index, start), g in v.groupby(["period_index", "start_date"]):
            if survey:
                value = (g["value"] * g["weight"]).sum() / g["weight"].sum()
            elif d.indicator["indicator_kind"] == "count":
                # the group's mean count per area: groups of different sizes compare
                value = g["numerator"].sum() / len(g) * d.indicator["multiplier"]
            else:
                value = g["numerator"].sum() / g["denominator"].sum() * d.indicator["multiplier"]
            hidden = bool(g["n"].sum() < floor)
            rows.append(
                {
                    "period_id": period_ids[index],
                    "period_start": start,
                    "area_group": group,
                    "value": None if hidden else value,
                    "suppressed": hidden,
                }
            )
    return rows


def analyse(con: duckdb.DuckDBPyConnection, city: City, as_of: dt.date) -> dict[str, pd.DataFrame]:
    """Every action x linked indicator: design, estimate, tables (nothing written)."""
    inputs = load_inputs(con, city, as_of)
    impact, events, trends, donors = [], [], [], []
    for action in inputs.actions:
        for indicator_id in action.indicator_ids:
            indicator = inputs.indicators.loc[indicator_id].to_dict()
            d = design(con, action, indicator, inputs)
            ids = {"action_id": action.action_id, "indicator_id": indicator_id}
            row = {
                **ids,
                "action_name": action.action_name,
                "goal_id": action.goal_id,
                "desired_direction": indicator["desired_direction"],
                "area_level": d.level,
                "analysed_as_of": as_of,
                "result": "insufficient_evidence",
                "guard_rails_failed": list(d.problems),
            }
            if not d.problems:
                try:
                    row |= _estimated(d, inputs.settings, events, trends, donors, ids)
                except (ValueError, ArithmeticError, KeyError) as exc:
                    # one pair that cannot be estimated must not hold back the others
                    row["guard_rails_failed"] = [f"could not be estimated: {exc}"]
            impact.append(row)
    _findings(impact)
    return {
        "fct_action_impact": _frame("fct_action_impact", impact),
        "fct_action_event_study": _frame("fct_action_event_study", events),
        "fct_action_trends": _frame("fct_action_trends", trends),
        "fct_action_donors": _frame("fct_action_donors", donors),
    }


def _synthetic_trend(d: Design, est: Estimate) -> list[dict]:
    """The synthetic comparison per period, hidden where the donors it leans on hold
    fewer cases than the publication rule (it would show their own small cells)."""
    survey = d.indicator["indicator_kind"].startswith("survey")
    floor = d.indicator["min_respondents"] if survey else d.indicator["min_cell"]
    by_period = d.values.drop_duplicates("period_id").set_index("period_id")["start_date"]
    donors = d.values[d.values["area_id"].isin(est.synthetic.donors)]
    cases = donors.groupby("period_id")["n"].sum()
    rows = []
    for period, value in zip(est.synthetic.periods, est.synthetic.synthetic, strict=True):
        hidden = bool(cases.get(period, 0) < floor)
        rows.append(
            {
                "period_id": period,
                "period_start": by_period[period],
                "area_group": "synthetic",
                "value": None if hidden else value,
                "suppressed": hidden,
            }
        )
    return rows


def _estimated(d: Design, settings, events: list, trends: list, donors: list, ids: dict) -> dict:
    opt = d.options(settings)
    per_bin = opt.event_bin
    est = estimate_impact(d.panel(), opt, multiplier=float(d.indicator["multiplier"]))
    v = d.values.drop_duplicates("period_index").set_index("period_index")["period_id"]
    period_ids = v.to_dict()
    trends += [{**ids, **t} for t in _trends(d, period_ids)]
    if est.sufficient and est.synthetic is not None:
        trends += [{**ids, **t} for t in _synthetic_trend(d, est)]
        donors += [{**ids, "area_id": a, "weight": w} for a, w in est.synthetic.donors.items()]
    if est.sufficient and est.method == "did":
        events.append(
            {
                **ids,
                "event_bin": -1,
                "first_offset": -per_bin,
                "last_offset": -1,
                "effect": 0.0,
                "lower_95": None,
                "upper_95": None,
                "is_reference": True,
            }
        )
        events += [
            {
                **ids,
                "event_bin": b.bin,
                "first_offset": b.first_offset,
                "last_offset": b.last_offset,
                "effect": b.coef,
                "lower_95": b.lower,
                "upper_95": b.upper,
                "is_reference": False,
            }
            for b in est.event_study
        ]
    sufficient = est.sufficient
    row = {
        "treated_area_ids": d.treated,
        "comparison_area_ids": d.comparison,
        "comparison_rule": d.comparison_rule,
        "displacement_area_ids": d.displacement,
        "transition_period_id": period_ids.get(d.transition),
        "pre_first_period_id": period_ids.get(d.pre[0]),
        "pre_last_period_id": period_ids.get(d.pre[1]),
        "post_first_period_id": period_ids.get(d.post[0]),
        "post_last_period_id": period_ids.get(d.post[1]),
        "pre_periods": est.pre_periods,
        "post_periods": est.post_periods,
        "treated_pre_value": est.treated_pre,
        "treated_post_value": est.treated_post,
        "comparison_pre_value": est.comparison_pre,
        "comparison_post_value": est.comparison_post,
        "before_after_change": est.before_after_change,
        "result": "estimated" if sufficient else "insufficient_evidence",
        "method": est.method,
        "method_reason": est.method_reason,
        "notes": est.notes,
        "guard_rails_failed": est.guard_rails_failed,
        "maryland_level": est.maryland_level,
        "placebo_sets": est.placebo_sets,
        "pretrend_p_value": est.pretrend_p_value,
    }
    if sufficient:  # a number only where the guard rails hold
        row |= {
            "cluster_se": est.cluster_se,
            "cluster_lower_95": est.cluster_lower,
            "cluster_upper_95": est.cluster_upper,
            "placebo_lower_95": est.placebo_lower,
            "placebo_upper_95": est.placebo_upper,
            "effect": est.effect,
            "se": est.se,
            "placebo_se": est.placebo_se,
            "pre_fit_rmse": est.synthetic.pre_rmse if est.synthetic else None,
            "effect_lower_95": est.lower,
            "effect_upper_95": est.upper,
            "p_value": est.p_value,
            "interval_method": est.interval_method,
            "relative_effect": est.relative_effect,
            "relative_lower_95": est.relative_lower,
            "relative_upper_95": est.relative_upper,
            **_displacement(d),
        }
    return row


def _frame(table: str, rows: list[dict]) -> pd.DataFrame:
    """The rows as declared (``cim.impact.schema``): an undeclared name raises."""
    declared = TABLES[table]
    frame = pd.DataFrame(declared.rows(rows), columns=declared.column_names).astype(object)
    return frame.map(_clean)


def write(con: duckdb.DuckDBPyConnection, frames: dict[str, pd.DataFrame]) -> None:
    """Replace the three tables in the ``marts`` schema in one transaction."""
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute("BEGIN")
    try:
        _replace(con, frames)
    except Exception:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _replace(con: duckdb.DuckDBPyConnection, frames: dict[str, pd.DataFrame]) -> None:
    for table, frame in frames.items():
        declared = TABLES[table]
        if list(frame.columns) != declared.column_names:
            raise ValueError(f"marts.{table}: the frame's columns are not the declared ones")
        con.execute(declared.ddl())
        for statement in declared.comments():
            con.execute(statement)
        if len(frame):
            con.register("impact_rows", frame)
            con.execute(f"INSERT INTO marts.{table} BY NAME SELECT * FROM impact_rows")
            con.unregister("impact_rows")
