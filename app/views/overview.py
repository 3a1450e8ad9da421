"""Overview: goals with their indicators as cards, data-as-of and staleness warnings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import data, export, i18n, judgement
from app.i18n import status, t
from app.series import latest_run, scale_of
from app.text import md
from app.views.common import page_link, require_data, scale_word, status_badge

PROBLEM_STATUSES = ("missing", "rejected")


def stale_inputs(city: str) -> pd.DataFrame:
    """City-level cells in each indicator's latest three periods with incomplete inputs."""
    return data.query(
        """
        WITH ranked AS (
            SELECT v.indicator_id, i.indicator_name, v.period_id, v.input_completeness,
                   row_number() OVER (PARTITION BY v.indicator_id ORDER BY p.start_date DESC) rn
            FROM marts.fct_indicator_values v
            JOIN marts.dim_period p USING (period_id)
            JOIN marts.dim_indicator i USING (indicator_id)
            WHERE v.area_id = ? AND v.period_type = i.cadence
        )
        SELECT * FROM ranked WHERE rn <= 3 AND input_completeness < 1
        ORDER BY indicator_id, period_id
        """,
        (city,),
    )


def problem_feeds() -> pd.DataFrame:
    fh = data.table("marts.fct_feed_health")
    if fh.empty:
        return fh
    return fh[fh["delivery_status"].isin(PROBLEM_STATUSES)].sort_values(["feed_id", "period_id"])


def city_sparkline(indicator_id: str, city: str, cadence: str) -> list[float]:
    """The city's latest unbroken stretch on the card's own scale: never single months in
    place of a missing 12-month value, never a line across a gap."""
    s = data.drawn_series(indicator_id, city, cadence)  # a period without a row is a gap
    return [] if s.empty else latest_run(s, scale_of(cadence).value)


def card(ind: pd.Series, prog: pd.Series | None, city: str) -> None:
    latest = None if prog is None else prog["latest_value"]
    change = None if prog is None else prog["change_since_baseline"]
    digits = data.value_digits(ind)
    judged = (
        None
        if prog is None
        else judgement.change(
            latest,
            prog["latest_lower_95"],
            prog["latest_upper_95"],
            prog["baseline_value"],
            direction=ind["desired_direction"],
        )
    )
    delta = None
    if change is not None and not data.is_missing(change):
        sign = "+" if change > 0 else ""
        delta = f"{sign}{data.fmt(change, digits)} {t('overview.since_baseline')}"
    with st.container(border=True):
        # the full name above the figure: a metric label is cut to one line
        st.markdown(f"**{md(ind['indicator_name'])}**", help=md(ind["definition"]))
        st.metric(
            md(ind["indicator_name"]),
            data.fmt(latest, digits),
            delta=delta,
            delta_color=judgement.delta_colour(judged),
            label_visibility="collapsed",
            chart_data=city_sparkline(ind["indicator_id"], city, ind["cadence"]) or None,
            chart_type="line",
        )
        if prog is None:
            st.caption(t("overview.no_progress"))
            return
        scale = scale_of(ind["cadence"])
        st.caption(
            t(
                "overview.value_scale",
                unit=md(ind["unit"]),
                scale=scale_word(scale),
                period=prog["latest_period_id"],
                lower=data.fmt(prog["latest_lower_95"], digits),
                upper=data.fmt(prog["latest_upper_95"], digits),
            )
        )
        if judged == "same":
            st.caption(t("overview.no_clear_change"))
        target = prog["target_value"]
        if not data.is_missing(target):
            st.caption(
                t(
                    "overview.target",
                    value=data.fmt(target, digits),
                    date=data.fmt_date(prog["target_date"]),
                )
            )
        status_badge(prog["status"])
        page_link("indicator", t("overview.details"), indicator=str(ind["indicator_id"]))


def cards_download(inds: pd.DataFrame, city_prog: pd.DataFrame) -> pd.DataFrame:
    """Every card as a row: the city's latest value on the card's scale with its
    interval, baseline, target and status, numbers as numbers."""
    rows = []
    for ind in inds.itertuples():
        p = city_prog.loc[ind.indicator_id] if ind.indicator_id in city_prog.index else None

        def get(col: str, p=p) -> object:
            return None if p is None else p[col]

        rows.append(
            {
                t("col.goal"): ind.goal_name,
                t("col.indicator"): ind.indicator_name,
                t("col.unit"): ind.unit,
                t("col.scale"): (scale_word(scale_of(ind.cadence))),
                t("col.period"): get("latest_period_id"),
                t("col.latest"): get("latest_value"),
                t("col.lower"): get("latest_lower_95"),
                t("col.upper"): get("latest_upper_95"),
                t("col.baseline"): get("baseline_value"),
                t("col.target"): get("target_value"),
                t("col.status"): "" if p is None else status(p["status"]),
            }
        )
    return pd.DataFrame(rows)


@st.cache_data(show_spinner=False, max_entries=32)
def _report_pdf(
    home: str, snapshot_id: str, kind: str, subject: str, lang: str, told: tuple
) -> bytes:
    """A council report's PDF, once per snapshot, subject, language and the approved
    versions of the stories it tells (``told``)."""
    from cim import settings
    from cim.report import build_report, public_stories

    paths = settings.Paths(Path(home))
    return build_report(paths, lang=lang, stories=public_stories(paths), **{kind: subject})


def _told(home: str) -> tuple:
    from cim import settings
    from cim.report import public_stories

    notes = public_stories(settings.Paths(Path(home)))
    return tuple((n.note_id, n.version) for n in notes)


def report_download(kind: str, subject: str) -> None:
    """A button for the council report on a goal or an area (``kind``), built on click
    from the served snapshot, in the reader's language."""
    from cim import settings

    home, lang = str(settings.cim_home()), i18n.lang()
    snapshot_id = str(data.manifest().get("snapshot_id", ""))
    st.download_button(
        t("report.download"),
        data=lambda: _report_pdf(home, snapshot_id, kind, subject, lang, _told(home)),
        file_name=f"{subject}-{lang}.pdf",
        mime="application/pdf",
        help=t("report.download_help"),
        key=f"report_{kind}_{subject}",
        on_click="ignore",
    )


def render() -> None:
    st.title(t("page.overview"))
    if not require_data():
        return
    manifest = data.manifest()
    fh = data.table("marts.fct_feed_health")
    health_as_of = fh["health_as_of"].max() if not fh.empty else None
    st.caption(
        t(
            "overview.as_of",
            created=data.fmt_date(manifest.get("created_at")),
            health=data.fmt_date(health_as_of),
        )
    )
    with st.expander(t("app.technical")):
        st.caption(t("app.snapshot", snapshot=md(manifest.get("snapshot_id", "–"))))
    city = data.city_area_id()
    stale = stale_inputs(city) if city else pd.DataFrame()
    if not stale.empty:
        names = data.indicator_names()
        items = ", ".join(
            f"{md(names.get(r.indicator_id, r.indicator_name))} {r.period_id} "
            f"({data.fmt_pct(r.input_completeness)})"
            for r in stale.itertuples()
        )
        st.warning(t("overview.stale_inputs", items=items))
    feeds = problem_feeds()
    if not feeds.empty:
        items = ", ".join(
            f"{md(r.feed_id)} {r.period_id}: {status(r.delivery_status)}"
            for r in feeds.itertuples()
        )
        st.warning(t("overview.problem_feeds", items=items))

    inds = data.indicators()
    prog = data.progress()
    city_prog = prog[prog["area_id"] == city].set_index("indicator_id")
    for _, goal in inds.groupby("goal_id", sort=False):
        st.subheader(md(goal.iloc[0]["goal_name"]))
        if isinstance(goal.iloc[0].get("goal_description"), str):
            st.caption(md(goal.iloc[0]["goal_description"]))
        report_download("goal", str(goal.iloc[0]["goal_id"]))
        cols = st.columns(3)
        for i, (_, ind) in enumerate(goal.iterrows()):
            with cols[i % 3]:
                row = (
                    city_prog.loc[ind["indicator_id"]]
                    if ind["indicator_id"] in city_prog.index
                    else None
                )
                card(ind, row, city)
    st.divider()
    st.caption(t("overview.download"))
    export.offer_downloads(cards_download(inds, city_prog), "indicators_city")
