"""Area profile: every indicator's latest value in one area against the city's."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import data
from app.i18n import level_name, status, t
from app.views.common import good_change, require_data, url_select


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
        if not data.is_missing(a_val):
            shown = data.fmt(a_val, data.value_digits(ind._asdict()))
        elif ind.indicator_id in suppressed:
            shown = t("suppressed")
        else:
            shown = t("area.not_published")
        # an area's count is part of the city's: no comparison, only rates compare
        count = ind.indicator_kind == "count"
        diff = None if count or data.is_missing(a_val) or data.is_missing(c_val) else a_val - c_val
        better = good_change(diff, ind.desired_direction)
        rows.append(
            {
                t("col.goal"): ind.goal_name,
                t("col.indicator"): ind.indicator_name,
                t("col.unit"): ind.unit,
                t("col.period"): "–" if a is None else a["latest_period_id"],
                t("col.area_value"): shown,
                t("col.city_value"): data.fmt(c_val, 0 if count else 2),
                t("col.vs_city"): (
                    "–" if better is None else t("area.better") if better else t("area.worse")
                ),
                t("col.status"): "–" if a is None else status(a["status"]),
            }
        )
    return pd.DataFrame(rows)


def render() -> None:
    st.title(t("page.area"))
    if not require_data():
        return
    areas = data.areas()
    sub = areas[areas["area_depth"] > 0]
    labels = {r.area_id: f"{r.area_name} ({level_name(r.area_level)})" for r in sub.itertuples()}
    area_id = url_select("area", t("area.pick"), list(labels), labels)
    city = data.city_area_id()
    st.caption(t("area.explain"))
    st.dataframe(profile(area_id, city), hide_index=True, width="stretch")
