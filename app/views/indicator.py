"""Indicator: trend with its 95% band, baseline, target and forecast; breakdown by area."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import data, export
from app.i18n import level_name, status, t
from app.text import html_text, md, md_code
from app.views.common import (
    NEUTRAL,
    SCALE_HIGH_IS_BETTER,
    SCALE_LOW_IS_BETTER,
    direction_label,
    require_data,
    url_select,
)

ROLLING_CADENCES = ("month", "quarter")

# plotly.js fetches a world topojson from cdn.plot.ly for every geo subplot, even with the
# base map hidden. Offline we hand it an empty topology in a data: URL; the file name plotly
# appends lands in the URL fragment, which fetch ignores. The areas come from our GeoJSON.
EMPTY_TOPOJSON = 'data:application/json,{"type":"Topology","objects":{},"arcs":[]}#'
MAP_CONFIG = {"topojsonURL": EMPTY_TOPOJSON, "displaylogo": False}


def area_labels(areas: pd.DataFrame) -> dict[str, str]:
    return {r.area_id: f"{r.area_name} ({level_name(r.area_level)})" for r in areas.itertuples()}


def trend_figure(s: pd.DataFrame, ind: pd.Series, prog: pd.Series | None) -> go.Figure:
    rolling = ind["cadence"] in ROLLING_CADENCES and s["rolling_12m_value"].notna().any()
    col, lo, hi = (
        ("rolling_12m_value", "rolling_12m_lower_95", "rolling_12m_upper_95")
        if rolling
        else ("value", "lower_95", "upper_95")
    )
    x = pd.to_datetime(s["start_date"])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=s[hi], line={"width": 0}, showlegend=False, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=s[lo],
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(33,102,172,0.2)",
            name=t("indicator.band"),
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=s[col],
            mode="lines+markers",
            line={"color": "#2166ac"},
            name=t("indicator.rolling") if rolling else t("col.value"),
            customdata=s["period_id"],
            hovertemplate="%{customdata}: %{y:.2f}<extra></extra>",
        )
    )
    if prog is not None:
        if not data.is_missing(prog["baseline_value"]):
            fig.add_hline(
                y=prog["baseline_value"],
                line_dash="dot",
                line_color="#555555",
                annotation_text=t("indicator.baseline"),
            )
        if not data.is_missing(prog["target_value"]):
            fig.add_hline(
                y=prog["target_value"],
                line_dash="dash",
                line_color="#e66101",
                annotation_text=t("indicator.target"),
            )
        if not data.is_missing(prog["forecast_at_target_date"]) and prog["target_date"]:
            fig.add_trace(
                go.Scatter(
                    x=[pd.to_datetime(prog["target_date"])],
                    y=[prog["forecast_at_target_date"]],
                    mode="markers",
                    marker={"symbol": "diamond", "size": 11, "color": "#e66101"},
                    name=t("indicator.forecast"),
                )
            )
    fig.update_layout(
        height=380,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        yaxis_title=html_text(ind["unit"]),
        legend={"orientation": "h"},
    )
    return fig


def not_placed_note(s: pd.DataFrame, ind: pd.Series, area_level: str) -> str | None:
    """How much of the latest published total the partner placed in no smaller area
    (pseudo-areas, blank codes), when there is any."""
    if "numerator_not_placed_below" not in s:
        return None
    known = s[s["numerator_not_placed_below"].notna() & (s["numerator"] > 0)]
    if known.empty:
        return None
    last = known.iloc[-1]
    part, total = last["numerator_not_placed_below"], last["numerator"]
    if part <= 0:
        return None
    digits = 0 if float(part).is_integer() and float(total).is_integer() else 2
    return t(
        "indicator.not_placed",
        share=data.fmt_pct(part / total),
        amount=data.fmt(part, digits),
        total=data.fmt(total, digits),
        period=last["period_id"],
        level=level_name(area_level),
    )


def breakdown_table(rows: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The rows exactly as shown (and downloaded): suppressed cells say so in words.
    ``digits``: decimals of the value (0 for a count)."""
    word = t("suppressed")

    def cell(r: pd.Series, col: str, places: int = 2) -> str:
        return word if r["suppressed"] else data.fmt(r[col], places)

    return pd.DataFrame(
        {
            t("col.area_id"): rows["area_id"],
            t("col.area"): rows["area_name"],
            t("col.period"): rows["period_id"],
            t("col.value"): [cell(r, "value", digits) for _, r in rows.iterrows()],
            t("col.lower"): [cell(r, "lower_95") for _, r in rows.iterrows()],
            t("col.upper"): [cell(r, "upper_95") for _, r in rows.iterrows()],
            t("col.n"): [cell(r, "n") for _, r in rows.iterrows()],
        }
    ).reset_index(drop=True)


def map_figure(rows: pd.DataFrame, geojson: dict, direction: str) -> go.Figure:
    shown = rows[~rows["suppressed"] & rows["value"].notna()]
    hidden = rows[rows["suppressed"]]
    fig = go.Figure()
    fig.add_trace(
        go.Choropleth(
            geojson=geojson,
            featureidkey="properties.area_id",
            locations=shown["area_id"],
            z=shown["value"],
            colorscale=SCALE_LOW_IS_BETTER if direction == "down" else SCALE_HIGH_IS_BETTER,
            text=[
                f"{html_text(n)}: {data.fmt(v)}"
                for n, v in zip(shown["area_name"], shown["value"], strict=False)
            ],
            hoverinfo="text",
            marker_line_color="white",
            colorbar={"title": ""},
        )
    )
    if not hidden.empty:
        fig.add_trace(
            go.Choropleth(
                geojson=geojson,
                featureidkey="properties.area_id",
                locations=hidden["area_id"],
                z=[0] * len(hidden),
                colorscale=[[0, NEUTRAL], [1, NEUTRAL]],
                showscale=False,
                text=[f"{html_text(n)}: {t('suppressed')}" for n in hidden["area_name"]],
                hoverinfo="text",
                marker_line_color="white",
            )
        )
    fig.update_geos(visible=False, fitbounds="locations", projection_type="mercator")
    fig.update_layout(height=420, margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return fig


def render() -> None:
    st.title(t("page.indicator"))
    if not require_data():
        return
    inds = data.indicators()
    areas = data.areas()
    ind_labels = dict(zip(inds["indicator_id"], inds["indicator_name"], strict=False))
    c1, c2 = st.columns(2)
    with c1:
        ind_id = url_select("indicator", t("indicator.pick"), list(ind_labels), ind_labels)
    labels = area_labels(areas)
    with c2:
        area_id = url_select("area", t("indicator.pick_area"), list(labels), labels)
    ind = inds[inds["indicator_id"] == ind_id].iloc[0]
    prog_all = data.progress()
    match = prog_all[(prog_all["indicator_id"] == ind_id) & (prog_all["area_id"] == area_id)]
    prog = None if match.empty else match.iloc[0]

    st.subheader(md(ind["indicator_name"]))
    st.caption(f"{md(ind['unit'])} · {direction_label(ind['desired_direction'])}")
    if ind.get("reported_events"):
        st.info(t("indicator.reported_events"))
    if prog is not None:
        cols = st.columns(4)
        digits = data.value_digits(ind)
        cols[0].metric(t("col.latest"), data.fmt(prog["latest_value"], digits))
        cols[1].metric(t("col.baseline"), data.fmt(prog["baseline_value"], digits))
        cols[2].metric(t("col.target"), data.fmt(prog["target_value"], digits))
        cols[3].metric(t("col.status"), status(prog["status"]))
    s = data.series(ind_id, area_id, ind["cadence"])
    if s.empty:
        st.info(t("indicator.no_series", level=level_name(ind["lowest_level"])))
    else:
        st.plotly_chart(trend_figure(s, ind, prog), width="stretch")
        level = areas.loc[areas["area_id"] == area_id, "area_level"]
        if not level.empty and (note := not_placed_note(s, ind, level.iloc[0])):
            st.caption(note)

    st.subheader(t("indicator.breakdown"))
    periods = data.periods_for(ind_id, ind["cadence"])
    levels = [
        lv
        for lv in data.query(
            "SELECT DISTINCT area_level, max(area_depth) d FROM marts.fct_indicator_values "
            "JOIN marts.dim_area USING (area_id, area_level) WHERE indicator_id = ? "
            "AND area_depth > 0 GROUP BY 1 ORDER BY d",
            (ind_id,),
        )["area_level"].tolist()
    ]
    if not periods or not levels:
        st.info(t("indicator.no_breakdown"))
    else:
        b1, b2 = st.columns(2)
        period = b1.selectbox(t("col.period"), periods, key="breakdown_period")
        level = b2.radio(
            t("indicator.level"),
            levels,
            index=len(levels) - 1,
            format_func=lambda lv: level_name(lv, plural=True),
            horizontal=True,
            key="breakdown_level",
        )
        rows = data.breakdown(ind_id, period, level)
        shown = breakdown_table(rows, data.value_digits(ind))
        m1, m2 = st.columns([3, 2])
        geojson = data.boundaries()
        with m1:
            if geojson is not None and not rows.empty:
                st.plotly_chart(
                    map_figure(rows, geojson, ind["desired_direction"]),
                    width="stretch",
                    config=MAP_CONFIG,
                )
            else:
                st.caption(t("indicator.no_map"))
        with m2:
            st.dataframe(shown, hide_index=True, width="stretch")
            export.download_csv(
                t("indicator.download"),
                shown,
                file_name=f"{ind_id}_{period}_{level}.csv".replace("/", "-"),
            )

    st.subheader(t("indicator.about"))
    # definitions, names and feeds come from the city folder: shown as text (app.text.md)
    feeds = ind["numerator_feeds"]
    feeds_txt = ", ".join(md(f) for f in feeds) if feeds is not None else "–"
    denominator = ind.get("denominator_feed")
    st.markdown(
        f"**{t('indicator.definition')}:** {md(ind['definition'])}\n\n"
        f"**{t('indicator.formula')}:** {md_code(ind['formula'])}\n\n"
        f"**{t('indicator.sources')}:** {feeds_txt}"
        + (f" / {md(denominator)}" if isinstance(denominator, str) else "")
        + f"\n\n**{t('indicator.owner')}:** {md(ind['owner_partner_name'])}\n\n"
        f"**{t('indicator.goal')}:** {md(ind['goal_name'])}"
    )
