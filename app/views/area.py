"""Area profile: every indicator's latest value in one area against the city's, with its
trend, "better" or "worse" only where the 95% intervals say so (app.judgement)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import data, export, judgement
from app.i18n import level_name, status, t
from app.series import scale_of
from app.text import md
from app.views.common import page_link, require_data, status_icon, url_select
from app.views.overview import report_download


def _trend(ind, area_id: str) -> list[float | None]:
    """The area's values on the indicator's scale, gaps kept as gaps (None)."""
    s = data.drawn_series(ind.indicator_id, area_id, ind.cadence)
    if s.empty:
        return []
    values = s[scale_of(ind.cadence).value].tail(36)
    return [None if data.is_missing(v) else float(v) for v in values]


def profile(area_id: str, city: str) -> pd.DataFrame:
    inds = data.indicators()
    prog = data.progress()
    area_prog = prog[prog["area_id"] == area_id].set_index("indicator_id")
    city_prog = prog[prog["area_id"] == city].set_index("indicator_id")
    suppressed = set(
        data.query(
            "SELECT DISTINCT indicator_id FROM marts.fct_indicator_values "
            "WHERE area_id = ? AND suppressed",
            (area_id,),
        ).get("indicator_id", pd.Series(dtype=str))
    )
    rows = []
    for ind in inds.itertuples():
        a = area_prog.loc[ind.indicator_id] if ind.indicator_id in area_prog.index else None
        c = city_prog.loc[ind.indicator_id] if ind.indicator_id in city_prog.index else None
        a_val = None if a is None else a["latest_value"]
        c_val = None if c is None else c["latest_value"]
        digits = data.value_digits(ind._asdict())
        if not data.is_missing(a_val):
            shown = data.fmt(a_val, digits)
        elif ind.indicator_id in suppressed:
            shown = t("suppressed")
        else:
            shown = t("area.not_published")
        # an area's count is part of the city's: no comparison, only rates compare
        judged = (
            None
            if ind.indicator_kind == "count" or a is None or c is None
            else judgement.against_reference(
                a_val,
                a["latest_lower_95"],
                a["latest_upper_95"],
                c_val,
                c["latest_lower_95"],
                c["latest_upper_95"],
                direction=ind.desired_direction,
            )
        )
        state = None if a is None else a["status"]
        rows.append(
            {
                "indicator_id": ind.indicator_id,
                t("col.indicator"): f"{ind.indicator_name} ({ind.unit})",
                t("col.area_value"): shown,
                t("col.city_value"): data.fmt(c_val, digits),
                t("col.vs_city"): "–" if judged is None else t(f"area.{judged}"),
                t("col.status"): (
                    "–" if state is None else f"{status_icon(state)} {status(state)}"
                ),
                t("area.trend"): _trend(ind, area_id),
                t("col.period"): "–" if a is None else a["latest_period_id"],
                t("col.goal"): ind.goal_name,
                # for the download: numbers as numbers, the same cells empty as on screen
                "_value": None if data.is_missing(a_val) else float(a_val),
                "_lower": None if a is None else a["latest_lower_95"],
                "_upper": None if a is None else a["latest_upper_95"],
                "_city": None if data.is_missing(c_val) else float(c_val),
                "_shown": shown,
                "_status": "" if state is None else status(state),
            }
        )
    return pd.DataFrame(rows)


RAW = ["indicator_id", "_value", "_lower", "_upper", "_city", "_shown", "_status"]


def profile_download(table: pd.DataFrame) -> pd.DataFrame:
    """The profile's rows as a file: the area's value and interval and the city's as
    numbers, empty where the page says "suppressed" or "not published", and why."""
    empty = table["_value"].isna()
    return pd.DataFrame(
        {
            t("col.indicator"): table[t("col.indicator")],
            t("col.period"): table[t("col.period")],
            t("col.area_value"): table["_value"],
            t("col.lower"): table["_lower"].where(~empty),
            t("col.upper"): table["_upper"].where(~empty),
            t("col.city_value"): table["_city"],
            t("col.vs_city"): table[t("col.vs_city")],
            t("col.status"): table["_status"],
            t("col.goal"): table[t("col.goal")],
            t("col.note"): table["_shown"].where(empty, ""),
        }
    )


def nearest_with_value(area_id: str, indicator_id: str) -> str | None:
    """The nearest area above ``area_id`` where the indicator has a published value."""
    found = data.query(
        """
        SELECT p.area_id
        FROM marts.dim_area a, unnest(a.ancestor_ids) WITH ORDINALITY AS up(area_id, rank)
        JOIN marts.fct_progress p ON p.area_id = up.area_id
        WHERE a.area_id = ? AND p.indicator_id = ? AND p.latest_value IS NOT NULL
        ORDER BY up.rank LIMIT 1
        """,
        (area_id, indicator_id),
    )
    return None if found.empty else str(found["area_id"].iloc[0])


def render() -> None:
    st.title(t("page.area"))
    if not require_data():
        return
    areas = data.areas()
    sub = areas[areas["area_depth"] > 0]
    labels = {r.area_id: f"{r.area_name} ({level_name(r.area_level)})" for r in sub.itertuples()}
    area_id = url_select("area", t("area.pick"), list(labels), labels)
    city = data.city_area_id()
    st.caption(f"{t('area.explain')} {t('area.rule')}")
    table = profile(area_id, city)
    st.dataframe(
        table.drop(columns=RAW),
        hide_index=True,
        width="stretch",
        column_config={
            t("col.indicator"): st.column_config.TextColumn(width="large", pinned=True),
            t("area.trend"): st.column_config.LineChartColumn(width="small"),
        },
    )
    export.offer_downloads(profile_download(table), f"profile_{area_id}")
    report_download("area", area_id)
    names = dict(zip(areas["area_id"], areas["area_name"], strict=True))
    unpublished = table[table[t("col.area_value")] == t("area.not_published")]
    for _, row in unpublished.iterrows():
        above = nearest_with_value(area_id, row["indicator_id"])
        if above is not None:
            page_link(
                "indicator",
                t(
                    "area.see_level",
                    indicator=md(row[t("col.indicator")]),
                    area=md(names.get(above, above)),
                ),
                indicator=row["indicator_id"],
                area=above,
            )
