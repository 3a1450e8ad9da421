"""The report's content model: every figure and sentence of a council report, in one
language, read from the published snapshot only. Both renderers (PDF and HTML) lay out
this one model; nothing is computed twice.

The words, statuses, verdicts and number formats are the dashboard's own (app.i18n,
app.judgement, app.series, app.impact_words, app.data's formats), so a report never says
what the dashboard would not: "better" or "worse" only where the 95% interval tells, a
suppressed cell stays suppressed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb
import pandas as pd

from app import data, i18n, impact_words, judgement
from app.i18n import status, t
from app.series import complete, scale_of
from app.views.common import scale_word
from app.views.overview import PROBLEM_STATUSES
from cim.publish import connect_published
from cim.report.charts import trend_svg
from cim.settings import Paths

QUERIES = Path(__file__).with_name("queries")
CHART_PERIODS = 36  # the last three years of monthly figures, as the dashboard's trends


class ReportError(ValueError):
    """A report that cannot be written as asked; the message says why and what to do."""


class Story(Protocol):
    """A note on an indicator (cim.appstate's Note has these attributes)."""

    indicator_id: str
    area_id: str | None
    period_id: str | None
    body: str
    author: str
    created_at: object


@dataclass(frozen=True)
class Subject:
    """What the report covers: a goal (at city level) or an area (every indicator)."""

    kind: str  # "goal" or "area"
    id: str


def _sql(name: str) -> str:
    return (QUERIES / f"{name}.sql").read_text(encoding="utf-8")


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence = ()) -> pd.DataFrame:
    return con.execute(sql, list(params)).df()


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    found = con.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return bool(found)


def _choose(kind: str, wanted: str, valid: list[str]) -> None:
    if wanted not in valid:
        raise ReportError(
            t(
                "report.error.unknown",
                kind=t(f"report.kind.{kind}"),
                wanted=wanted,
                valid=", ".join(valid),
            )
        )


def _indicators(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The agenda's indicators, names in the report's language (as on the dashboard)."""
    frame = _frame(con, "SELECT * FROM marts.dim_indicator ORDER BY goal_id, indicator_id")
    return data.with_indicator_words(frame)


def _series(con, indicator: pd.Series, area_id: str, period: pd.Series | None) -> pd.DataFrame:
    """The indicator's series in the area on its cadence, gaps as rows, to ``period``."""
    cadence = indicator["cadence"]
    rows = _frame(con, _sql("series"), (indicator["indicator_id"], area_id, cadence))
    calendar = _frame(
        con,
        "SELECT period_id, start_date FROM marts.dim_period WHERE period_type = ? "
        "ORDER BY start_date",
        (cadence,),
    )
    if period is not None:
        rows = rows[rows["start_date"] <= period["end_date"]]
    return complete(rows, calendar).tail(CHART_PERIODS).reset_index(drop=True)


def _story(story: Story, area_names: dict[str, str]) -> dict:
    """A note as the report shows it: its text, then who wrote it when, on which area
    and period."""
    area = area_names.get(story.area_id, story.area_id) if story.area_id else None
    byline = t("report.story_by", author=str(story.author), date=data.fmt_date(story.created_at))
    return {
        "body": str(story.body),
        "byline": " · ".join(str(part) for part in (byline, area, story.period_id) if part),
    }


def _progress_lines(ind: pd.Series, prog: pd.Series | None, digits: int, city: bool) -> dict:
    """The dashboard card's figures and sentences for one indicator in one area; without
    a value, the overview's words (the city) or the area profile's (an area)."""
    if prog is None or data.is_missing(prog["latest_value"]):
        if city:
            return {"latest": None, "lines": [t("overview.no_progress")], "status": None}
        return {"latest": t("area.not_published"), "lines": [], "status": None}
    scale = scale_of(ind["cadence"])
    lines = [
        t(
            "overview.value_scale",
            unit=ind["unit"],
            scale=scale_word(scale),
            period=prog["latest_period_id"],
            lower=data.fmt(prog["latest_lower_95"], digits),
            upper=data.fmt(prog["latest_upper_95"], digits),
        )
    ]
    judged = judgement.change(
        prog["latest_value"],
        prog["latest_lower_95"],
        prog["latest_upper_95"],
        prog["baseline_value"],
        direction=ind["desired_direction"],
    )
    if judged in ("better", "worse"):
        lines.append(
            t(
                "report.change",
                change=data.fmt(prog["change_since_baseline"], digits),
                period=prog["baseline_period_id"],
                judged=t(f"area.{judged}"),
            )
        )
    elif judged == "same":
        lines.append(t("overview.no_clear_change"))
    target = None
    if not data.is_missing(prog["target_value"]):
        target = t(
            "overview.target",
            value=data.fmt(prog["target_value"], digits),
            date=data.fmt_date(prog["target_date"]),
        )
    return {
        "latest": data.fmt(prog["latest_value"], digits),
        "target": target,
        "lines": lines,
        "status": status(prog["status"]),
    }


def _as_of(prog: pd.Series, row: pd.Series, scale) -> pd.Series:
    """The progress row with the latest value, interval and period of a series row."""
    earlier = prog.copy()
    earlier["latest_period_id"] = row["period_id"]
    earlier["latest_value"] = row[scale.value]
    earlier["latest_lower_95"], earlier["latest_upper_95"] = row[scale.lower], row[scale.upper]
    earlier["change_since_baseline"] = row[scale.value] - prog["baseline_value"]
    return earlier


def _against_city(ind: pd.Series, prog: pd.Series | None, city: pd.Series | None) -> str | None:
    """The area profile's "compared with the city" (never for a count, part of the city's)."""
    if ind["indicator_kind"] == "count" or prog is None or city is None:
        return None
    judged = judgement.against_reference(
        prog["latest_value"],
        prog["latest_lower_95"],
        prog["latest_upper_95"],
        city["latest_value"],
        city["latest_lower_95"],
        city["latest_upper_95"],
        direction=ind["desired_direction"],
    )
    if judged is None:
        return None
    return t(
        "report.vs_city",
        city=data.fmt(city["latest_value"], data.value_digits(ind)),
        judged=t(f"area.{judged}"),
    )


def _indicator_section(
    con,
    ind: pd.Series,
    area_id: str,
    progress: pd.DataFrame,
    city_id: str,
    period,
    stories,
    area_names,
) -> dict:
    digits = data.value_digits(ind)
    keyed = progress.set_index(["indicator_id", "area_id"])
    key = (ind["indicator_id"], area_id)
    prog = keyed.loc[key] if key in keyed.index else None
    scale = scale_of(ind["cadence"])
    s = _series(con, ind, area_id, period)
    judged_later = None
    if prog is not None and period is not None:
        known = s[s[scale.value].notna()]
        if known.empty or known["period_id"].iloc[-1] != prog["latest_period_id"]:
            # the report ends before the published progress: the value as of its period,
            # against the same baseline and target; the status is judged on the latest only
            judged_later = str(prog["latest_period_id"])
            prog = None if known.empty else _as_of(prog, known.iloc[-1], scale)
    section = {
        "name": ind["indicator_name"],
        "unit": ind["unit"],
        "definition": ind["definition"],
        "direction": t(f"direction.{ind['desired_direction']}"),
        "target": None,
        # an area's report tells its own stories (and the city-wide ones); a goal's, all
        "stories": [
            _story(s, area_names)
            for s in stories
            if s.indicator_id == ind["indicator_id"]
            and (area_id == city_id or s.area_id in (None, area_id))
        ],
    }
    section |= _progress_lines(ind, prog, digits, area_id == city_id)
    if judged_later is not None and section["status"] is not None:
        section["status"] = t("report.status_later", status=section["status"], period=judged_later)
    suppressed = int(s["suppressed"].fillna(False).astype(bool).sum()) if "suppressed" in s else 0
    if section["status"] is None and not s.empty and bool(s["suppressed"].fillna(False).iloc[-1]):
        # the latest cell is too small to publish: it stays suppressed, in words
        section["latest"] = t("suppressed")
        section["lines"] = [t("report.suppressed_latest", period=s["period_id"].iloc[-1])]
    if suppressed:
        section["lines"].append(t("report.suppressed_periods", n=suppressed))
    if area_id != city_id:
        city_key = (ind["indicator_id"], city_id)
        city = keyed.loc[city_key] if city_key in keyed.index else None
        if (compared := _against_city(ind, prog, city)) is not None:
            section["lines"].append(compared)
    if not s.empty and s[scale.value].notna().any():
        target = None if prog is None else prog["target_value"]
        section["chart"] = trend_svg(s, scale, target, digits)
        section["chart_caption"] = t(
            "report.chart_caption",
            scale=scale_word(scale),
            first=s["period_id"].iloc[0],
            last=s["period_id"].iloc[-1],
        )
    return section


def _listed(ids: object) -> list[str]:
    """A list column's value (NULL read as None or NA: none)."""
    return [] if ids is None or not hasattr(ids, "__iter__") or isinstance(ids, str) else list(ids)


def _actions(con, indicators: pd.DataFrame, subject: Subject, areas: pd.DataFrame) -> list[dict]:
    """Each action on the report's indicators with its impact verdicts; for an area, the
    actions that treated it or an area inside it."""
    if not _has_table(con, "marts", "fct_action_impact"):
        return []
    impact = _frame(con, "SELECT * FROM marts.fct_action_impact ORDER BY action_id, indicator_id")
    impact = impact[impact["indicator_id"].isin(indicators["indicator_id"])]
    if subject.kind == "area":
        inside = {
            a.area_id
            for a in areas.itertuples()
            if a.area_id == subject.id or subject.id in _listed(a.ancestor_ids)
        }
        impact = impact[[bool(inside & set(_listed(ids))) for ids in impact["treated_area_ids"]]]
    names = indicators.set_index("indicator_id")
    out = []
    for _, rows in impact.groupby("action_id", sort=True):
        findings = []
        for _, row in rows.iterrows():
            ind = names.loc[row["indicator_id"]]
            estimated = row["result"] == "estimated"
            findings.append(
                {
                    "indicator": ind["indicator_name"],
                    "verdict": impact_words.verdict(row, str(ind["unit"])),
                    "result": t("impact.result." + str(row["result"])),
                    "level": t("report.level", level=int(row["maryland_level"]))
                    if estimated and not data.is_missing(row["maryland_level"])
                    else None,
                    "reasons": [] if estimated else i18n.reasons(row["guard_rails_failed"]),
                }
            )
        out.append({"name": str(rows.iloc[0]["action_name"]), "findings": findings})
    return out


def _coverage(con, indicators: pd.DataFrame) -> dict:
    """The feeds behind the report's indicators: deliveries and reporting rates, and the
    latest run's quality checks, failed ones named."""
    feeds = sorted(
        {f for fs in indicators["numerator_feeds"] if fs is not None for f in fs}
        | {f for f in indicators["denominator_feed"] if isinstance(f, str) and f}
    )
    health = _frame(con, "SELECT * FROM marts.fct_partner_health ORDER BY feed_id, partner_id")
    health = health[health["feed_id"].isin(feeds)]
    rows = [
        {
            "feed": r.feed_id,
            "partner": r.partner_name,
            "line": t(
                "report.feed_line",
                expected=data.fmt(r.deliveries_expected, 0),
                received=data.fmt(r.deliveries_received, 0),
                missing=data.fmt(r.deliveries_missing, 0),
                rejected=data.fmt(r.deliveries_rejected, 0),
                rate=data.fmt_pct(r.reporting_rate),
                on_time=data.fmt_pct(r.on_time_rate),
            ),
        }
        for r in health.itertuples()
    ]
    deliveries = _frame(con, "SELECT * FROM marts.fct_feed_health ORDER BY feed_id, due_date")
    problems = deliveries[
        deliveries["feed_id"].isin(feeds) & deliveries["delivery_status"].isin(PROBLEM_STATUSES)
    ]
    checks = _frame(con, _sql("latest_checks"))
    failed = checks[~checks["success"].astype(bool)]
    return {
        "feeds": rows,
        # the overview's warning, for the report's feeds: deliveries missing or rejected
        "problems": t(
            "overview.problem_feeds",
            items=", ".join(
                f"{r.feed_id} {r.period_id}: {status(r.delivery_status)}"
                for r in problems.itertuples()
            ),
        )
        if not problems.empty
        else "",
        "health_as_of": data.fmt_date(health["health_as_of"].max()) if not health.empty else "–",
        "checks": t("health.quality_count", total=len(checks), failed=len(failed)),
        "failed": [
            {
                "asset": r.asset,
                "check": i18n.reason(r.expectation),
                "severity": r.severity,
                "message": i18n.reason(r.message) if isinstance(r.message, str) else "",
            }
            for r in failed.itertuples()
        ],
    }


LABELS = (
    "title", "goal", "area", "period", "snapshot", "published", "progress", "latest", "target",
    "status", "stories", "actions", "no_actions", "coverage", "feeds", "quality",
    "no_failed", "method", "colon",
)  # fmt: skip


def build_content(
    paths: Paths,
    *,
    goal: str | None = None,
    area: str | None = None,
    lang: str = "en",
    period: str | None = None,
    stories: Sequence[Story] = (),
) -> dict:
    """The report on ``goal`` (city level) or ``area`` in ``lang`` as one JSON-ready dict.

    Raises ReportError naming the unknown goal, area, language or period (with the valid
    ones), or saying that nothing is published yet.
    """
    if (goal is None) == (area is None):
        raise ReportError("name either a goal or an area")
    if lang not in i18n.LANGS:
        raise ReportError(f"unknown language {lang!r}: one of {', '.join(i18n.LANGS)}")
    with i18n.speaking(lang), connect_published(paths) as con:
        if con is None:
            raise ReportError(t("report.error.nothing_published", home=str(paths.home)))
        manifest = json.loads(con.execute("SELECT manifest FROM published.manifest").fetchone()[0])
        indicators = _indicators(con)
        areas = data.with_area_words(
            _frame(con, "SELECT * FROM marts.dim_area ORDER BY area_depth, area_id")
        )
        area_names = dict(zip(areas["area_id"], areas["area_name"], strict=True))
        city = areas[areas["area_depth"] == 0].iloc[0]
        if goal is not None:
            _choose("goal", goal, list(dict.fromkeys(indicators["goal_id"])))
            covered = indicators[indicators["goal_id"] == goal]
            subject, area_id = Subject("goal", goal), str(city["area_id"])
            subject_name = str(covered.iloc[0]["goal_name"])
        else:
            _choose("area", area, list(areas["area_id"]))
            covered, subject, area_id = indicators, Subject("area", area), area
            subject_name = area_names[area]
        chosen = None
        if period is not None:
            periods = _frame(con, _sql("quarters"))
            valid = list(periods["period_id"])
            _choose("period", period, valid)
            chosen = periods[periods["period_id"] == period].iloc[0]
        progress = _frame(con, "SELECT * FROM marts.fct_progress")
        sections = [
            _indicator_section(
                con, ind, area_id, progress, str(city["area_id"]), chosen, stories, area_names
            )
            for _, ind in covered.iterrows()
        ]
        latest = _frame(con, _sql("latest_period"), (list(covered["indicator_id"]), area_id))
        content = {
            "lang": lang,
            "labels": {key: t(f"report.{key}") for key in LABELS},
            "city": str(city["area_name"]),
            "kind": subject.kind,
            "subject_id": subject.id,
            "subject": subject_name,
            "description": str(covered.iloc[0]["goal_description"] or "")
            if goal is not None
            else "",
            "period": period or (str(latest.iloc[0, 0]) if not latest.empty else "–"),
            "snapshot_id": str(manifest.get("snapshot_id", "–")),
            "published_at": data.fmt_date(manifest.get("created_at")),
            "indicators": sections,
            "actions": _actions(con, covered, subject, areas),
            "coverage": _coverage(con, covered),
            "method": [
                t("report.method.scale"),
                t("area.rule"),
                t("report.method.change"),
                t("report.method.status"),
                t("report.method.suppression"),
                t("impact.contribution").strip(),
                t("report.method.source", snapshot=str(manifest.get("snapshot_id", "–"))),
            ],
        }
    return content
