"""Partners and activities: who does what, where, since when, towards which goal."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import data
from app.export import offer_downloads
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


def partner_options(partners: pd.DataFrame, acts: pd.DataFrame) -> dict[str, str]:
    """Partner id -> name for the picker: every partner of the city (partners.yaml), and
    any partner the registry names that is not there, by its id.

    Listing only the names found in the activity registry left the picker empty ("No
    options to select") for a city without a registry, or whose registry rows lack a
    known partner, while the city has partners.
    """
    options = {
        str(p): (n if isinstance(n, str) and n else str(p))
        for p, n in zip(
            partners.get("partner_id", []), partners.get("partner_name", []), strict=True
        )
    }
    for p in acts.get("partner_id", pd.Series(dtype=object)).dropna().unique():
        options.setdefault(str(p), str(p))
    return dict(sorted(options.items(), key=lambda kv: kv[1].casefold()))


def render() -> None:
    st.title(t("page.partners"))
    if not require_data():
        return
    acts = data.activities()
    options = partner_options(data.table("marts.dim_partner"), acts)
    pick = st.multiselect(
        t("partners.filter"),
        list(options),
        format_func=lambda p: options.get(p, p),
        placeholder=t("partners.all"),
    )
    st.caption(t("partners.explain"))
    if acts.empty:
        st.info(t("partners.no_registry"))
        return
    acts = acts.sort_values(["goal_id", "start_date"])
    if pick:
        acts = acts[acts["partner_id"].isin(pick)]
    if acts.empty:
        st.info(t("partners.none_for_pick"))
        return
    table = activities_table(acts)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            t("col.action"): st.column_config.TextColumn(width="medium", pinned=True),
            t("col.partner"): st.column_config.TextColumn(width="medium"),
            t("col.status"): st.column_config.TextColumn(width="small"),
        },
        column_order=[
            t(k)
            for k in (
                "col.action",
                "col.partner",
                "col.status",
                "col.goal",
                "col.areas",
                "col.since",
                "col.until",
                "col.reached",
                "col.how_much",
                "col.per_unit",
                "col.indicators",
            )
        ],
    )
    offer_downloads(table, "activities")
    # names and descriptions come from the activity registry feed: shown as text only
    for r in acts.itertuples():
        with st.expander(f"{md(r.action_name)} · {md(r.partner_name)}"):
            st.markdown(md(r.action_description))
