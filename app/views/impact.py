"""Impact of an action: treated versus comparison areas, event study, the estimate with its
interval and evidence level, or "insufficient evidence" when a guard rail fails."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import data, export, i18n, impact_words
from app.i18n import localised, t
from app.text import md
from app.views.common import BETTER, NEUTRAL, require_data, url_select

GROUP_COLOURS = {
    "treated": BETTER,
    "comparison": NEUTRAL,
    # neighbouring areas are neither better nor worse: violet, not the "worse" orange
    "displacement": "#7b3294",
    "synthetic": "#1f4e79",
}
# the synthetic comparison is a stand-in, drawn dashed beside the areas themselves
GROUP_DASH = {"synthetic": "dash", "displacement": "dot"}


_interval = impact_words.interval
_pct = impact_words.relative


def verdict(row: pd.Series, unit: str) -> str:
    """One sentence of contribution, never proof (tests compare it with the table)."""
    return impact_words.verdict(row, md(unit, missing=""))


def trend_figure(trends: pd.DataFrame, start: object) -> go.Figure:
    fig = go.Figure()
    for group, rows in trends.groupby("area_group", sort=False):
        fig.add_trace(
            go.Scatter(
                x=pd.to_datetime(rows["period_start"]),
                y=rows["value"],
                mode="lines+markers",
                name=t("impact.group." + group),
                line={
                    "color": GROUP_COLOURS.get(group, NEUTRAL),
                    "dash": GROUP_DASH.get(group, "solid"),
                },
                connectgaps=False,
            )
        )
    if start is not None:
        fig.add_vline(x=pd.Timestamp(start).timestamp() * 1000, line_dash="dash")
    fig.update_layout(
        height=360,
        margin={"t": 40, "b": 10},
        legend={"orientation": "h"},
        title={"text": t("impact.trend_title"), "font": {"size": 14}},
    )
    return localised(fig)


def trend_summary(trends: pd.DataFrame) -> str:
    """The trend chart in words for a reader who cannot see it: each group's first and
    last published value (withheld cells left out, as in the chart)."""
    parts = []
    for group, rows in trends.groupby("area_group", sort=False):
        known = rows[rows["value"].notna()].sort_values("period_start")
        if known.empty:
            continue
        first, last = known.iloc[0], known.iloc[-1]
        parts.append(
            t(
                "impact.chart_group",
                group=t("impact.group." + group),
                first=data.fmt(first["value"]),
                first_period=first["period_id"],
                last=data.fmt(last["value"]),
                last_period=last["period_id"],
            )
        )
    return t("impact.chart_summary", groups="; ".join(parts))


def event_figure(events: pd.DataFrame) -> go.Figure:
    events = events.sort_values("event_bin")
    lo = events["effect"] - events["lower_95"].fillna(events["effect"])
    hi = events["upper_95"].fillna(events["effect"]) - events["effect"]
    fig = go.Figure(
        go.Scatter(
            x=events["first_offset"],
            y=events["effect"],
            mode="markers",
            marker={"color": [NEUTRAL if r else BETTER for r in events["is_reference"]]},
            error_y={"type": "data", "array": hi, "arrayminus": lo, "visible": True},
            name=t("impact.event_effect"),
        )
    )
    fig.add_hline(y=0, line_color="#555555")
    fig.add_vline(x=-0.5, line_dash="dash")
    fig.update_layout(
        height=320,
        margin={"t": 30, "b": 10},
        xaxis_title=t("impact.event_axis"),
        showlegend=False,
    )
    return fig


def summary_table(rows: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("col.indicator"): [names.get(i, i) for i in rows["indicator_id"]],
            t("impact.result"): [t("impact.result." + r) for r in rows["result"]],
            t("impact.effect"): [data.fmt(v) for v in rows["effect"]],
            t("impact.interval"): [
                _interval(lo, hi) if not data.is_missing(lo) else "–"
                for lo, hi in zip(rows["effect_lower_95"], rows["effect_upper_95"], strict=True)
            ],
            t("impact.relative"): [_pct(v) for v in rows["relative_effect"]],
            t("impact.level"): [data.fmt(v, 0) for v in rows["maryland_level"]],
        }
    )


def summary_download(rows: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The summary table with numbers as numbers: no estimate where the table has none."""
    return pd.DataFrame(
        {
            t("col.indicator"): [names.get(i, i) for i in rows["indicator_id"]],
            t("impact.result"): [t("impact.result." + r) for r in rows["result"]],
            t("impact.effect"): rows["effect"].to_numpy(),
            t("col.lower"): rows["effect_lower_95"].to_numpy(),
            t("col.upper"): rows["effect_upper_95"].to_numpy(),
            t("impact.relative"): rows["relative_effect"].to_numpy(),
            t("impact.level"): rows["maryland_level"].to_numpy(),
        }
    )


def trend_download(trends: pd.DataFrame) -> pd.DataFrame:
    """The trend chart's series: one row per group and period; a withheld group's value
    empty, as the gap in the chart."""
    return export.published_values(
        trends.assign(group=[t("impact.group." + g) for g in trends["area_group"]]),
        {"group": t("impact.area_group"), "period_id": t("col.period"), "value": t("col.value")},
        value="value",
    )


def event_download(events: pd.DataFrame) -> pd.DataFrame:
    """The event study's points and intervals, the reference period marked."""
    events = events.sort_values("event_bin")
    return pd.DataFrame(
        {
            t("impact.event_axis"): events["first_offset"].to_numpy(),
            t("impact.event_effect"): events["effect"].to_numpy(),
            t("col.lower"): events["lower_95"].to_numpy(),
            t("col.upper"): events["upper_95"].to_numpy(),
            t("col.note"): [t("impact.reference") if r else "" for r in events["is_reference"]],
        }
    )


def _details(row: pd.Series, area_names: dict[str, str]) -> None:
    def names(ids: object) -> str:
        if ids is None or (not isinstance(ids, list | tuple) and data.is_missing(ids)):
            return "–"
        return ", ".join(md(area_names.get(i, i)) for i in list(ids)) or "–"

    with st.expander(t("impact.design")):
        st.markdown(
            t(
                "impact.design_body",
                treated=names(row["treated_area_ids"]),
                comparison=names(row["comparison_area_ids"]),
                rule=md(i18n.reason(row["comparison_rule"]) or None),
                displacement=names(row["displacement_area_ids"]),
                pre=f"{row['pre_first_period_id']} – {row['pre_last_period_id']}",
                post=f"{row['post_first_period_id']} – {row['post_last_period_id']}",
                method=t("impact.method." + str(row["interval_method"])),
                pretrend=data.fmt(row["pretrend_p_value"], 3),
                wdd=data.fmt(row["wdd"], 0),
                wdd_interval=_interval(row["wdd_lower_95"], row["wdd_upper_95"], 0),
            )
        )


def _method(row: pd.Series) -> None:
    """The method in plain words, and what the estimate left out."""
    method = row.get("method")
    if data.is_missing(method):
        return
    st.markdown(f"**{t('impact.estimator')}:** {t('impact.estimator.' + str(method))}")
    notes = i18n.reasons(row.get("notes"))
    if notes:
        st.caption(t("impact.notes") + ": " + "; ".join(md(n) for n in notes))


def _donors(action: str, indicator: str, row: pd.Series, area_names: dict[str, str]) -> None:
    donors = data.impact_donors(action, indicator)
    if donors.empty:
        return
    st.subheader(t("impact.donors_title"))
    st.caption(t("impact.donors_explain", rmse=data.fmt(row.get("pre_fit_rmse"))))
    st.dataframe(
        pd.DataFrame(
            {
                t("col.area"): [area_names.get(a, a) for a in donors["area_id"]],
                t("impact.donor_weight"): [data.fmt(w, 3) for w in donors["weight"]],
            }
        ),
        hide_index=True,
    )
    export.offer_downloads(
        pd.DataFrame(
            {
                t("col.area"): [area_names.get(a, a) for a in donors["area_id"]],
                t("col.area_id"): donors["area_id"].to_numpy(),
                t("impact.donor_weight"): donors["weight"].to_numpy(),
            }
        ),
        f"impact_{action}_{indicator}_donors",
    )


def render() -> None:
    st.title(t("page.impact"))
    if not require_data():
        return
    impact = data.impact()
    if impact.empty:
        # a city without an activity registry gets no promise of results to come
        registry = data.has_table("marts", "fct_activities") and not data.activities().empty
        st.info(t("impact.none") if registry else t("impact.no_registry"))
        return
    actions = impact.drop_duplicates("action_id")
    action = url_select(
        "action",
        t("impact.action"),
        actions["action_id"].tolist(),
        dict(zip(actions["action_id"], actions["action_name"], strict=True)),
    )
    rows = impact[impact["action_id"] == action]
    inds = data.indicators().set_index("indicator_id")
    names = inds["indicator_name"].to_dict()
    st.caption(t("impact.explain"))
    st.dataframe(summary_table(rows, names), hide_index=True, width="stretch")
    export.offer_downloads(summary_download(rows, names), f"impact_{action}")
    indicator = url_select("indicator", t("col.indicator"), rows["indicator_id"].tolist(), names)
    row = rows[rows["indicator_id"] == indicator].iloc[0]
    unit = str(inds.loc[indicator, "unit"]) if indicator in inds.index else ""
    if row["result"] == "estimated":
        box = {"improvement": st.success, "deterioration": st.warning}.get(row["finding"], st.info)
        box(verdict(row, unit))
        c1, c2, c3 = st.columns(3)
        c1.metric(
            t("impact.effect"),
            data.fmt(row["effect"]),
            _pct(row["relative_effect"]),
            # coloured only where the estimate stands out from chance
            delta_color={"improvement": "blue", "deterioration": "orange"}.get(
                str(row["finding"]), "gray"
            ),
        )
        c2.metric(t("impact.interval"), _interval(row["effect_lower_95"], row["effect_upper_95"]))
        c3.metric(t("impact.level"), f"{int(row['maryland_level'])} / 5")
        st.caption(t("impact.contribution"))
    else:
        st.warning(verdict(row, unit))
        for reason in i18n.reasons(row["guard_rails_failed"]):
            st.markdown(f"- {md(reason)}")
    _method(row)
    areas = data.areas()
    area_names = dict(zip(areas["area_id"], areas["area_name"], strict=True))
    trends = data.impact_trends(action, indicator)
    if not trends.empty and trends["value"].isna().all():
        # no chart without data: every cell of the comparison is withheld
        st.info(t("impact.trend_withheld"))
    elif not trends.empty:
        st.subheader(t("impact.trend_title"))
        start = data.period_start(row["post_first_period_id"])
        st.plotly_chart(trend_figure(trends, start), width="stretch")
        export.offer_downloads(trend_download(trends), f"impact_{action}_{indicator}_trend")
        st.caption(trend_summary(trends))
        if trends["suppressed"].any():
            st.caption(t("impact.suppressed_note"))
    events = data.impact_events(action, indicator)
    if not events.empty:
        st.subheader(t("impact.event_title"))
        st.plotly_chart(localised(event_figure(events)), width="stretch")
        export.offer_downloads(event_download(events), f"impact_{action}_{indicator}_events")
        st.caption(t("impact.event_explain"))
    if row["result"] == "estimated":
        _donors(action, indicator, row, area_names)
    if row["result"] == "estimated" or not data.is_missing(row["pre_first_period_id"]):
        _details(row, area_names)
