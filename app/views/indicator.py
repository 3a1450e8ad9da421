"""Indicator: trend with its 95% band, baseline, target and forecast; breakdown by area."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import access, data, export, judgement
from app.i18n import level_name, localised, t
from app.series import gaps, runs, scale_of
from app.text import html_text, md, md_code
from app.views import stories
from app.views.common import (
    BETTER,
    WORSE,
    direction_label,
    require_data,
    scale_word,
    status_badge,
    url_select,
)

# plotly.js fetches a world topojson from cdn.plot.ly for every geo subplot, even with the
# base map hidden. Offline we hand it an empty topology in a data: URL; the file name plotly
# appends lands in the URL fragment, which fetch ignores. The areas come from our GeoJSON.
EMPTY_TOPOJSON = 'data:application/json,{"type":"Topology","objects":{},"arcs":[]}#'
MAP_CONFIG = {"topojsonURL": EMPTY_TOPOJSON, "displaylogo": False}


def area_labels(areas: pd.DataFrame) -> dict[str, str]:
    return {r.area_id: f"{r.area_name} ({level_name(r.area_level)})" for r in areas.itertuples()}


def trend_figure(s: pd.DataFrame, ind: pd.Series, prog: pd.Series | None) -> go.Figure:
    """The series on the indicator's one scale with its 95% band; the band is drawn per
    unbroken stretch and the line breaks at every gap (app.series): never bridged."""
    scale = scale_of(ind["cadence"])
    x = pd.to_datetime(s["start_date"])
    fig = go.Figure()
    for i, part in enumerate(runs(s, scale.lower)):
        px = pd.to_datetime(part["start_date"])
        fig.add_trace(
            go.Scatter(
                x=px,
                y=part[scale.upper],
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
                legendgroup="band",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=px,
                y=part[scale.lower],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(33,102,172,0.2)",
                name=t("indicator.band"),
                hoverinfo="skip",
                legendgroup="band",
                showlegend=i == 0,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=s[scale.value],
            mode="lines+markers",
            connectgaps=False,
            line={"color": "#2166ac"},
            name=t("indicator.rolling") if scale.rolling else t("col.value"),
            customdata=s["period_id"],
            hovertemplate="%{customdata}: %{y:,.2f}<extra></extra>",
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
        title={"text": html_text(ind["indicator_name"]), "font": {"size": 14}},
    )
    return localised(fig)


def chart_summary(s: pd.DataFrame, ind: pd.Series, area_name: str) -> str:
    """The trend chart in words, under it, for a reader who cannot see it (a screen
    reader reads it; the chart's canvas says nothing): first and latest value with the
    latest interval, and how many periods have no value."""
    scale = scale_of(ind["cadence"])
    digits = data.value_digits(ind)
    known = s[s[scale.value].notna()]
    first, last = known.iloc[0], known.iloc[-1]
    return t(
        "indicator.chart_summary",
        indicator=md(ind["indicator_name"]),
        area=md(area_name),
        scale=scale_word(scale),
        first_period=first["period_id"],
        first=data.fmt(first[scale.value], digits),
        last_period=last["period_id"],
        last=data.fmt(last[scale.value], digits),
        lower=data.fmt(last[scale.lower], digits),
        upper=data.fmt(last[scale.upper], digits),
        unit=md(ind["unit"]),
        missing=int(s[scale.value].isna().sum()),
    )


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


def breakdown_table(
    rows: pd.DataFrame, ind: pd.Series, judged: pd.Series | None = None
) -> pd.DataFrame:
    """The rows exactly as shown (and downloaded), on the indicator's one scale (the
    rolling 12 months for monthly and quarterly indicators, as on the overview):
    suppressed cells say so in words; "vs city" follows the significance rule."""
    word = t("suppressed")
    scale = scale_of(ind["cadence"])
    digits = data.value_digits(ind)

    def cell(r: pd.Series, col: str, places: int) -> str:
        return word if r["suppressed"] else data.fmt(r[col], places)

    judged = judged if judged is not None else pd.Series([None] * len(rows), index=rows.index)
    return pd.DataFrame(
        {
            t("col.area"): rows["area_name"],
            t("col.value"): [cell(r, scale.value, digits) for _, r in rows.iterrows()],
            t("col.lower"): [cell(r, scale.lower, digits) for _, r in rows.iterrows()],
            t("col.upper"): [cell(r, scale.upper, digits) for _, r in rows.iterrows()],
            t("col.vs_city"): [
                t(f"area.{j}") if j in ("better", "same", "worse") else "–" for j in judged
            ],
            t("col.n"): [cell(r, "n", 0) for _, r in rows.iterrows()],
            t("col.area_id"): rows["area_id"],
            t("col.period"): rows["period_id"],
        }
    ).reset_index(drop=True)


def series_download(s: pd.DataFrame, ind: pd.Series) -> pd.DataFrame:
    """The chart's series as drawn: one row per period, gaps included, on the chart's
    scale (named in a column), suppressed cells empty and said to be so."""
    scale = scale_of(ind["cadence"])
    unit = str(ind["unit"])
    out = export.published_values(
        s,
        {
            "period_id": t("col.period"),
            scale.value: f"{t('col.value')} ({unit})",
            scale.lower: t("col.lower"),
            scale.upper: t("col.upper"),
        },
        value=scale.value,
    )
    out.insert(1, t("col.scale"), scale_word(scale))
    return out


def breakdown_download(
    rows: pd.DataFrame, ind: pd.Series, judged: pd.Series | None = None
) -> pd.DataFrame:
    """The breakdown table's rows with numbers as numbers, the same cells empty as on
    screen, and the same "compared with the city" judgement."""
    scale = scale_of(ind["cadence"])
    out = export.published_values(
        rows,
        {
            "area_name": t("col.area"),
            "area_id": t("col.area_id"),
            "period_id": t("col.period"),
            scale.value: f"{t('col.value')} ({ind['unit']})",
            scale.lower: t("col.lower"),
            scale.upper: t("col.upper"),
            "n": t("col.n"),
        },
        value=scale.value,
    )
    judged = judged if judged is not None else pd.Series([None] * len(rows))
    out.insert(3, t("col.scale"), scale_word(scale))
    out[t("col.vs_city")] = [
        t(f"area.{j}") if j in ("better", "same", "worse") else "" for j in judged
    ]
    return out


MAP_COLOURS = {"better": BETTER, "same": "#969696", "worse": WORSE, "hidden": "#e8e8e8"}


def judged_rows(rows: pd.DataFrame, city_row: pd.Series | None, ind: pd.Series) -> pd.Series:
    """better / same / worse against the city on the indicator's scale (app.judgement),
    ``hidden`` for a suppressed cell or one without a value, None where there is no
    evidence either way (no interval)."""
    scale = scale_of(ind["cadence"])
    ref = (
        (None, None, None)
        if city_row is None
        else tuple(city_row[c] for c in (scale.value, scale.lower, scale.upper))
    )

    def one(r: pd.Series) -> str | None:
        if r["suppressed"] or data.is_missing(r[scale.value]):
            return "hidden"
        if ind.get("indicator_kind") == "count":
            return None  # an area's count is part of the city's
        return judgement.against_reference(
            r[scale.value],
            r[scale.lower],
            r[scale.upper],
            *ref,
            direction=ind["desired_direction"],
        )

    return rows.apply(one, axis=1) if not rows.empty else pd.Series(dtype=object)


def map_figure(rows: pd.DataFrame, judged: pd.Series, geojson: dict, ind: pd.Series) -> go.Figure:
    """Areas coloured by the significance rule, one legend entry per class, the area's
    name, value and interval on hover."""
    scale = scale_of(ind["cadence"])
    digits = data.value_digits(ind)
    fig = go.Figure()
    classes = judged.fillna("same")
    for cls, colour in MAP_COLOURS.items():
        part = rows[classes == cls]
        if part.empty:
            continue
        label = t(f"map.{cls}")
        text = [
            f"{html_text(r['area_name'])}: "
            + (
                (t("suppressed") if r["suppressed"] else "–")
                if cls == "hidden"
                else f"{data.fmt(r[scale.value], digits)} "
                f"[{data.fmt(r[scale.lower], digits)} – {data.fmt(r[scale.upper], digits)}]"
            )
            + f" · {label}"
            for _, r in part.iterrows()
        ]
        fig.add_trace(
            go.Choropleth(
                geojson=geojson,
                featureidkey="properties.area_id",
                locations=part["area_id"],
                z=[1] * len(part),
                colorscale=[[0, colour], [1, colour]],
                showscale=False,
                showlegend=True,
                name=label,
                text=text,
                hoverinfo="text",
                marker_line_color="white",
                marker_line_width=1,
            )
        )
    fig.update_geos(visible=False, fitbounds="locations", projection_type="mercator")
    fig.update_layout(
        height=420,
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        legend={"orientation": "h", "title": {"text": t("map.legend_title")}},
        title={"text": html_text(ind["indicator_name"]), "font": {"size": 14}},
    )
    return localised(fig)


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
    scale = scale_of(ind["cadence"])
    st.caption(
        f"{md(ind['unit'])} · {direction_label(ind['desired_direction'])} · "
        + t("indicator.scale_note", scale=scale_word(scale), unit=md(ind["unit"]))
    )
    if ind.get("reported_events"):
        st.info(t("indicator.reported_events"))
    if prog is not None:
        cols = st.columns(4)
        digits = data.value_digits(ind)
        cols[0].metric(t("col.latest"), data.fmt(prog["latest_value"], digits))
        cols[1].metric(t("col.baseline"), data.fmt(prog["baseline_value"], digits))
        cols[2].metric(t("col.target"), data.fmt(prog["target_value"], digits))
        with cols[3]:
            status_badge(prog["status"])
    s = data.drawn_series(ind_id, area_id, ind["cadence"])
    notes = stories.visible(access.viewer(), ind_id, area_id)
    if s.empty:
        st.info(t("indicator.no_series", level=level_name(ind["lowest_level"])))
    elif s[scale.value].isna().all():
        # no chart without data: every period is suppressed or without a value
        st.info(t("indicator.no_values"))
    else:
        st.plotly_chart(stories.annotated(trend_figure(s, ind, prog), notes), width="stretch")
        st.caption(chart_summary(s, ind, labels.get(area_id, area_id)))
        export.offer_downloads(series_download(s, ind), f"{ind_id}_{area_id}_series")
        missing = gaps(s, scale.value)
        if missing:
            spans = ", ".join(a if a == b else f"{a} – {b}" for a, b in missing)
            st.caption(t("indicator.gaps", periods=spans))
        level = areas.loc[areas["area_id"] == area_id, "area_level"]
        if not level.empty and (note := not_placed_note(s, ind, level.iloc[0])):
            st.caption(note)

    periods = [] if s.empty else s["period_id"].dropna().tolist()[::-1]
    stories.render(ind_id, area_id, periods, notes)

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
        city = data.breakdown(ind_id, period, data.levels()[-1])
        city = city[city["area_id"] == data.city_area_id()]
        judged = judged_rows(rows, None if city.empty else city.iloc[0], ind)
        shown = breakdown_table(rows, ind, judged)
        m1, m2 = st.columns([3, 2])
        geojson = data.boundaries()
        with m1:
            if geojson is not None and not rows.empty:
                st.plotly_chart(
                    map_figure(rows, judged, geojson, ind),
                    width="stretch",
                    config=MAP_CONFIG,
                )
                st.caption(t("indicator.map_legend"))
            else:
                st.caption(t("indicator.no_map"))
        with m2:
            st.dataframe(
                shown,
                hide_index=True,
                width="stretch",
                column_config={t("col.area"): st.column_config.TextColumn(pinned=True)},
            )
            export.offer_downloads(
                breakdown_download(rows, ind, judged), f"{ind_id}_{period}_{level}"
            )

    st.subheader(t("indicator.about"))
    # definitions, names and feeds come from the city folder: shown as text (app.text.md)
    feeds = ind["numerator_feeds"]
    feeds_txt = ", ".join(md(f) for f in feeds) if feeds is not None else "–"
    denominator = ind.get("denominator_feed")
    st.markdown(
        f"**{t('indicator.definition')}:** {md(ind['definition'])}\n\n"
        f"**{t('indicator.sources')}:** {feeds_txt}"
        + (f" / {md(denominator)}" if isinstance(denominator, str) else "")
        + f"\n\n**{t('indicator.owner')}:** {md(ind['owner_partner_name'])}\n\n"
        f"**{t('indicator.goal')}:** {md(ind['goal_name'])}"
    )
    with st.expander(t("app.technical")):
        st.markdown(f"**{t('indicator.formula')}:** {md_code(ind['formula'])}")
