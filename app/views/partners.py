"""Partners and activities: who does what, where, since when, towards which goal."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import data
from app.i18n import status, t
from app.text import md
from app.views.common import require_data


def _names(ids: object, lookup: dict[str, str]) -> str:
    if ids is None or (not isinstance(ids, str) and data.is_missing(ids)):
        return "–"
    return ", ".join(lookup.get(i, i) for i in list(ids)) or "–"


def activities_table(acts: pd.DataFrame) -> pd.DataFrame:
    inds = data.indicators()
    areas = data.areas()
    ind_names = dict(zip(inds["indicator_id"], inds["indicator_name"], strict=False))
    area_names = dict(zip(areas["area_id"], areas["area_name"], strict=False))
    return pd.DataFrame(
        {
            t("col.action"): acts["action_name"],
            t("col.partner"): acts["partner_name"],
            t("col.goal"): acts["goal_name"],
            t("col.indicators"): [_names(v, ind_names) for v in acts["linked_indicator_ids"]],
            t("col.areas"): [_names(v, area_names) for v in acts["target_area_ids"]],
            t("col.since"): [data.fmt_date(v) for v in acts["start_date"]],
            t("col.until"): [data.fmt_date(v) for v in acts["end_date"]],
            t("col.status"): [status(v) for v in acts["activity_status"]],
            t("col.how_much"): [
                f"{data.fmt(v, 0)} {lbl or ''}".strip()
                for v, lbl in zip(acts["how_much"], acts["how_much_label"], strict=False)
            ],
            t("col.reached"): [
                f"{data.fmt(v, 0)} {lbl or ''}".strip()
                for v, lbl in zip(acts["reached"], acts["reached_label"], strict=False)
            ],
            t("col.per_unit"): [data.fmt(v) for v in acts["reached_per_unit"]],
        }
    ).reset_index(drop=True)


def render() -> None:
    st.title(t("page.partners"))
    if not require_data():
        return
    acts = data.activities().sort_values(["goal_id", "start_date"])
    partners = sorted(acts["partner_name"].dropna().unique())
    pick = st.multiselect(t("partners.filter"), partners)
    if pick:
        acts = acts[acts["partner_name"].isin(pick)]
    st.caption(t("partners.explain"))
    st.dataframe(activities_table(acts), hide_index=True, width="stretch")
    # names and descriptions come from the activity registry feed: shown as text only
    for r in acts.itertuples():
        with st.expander(f"{md(r.action_name)} · {md(r.partner_name)}"):
            st.markdown(md(r.action_description))
