"""Data health: feed deliveries, partner reporting rates, quality checks, Data Docs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import data, i18n
from app.i18n import level_name, status, t
from app.text import md_code
from app.views.common import require_data

ORDER = {
    "rejected": 0,
    "missing": 1,
    "late": 2,
    "in grace": 3,
    "not yet due": 4,
    "on time": 5,
    "backfill": 6,
}


def feed_table(fh: pd.DataFrame) -> pd.DataFrame:
    fh = fh.assign(_o=fh["delivery_status"].map(ORDER).fillna(9))
    fh = fh.sort_values(["_o", "period_id", "feed_id"], ascending=[True, False, True])
    return pd.DataFrame(
        {
            t("col.feed"): fh["feed_id"],
            t("col.partner"): fh["partner_id"],
            t("col.period"): fh["period_id"],
            t("col.due"): [data.fmt_date(v) for v in fh["due_date"]],
            t("col.status"): [status(v) for v in fh["delivery_status"]],
            t("col.days_late"): [data.fmt(v, 0) for v in fh["days_late"]],
            t("col.rows_rejected"): [data.fmt(v, 0) for v in fh["rows_rejected"]],
        }
    ).reset_index(drop=True)


def _items(value: object) -> list:
    """A list column's value as a list (NULL, read by pandas as NA or None: empty)."""
    return list(value) if isinstance(value, list | tuple | np.ndarray) else []


def placement_table(ledger: pd.DataFrame, levels: list[str]) -> pd.DataFrame:
    """Loaded files whose accepted rows were placed at more than one level: where each
    file's rows count (a pseudo-area at its district, a blank code at the city)."""
    rows = []
    for r in ledger.itertuples():
        placed = _items(r.rows_by_level)
        if len({p["area_level"] for p in placed}) < 2:
            continue
        order = {level: n for n, level in enumerate(levels)}
        placed.sort(key=lambda p: order.get(p["area_level"], len(order)))
        periods = _items(r.periods)
        rows.append(
            {
                t("col.file"): r.original_name,
                t("col.feed"): r.feed,
                t("col.periods"): ", ".join(periods),
                t("col.placed"): " · ".join(
                    f"{level_name(p['area_level'])} {data.fmt(p['row_count'], 0)}" for p in placed
                ),
            }
        )
    return pd.DataFrame(rows)


def partner_table(ph: pd.DataFrame) -> pd.DataFrame:
    ph = ph.sort_values(["reporting_rate", "partner_name"], na_position="last")
    return pd.DataFrame(
        {
            t("col.partner"): ph["partner_name"],
            t("col.feed"): ph["feed_id"].fillna(t("health.all_feeds")),
            t("col.expected"): [data.fmt(v, 0) for v in ph["deliveries_expected"]],
            t("col.reporting_rate"): [data.fmt_pct(v) for v in ph["reporting_rate"]],
            t("col.on_time_rate"): [data.fmt_pct(v) for v in ph["on_time_rate"]],
            t("col.missing"): [data.fmt(v, 0) for v in ph["deliveries_missing"]],
            t("col.rejected"): [data.fmt(v, 0) for v in ph["deliveries_rejected"]],
        }
    ).reset_index(drop=True)


def render() -> None:
    st.title(t("page.health"))
    if not require_data():
        return
    fh = data.table("marts.fct_feed_health")
    as_of = fh["health_as_of"].max() if not fh.empty else None
    st.caption(t("health.as_of", date=data.fmt_date(as_of)))
    problems = fh[fh["delivery_status"].isin(["rejected", "missing", "late"])]
    if problems.empty:
        st.success(t("health.all_good"))
    else:
        st.warning(t("health.problems", n=len(problems)))
    st.subheader(t("health.feeds"))
    if "backfill" in fh and fh["backfill"].any():
        # history sent late on purpose: shown apart from problems, never counted as one
        backfill = fh[fh["backfill"].astype(bool)]
        st.caption(
            t(
                "health.backfill",
                n=len(backfill),
                received=int(backfill["received"].astype(bool).sum()),
            )
        )
    st.dataframe(feed_table(fh), hide_index=True, width="stretch")
    st.subheader(t("health.partners"))
    st.dataframe(
        partner_table(data.table("marts.fct_partner_health")), hide_index=True, width="stretch"
    )

    if data.has_column("meta", "file_ledger", "rows_by_level"):
        placed = placement_table(
            data.query(
                "SELECT original_name, feed, periods, rows_by_level FROM meta.file_ledger "
                "WHERE status = 'loaded' ORDER BY feed, original_name"
            ),
            data.levels(),
        )
        if not placed.empty:
            st.subheader(t("health.placement"))
            st.caption(t("health.placement_caption"))
            st.dataframe(placed, hide_index=True, width="stretch")

    st.subheader(t("health.quality"))
    dq = data.query(
        "SELECT * FROM meta.dq_results WHERE run_id = "
        "(SELECT run_id FROM meta.dq_results ORDER BY checked_at DESC LIMIT 1) "
        "ORDER BY success, severity, asset, expectation"
    )
    if dq.empty:
        st.info(t("health.no_quality"))
    else:
        failed = int((~dq["success"]).sum())
        st.caption(
            t("health.quality_summary", total=len(dq), failed=failed, run=dq.iloc[0]["run_id"])
        )
        st.dataframe(
            pd.DataFrame(
                {
                    t("col.asset"): dq["asset"],
                    t("col.expectation"): [i18n.reason(e) for e in dq["expectation"]],
                    t("col.severity"): dq["severity"],
                    t("col.result"): [
                        t("health.passed") if s else t("health.failed") for s in dq["success"]
                    ],
                    t("col.message"): [i18n.reason(m) for m in dq["message"]],
                }
            ),
            hide_index=True,
            width="stretch",
        )
    docs = data.data_docs()
    st.markdown(f"**{t('health.data_docs')}:** {md_code(docs)}")
    if docs.exists():
        st.markdown(f"[{t('health.open_docs')}]({docs.as_uri()})")
    else:
        st.caption(t("health.no_docs"))
