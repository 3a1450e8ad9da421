"""``cim impact``: the estimator on a CSV panel (or on an action of the built warehouse).

Published studies come as a panel file with their own column names; ``--area``,
``--period``... map them, so the figures can be compared with the study's own.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import get_args

import pandas as pd
from pydantic import ValidationError

from cim import settings
from cim.impact.estimator import METHOD_NAMES, Estimate, estimate_impact
from cim.impact.panel import PanelError, long_panel
from cim.impact.reading import ROLES, read_panel
from cim.impact.settings import ImpactSettings

# every setting the estimator reads can be overridden: --min-clusters 2 ...
_OVERRIDES = {
    name: field
    for name, field in ImpactSettings.model_fields.items()
    if name not in ImpactSettings.DESIGN_ONLY
}
_ROLES = ROLES


def add_parser(commands) -> None:
    cmd = commands.add_parser(
        "impact",
        help="difference-in-differences, event study and guard rails on a long panel",
        description=__doc__.splitlines()[0],
    )
    cmd.add_argument("panel", nargs="?", help="CSV panel (docs/impact.md); omit to use an action")
    cmd.add_argument("--action", help="without a panel: this action of the warehouse")
    cmd.add_argument("--indicator", help="without a panel: this indicator of the action")
    cmd.add_argument("--save-panel", type=Path, help="write the panel used to this CSV")
    for role in _ROLES:
        cmd.add_argument(
            f"--{role}",
            dest=f"col_{role}",
            metavar="COLUMN",
            help=f"{role} column (default {role})",
        )
    cmd.add_argument(
        "--sep", help="the panel's delimiter (default: sniffed among , ; tab |); tab as '\\t'"
    )
    cmd.add_argument("--multiplier", type=float, default=1.0, help="rate = num / den x this")
    for name, field in _OVERRIDES.items():
        flag = f"--{name.replace('_', '-')}"
        hint = f"{field.description}; overrides city.yaml's impact.{name}" + (
            "" if field.default is None else f" (default {field.default})"
        )
        if field.annotation is bool:
            cmd.add_argument(flag, action=argparse.BooleanOptionalAction, help=hint)
        elif get_args(field.annotation) and all(
            isinstance(a, str) for a in get_args(field.annotation)
        ):
            cmd.add_argument(flag, choices=get_args(field.annotation), help=hint)
        else:
            cmd.add_argument(flag, type=float if field.annotation is float else int, help=hint)
    cmd.add_argument("--json", action="store_true", help="print the estimate as JSON")
    cmd.set_defaults(run=run)


def _from_warehouse(action: str | None, indicator: str | None) -> tuple:
    """The panel the pipeline used for an action x indicator (the first estimated one
    when none is named)."""
    import duckdb

    from cim.city import load_city
    from cim.impact.design import design, load_inputs

    city = load_city(settings.city_dir())
    with duckdb.connect(str(settings.paths().warehouse), read_only=True) as con:
        if not (action and indicator):
            row = con.execute(
                "SELECT action_id, indicator_id FROM marts.fct_action_impact "
                "WHERE result = 'estimated' ORDER BY action_id, indicator_id LIMIT 1"
            ).fetchone()
            if row is None:
                raise PanelError("no estimated action in the warehouse: run `make pipeline`")
            action, indicator = row
        inputs = load_inputs(con, city, settings.as_of())
        match = [a for a in inputs.actions if a.action_id == action]
        if not match or indicator not in inputs.indicators.index:
            raise PanelError(f"unknown action {action!r} or indicator {indicator!r}")
        d = design(con, match[0], inputs.indicators.loc[indicator].to_dict(), inputs)
        if d.problems:
            raise PanelError(f"{action} x {indicator}: {'; '.join(d.problems)}")
        options = d.options(inputs.settings)
        return d.panel(), float(d.indicator["multiplier"]), f"{action} x {indicator}", options


def _fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{digits}f}"


def _method_lines(est: Estimate) -> list[str]:
    """The headline method's own figures."""
    if est.method in ("sc", "sdid") and est.effect is not None:
        lines = [f"{METHOD_NAMES[est.method].capitalize()}: {_fmt(est.effect, 4)}"]
        if est.placebo_se is not None:
            lines.append(
                f"  placebo standard error ({est.placebo_sets} replications): "
                f"se {_fmt(est.placebo_se, 4)}, 95% [{_fmt(est.lower, 4)}, "
                f"{_fmt(est.upper, 4)}], p {_fmt(est.p_value, 4)}; randomisation p "
                f"{_fmt(est.placebo_p_value, 4)}"
            )
        if est.synthetic is not None:
            donors = ", ".join(f"{a} {w:.3f}" for a, w in list(est.synthetic.donors.items())[:8])
            lines += [
                f"  donor weights: {donors}" + (" ..." if len(est.synthetic.donors) > 8 else ""),
                f"  fit before the start: root mean square gap {_fmt(est.synthetic.pre_rmse)}",
            ]
        return lines
    if est.method == "staggered" and est.effect is not None:
        cohorts = ", ".join(f"{p}: {n}" for p, n in est.cohorts.items())
        return [
            f"Imputation estimate (each treated area and period against areas not yet "
            f"treated): {_fmt(est.effect, 4)}",
            f"  cluster-robust by area: se {_fmt(est.se, 4)}, 95% [{_fmt(est.lower, 4)}, "
            f"{_fmt(est.upper, 4)}], p {_fmt(est.p_value, 4)}",
            f"  start cohorts (first period after the start: areas): {cohorts}",
        ]
    if est.cluster_se is None:
        return []
    return [
        f"Difference-in-differences (two-way fixed effects, weighted): {_fmt(est.effect, 4)}",
        f"  cluster-robust by area: se {_fmt(est.cluster_se, 4)}, 95% "
        f"[{_fmt(est.cluster_lower, 4)}, {_fmt(est.cluster_upper, 4)}], "
        f"p {_fmt(est.cluster_p_value, 4)}",
        f"  the same with fixed effects nested in clusters (reghdfe, xtreg fe): "
        f"se {_fmt(est.cluster_se_nested, 4)}",
        f"  placebo in space ({est.placebo_sets or 0} sets): 95% "
        f"[{_fmt(est.placebo_lower, 4)}, {_fmt(est.placebo_upper, 4)}] (test inversion), "
        f"p {_fmt(est.placebo_p_value, 4)}; placebo se {_fmt(est.placebo_se, 4)}",
    ]


_INTERVALS = {
    "cluster_robust": "cluster-robust",
    "placebo_in_space": "placebo-in-space (test inversion)",
    "placebo_se": "placebo standard error",
}


def report(est: Estimate, source: str, dropped: dict[str, int] | None = None) -> str:
    lines = [
        f"Panel: {source}: {est.n_treated} treated and {est.n_comparison} comparison areas, "
        f"{est.pre_periods} periods before and {est.post_periods} after the start",
    ]
    if dropped:
        lines.append("Rows left out: " + ", ".join(f"{n} {why}" for why, n in dropped.items()))
    lines += [
        f"Treated areas before -> after: {_fmt(est.treated_pre)} -> {_fmt(est.treated_post)}"
        f" (change {_fmt(est.before_after_change)})",
        f"Comparison areas before -> after: {_fmt(est.comparison_pre)} -> "
        f"{_fmt(est.comparison_post)}",
    ]
    if est.method:
        lines.append(f"Method: {METHOD_NAMES[est.method]}, because {est.method_reason}")
    lines += _method_lines(est)
    if est.pretrend_p_value is not None:
        lines.append(
            f"  pre-trend test ({_INTERVALS.get(est.interval_method, '-')}): "
            f"p {_fmt(est.pretrend_p_value)}"
        )
    lines += [f"Note: {note}" for note in est.notes]
    if est.relative_effect is not None:
        lines.append(
            f"Relative to the treated level expected without the action: "
            f"{est.relative_effect:+.1%} [{est.relative_lower:+.1%}, {est.relative_upper:+.1%}]"
        )
    if est.sufficient:
        lines.append(
            f"Result: {_INTERVALS[est.interval_method]} interval [{_fmt(est.lower, 4)}, "
            f"{_fmt(est.upper, 4)}]; Maryland Scientific Methods Scale level "
            f"{est.maryland_level}. A contribution of the action, not proof: other changes "
            "in the same areas and periods can explain part of it."
        )
    else:
        lines.append("Result: insufficient evidence (a dashboard shows no number):")
        lines += [f"  - {reason}" for reason in est.guard_rails_failed]
    if est.event_study:
        kind = "95% cluster-robust"
        lines.append(f"Event study (bin: effect [{kind}]):")
        lines += [
            f"  {b.bin:>4} ({b.first_offset:+d}..{b.last_offset:+d}): {_fmt(b.coef)} "
            f"[{_fmt(b.lower)}, {_fmt(b.upper)}]"
            for b in est.event_study
        ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        if args.panel:
            roles = {r: c for r in _ROLES if (c := getattr(args, f"col_{r}")) is not None}
            data = read_panel(args.panel, sep=args.sep, roles=roles)
            multiplier, source, options = args.multiplier, args.panel, ImpactSettings()
        else:
            data, multiplier, source, options = _from_warehouse(args.action, args.indicator)
        if args.save_panel:
            data.to_csv(args.save_panel, index=False)
        chosen = {k: getattr(args, k) for k in _OVERRIDES if getattr(args, k) is not None}
        options = options.replace(**chosen)
        panel = long_panel(data, multiplier)
        est = estimate_impact(panel, options, multiplier=multiplier)
    except ValidationError as exc:  # a ValueError too: first
        for error in exc.errors():
            print(
                f"impact: --{str(error['loc'][0]).replace('_', '-')}: {error['msg']}",
                file=sys.stderr,
            )
        return 2
    except (
        PanelError,
        OSError,
        UnicodeDecodeError,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        ValueError,
    ) as exc:
        print(f"impact: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(est.as_dict() | {"rows_dropped": panel.dropped}, indent=2, default=str))
    else:
        print(report(est, source, panel.dropped))
    return 0
