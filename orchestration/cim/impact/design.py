"""Which areas and periods an action's impact on an indicator is judged on.

For each action in the registry and each indicator of its goal: the treated areas, the
comparison areas (named in the registry, else matched), the neighbouring areas where the
problem could move to, and whole-year windows before and after the start.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from cim.city import City
from cim.impact.adjacency import load_neighbours
from cim.impact.estimator import synthetic_fits
from cim.impact.settings import MIN_PLACEBO_SETS, ImpactSettings

# a count has no denominator: each area weighs the same (weight 1)
_VALUES = """
    SELECT v.area_id, v.period_id, v.period_index, p.start_date, v.numerator, v.denominator,
           v.value, v.n, coalesce(v.n_effective, v.denominator, 1.0) AS weight
    FROM intermediate.int_indicator_values AS v
    JOIN intermediate.int_periods AS p USING (period_id)
    WHERE v.indicator_id = ? AND v.area_level = ? AND p.end_date <= ? AND v.value IS NOT NULL
"""


@dataclass(frozen=True)
class Action:
    action_id: str
    action_name: str
    goal_id: str
    indicator_ids: list[str]
    targets: list[str]
    comparisons: list[str]
    start: dt.date
    end: dt.date | None


@dataclass
class Design:
    action: Action
    indicator: dict
    level: str | None = None
    treated: list[str] = field(default_factory=list)
    comparison: list[str] = field(default_factory=list)
    comparison_rule: str | None = None
    displacement: list[str] = field(default_factory=list)
    first_post: int | None = None  # period_index of the first period after the start
    transition: int | None = None  # the period the action started in, left out
    per_year: int = 1  # periods per year of the indicator's cadence
    pre: tuple[int, int] | None = None  # first and last period_index
    post: tuple[int, int] | None = None
    values: pd.DataFrame | None = None
    problems: list[str] = field(default_factory=list)

    def options(self, settings: ImpactSettings) -> ImpactSettings:
        """The city's settings for this cadence: at least a year before the start; unless
        the city chose a bin width, monthly data in quarterly event-study bins (monthly
        points are mostly noise)."""
        return settings.replace(
            min_pre_periods=max(settings.min_pre_periods, self.per_year),
            event_bin=settings.event_bin or (self.per_year // 4 if self.per_year >= 4 else 1),
        )

    def panel(self) -> pd.DataFrame:
        """The long panel of treated and comparison areas over both windows."""
        v = self.values
        in_window = v["period_index"].between(*self.pre) | v["period_index"].between(*self.post)
        rows = v[in_window & v["area_id"].isin(self.treated + self.comparison)]
        # surveys and counts are values per area (a count: the area's total, weight 1);
        # rates carry numerator and denominator, weighted by the denominator
        kind = self.indicator["indicator_kind"]
        survey = kind.startswith("survey") or kind == "count"
        return pd.DataFrame(
            {
                "area": rows["area_id"],
                "period": rows["period_id"],
                "treated": rows["area_id"].isin(self.treated).astype(int),
                "post": (rows["period_index"] >= self.first_post).astype(int),
                **(
                    {"value": rows["value"], "weight": rows["weight"]}
                    if survey
                    else {"numerator": rows["numerator"], "denominator": rows["denominator"]}
                ),
            }
        ).reset_index(drop=True)


@dataclass(frozen=True)
class Inputs:
    """What every design of one run shares."""

    actions: list[Action]
    indicators: pd.DataFrame  # marts.dim_indicator, indexed by indicator_id
    areas: pd.DataFrame  # area_id, area_level, area_depth
    neighbours: dict[str, set[str]]
    settings: ImpactSettings
    as_of: dt.date


def load_inputs(con: duckdb.DuckDBPyConnection, city: City, as_of: dt.date) -> Inputs:
    boundaries = city.settings.boundaries_file
    return Inputs(
        actions=load_actions(con),
        indicators=con.execute("SELECT * FROM marts.dim_indicator")
        .df()
        .set_index("indicator_id", drop=False),
        areas=con.execute("SELECT area_id, area_level, area_depth FROM marts.dim_area").df(),
        neighbours=load_neighbours(city.folder / boundaries if boundaries else None),
        settings=city.settings.impact,
        as_of=as_of,
    )


def load_actions(con: duckdb.DuckDBPyConnection) -> list[Action]:
    rows = con.execute(
        "SELECT action_id, action_name, goal_id, linked_indicator_ids, target_area_ids, "
        "comparison_area_ids, start_date, end_date FROM marts.fct_activities "
        "WHERE start_date IS NOT NULL AND len(target_area_ids) > 0 ORDER BY action_id"
    ).fetchall()
    return [
        Action(
            r[0],
            r[1],
            r[2],
            list(r[3] or []),
            list(r[4]),
            list(r[5] or []),
            _date(r[6]),
            _date(r[7]),
        )
        for r in rows
    ]


def _date(value) -> dt.date | None:
    return value.date() if isinstance(value, dt.datetime) else value


def _whole_years(length: int, per_year: int) -> int:
    """Windows of whole years: seasonality then weighs the same before and after."""
    return length - length % per_year if length >= per_year else length


def _windows(d: Design, con, settings: ImpactSettings, per_year: int) -> None:
    cadence = d.indicator["cadence"]
    start = d.action.start
    period = con.execute(
        "SELECT period_index, start_date FROM intermediate.int_periods "
        "WHERE period_type = ? AND start_date <= ? AND end_date >= ?",
        [cadence, start, start],
    ).fetchone()
    if period is None:
        d.problems.append(f"the start {start} is outside the calendar")
        return
    index, period_start = period[0], _date(period[1])
    d.first_post = index if period_start == start else index + 1
    d.transition = None if period_start == start else index
    last_pre = index - 1
    have = d.values.loc[d.values["area_id"].isin(d.treated), "period_index"]
    first_pre = max(int(have.min()), last_pre - settings.pre_years * per_year + 1)
    length = _whole_years(last_pre - first_pre + 1, per_year)
    d.pre = (last_pre - length + 1, last_pre) if length > 0 else None
    last = int(have.max())
    if d.action.end is not None:
        end = con.execute(
            "SELECT period_index FROM intermediate.int_periods "
            "WHERE period_type = ? AND start_date <= ? AND end_date >= ?",
            [cadence, d.action.end, d.action.end],
        ).fetchone()
        last = min(last, end[0]) if end else last
    last = min(last, d.first_post + settings.post_years * per_year - 1)
    length = _whole_years(last - d.first_post + 1, per_year)
    d.post = (d.first_post, d.first_post + length - 1) if length > 0 else None
    if d.pre is None:
        d.problems.append(f"no {d.indicator['indicator_id']} data before the start ({start})")
    if d.post is None:
        d.problems.append(f"no {d.indicator['indicator_id']} data after the start yet")


def _pre_features(values: pd.DataFrame, pre: tuple[int, int]) -> pd.DataFrame:
    """Weighted pre-period level and linear trend per area (and for the treated group)."""
    rows = values[values["period_index"].between(*pre)]

    def features(g: pd.DataFrame) -> pd.Series:
        w, t, y = g["weight"].to_numpy(float), g["period_index"].to_numpy(float), g["value"]
        level = np.average(y, weights=w)
        tc = t - np.average(t, weights=w)
        slope = (w * tc * (y - level)).sum() / (w * tc * tc).sum() if len(g) > 1 else 0.0
        return pd.Series({"level": level, "slope": slope})

    return rows.groupby("area_id")[["weight", "period_index", "value"]].apply(features)


def _match(d: Design, pool: list[str], settings: ImpactSettings) -> None:
    """The untreated areas closest to the treated group in pre-period level and trend,
    each feature in units of its spread over the pool: similar before means a credible
    stand-in after."""
    feats = _pre_features(d.values, d.pre)
    treated_rows = d.values[d.values["area_id"].isin(d.treated)].copy()
    treated_rows["area_id"] = "__treated__"
    target = _pre_features(treated_rows, d.pre).iloc[0]
    candidates = feats.loc[feats.index.isin(pool)]
    n = len(d.treated)
    k = max(settings.min_comparison_areas, settings.comparison_areas_per_treated * n)
    while k < len(candidates) and math.comb(n + k, n) < MIN_PLACEBO_SETS:
        k += 1  # enough placebo sets for a bounded 95% interval when clusters are few
    spread = candidates.std(ddof=0).replace(0, 1).fillna(1)
    distance = (((candidates - target) / spread) ** 2).sum(axis=1) ** 0.5
    d.comparison = sorted(distance.sort_values(kind="stable").index[:k].tolist())
    d.comparison_rule = (
        f"matched: the {len(d.comparison)} untreated areas closest in level and trend "
        f"over the {d.pre[1] - d.pre[0] + 1} periods before the start"
    )


def _synthetic_design(n_treated: int, n_pool: int, settings: ImpactSettings) -> bool:
    """Whether the estimator's rule (``choose_method``) will call for synthetic weights
    on this many treated areas and clean comparison areas (one action: one start)."""
    if settings.method in ("sc", "sdid"):
        return True
    if settings.method != "auto":
        return False
    clusters = n_treated + n_pool >= settings.min_clusters
    if clusters and n_treated >= settings.min_treated_clusters:
        return False
    return synthetic_fits(n_treated, n_pool, settings)


def design(
    con: duckdb.DuckDBPyConnection, action: Action, indicator: dict, inputs: Inputs
) -> Design:
    """Areas, windows and data of one action x indicator; ``problems`` when there are none."""
    d = Design(action, indicator)
    areas, others, neighbours = inputs.areas, inputs.actions, inputs.neighbours
    settings, as_of = inputs.settings, inputs.as_of
    level_of = dict(zip(areas["area_id"], areas["area_level"], strict=True))
    levels = {level_of.get(a) for a in action.targets} - {None}
    if len(levels) != 1:
        d.problems.append("the action's target areas are unknown or of different levels")
        return d
    d.level = levels.pop()
    depth = dict(zip(areas["area_level"], areas["area_depth"], strict=False))
    if depth[indicator["lowest_level"]] < depth[d.level]:
        d.problems.append(
            f"{indicator['indicator_id']} is measured down to "
            f"{indicator['lowest_level']} level only, not per {d.level}"
        )
        return d
    d.values = con.execute(_VALUES, [indicator["indicator_id"], d.level, as_of]).df()
    have = set(d.values["area_id"])
    d.treated = sorted(a for a in action.targets if a in have)
    if not d.treated:
        d.problems.append(f"no {indicator['indicator_id']} data for the target areas")
        return d
    per_year = int(
        con.execute(
            "SELECT any_value(periods_per_year) FROM intermediate.int_periods "
            "WHERE period_type = ?",
            [indicator["cadence"]],
        ).fetchone()[0]
    )
    d.per_year = per_year
    _windows(d, con, settings, per_year)
    if d.problems:
        return d
    near = set().union(*(neighbours.get(a, set()) for a in d.treated)) - set(d.treated)
    if action.comparisons:
        d.comparison = sorted(a for a in action.comparisons if a in have and a not in d.treated)
        d.comparison_rule = "named in the activity registry"
    else:
        # areas another running action targets are not clean stand-ins
        busy = {
            a
            for o in others
            if o.action_id != action.action_id and (o.end is None or o.end >= action.start)
            for a in o.targets
        }
        pool = sorted(have - set(d.treated) - near - busy)
        if _synthetic_design(len(d.treated), len(pool), settings):
            # the synthetic weights choose among all clean areas: matching first would
            # only take away the donors that fit best
            d.comparison = pool
            d.comparison_rule = (
                f"donor pool: the {len(pool)} untreated areas that neither border the "
                "treated areas nor take part in another running action"
            )
        else:
            _match(d, pool, settings)
    d.displacement = sorted((near & have) - set(d.comparison))
    return d
