"""Data health: feed deliveries, partner reporting rates, quality checks, Data Docs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from cim.serve import docs_url

from app import data, i18n
from app.export import offer_downloads
from app.i18n import level_name, status, t
from app.text import md, md_code
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


# Each delivery status has an icon of its own shape and a colour of the page's
# colour-blind safe scale (orange: a problem; blue: fine; grey: nothing owed yet), so the
# status reads without telling colours apart and without reading the grey caption text.
STATUS_ICON = {
    "rejected": "⛔",
    "missing": "❌",
    "late": "⚠️",
    "in grace": "⏳",
    "not yet due": "🗓️",
    "on time": "✅",
    "backfill": "📦",
}
# light backgrounds under dark text: WCAG AA contrast for the status words
STATUS_BACKGROUND = {
    "rejected": "#fdb863",
    "missing": "#fdb863",
    "late": "#fee0b6",
    "in grace": "#f7f7f7",
    "not yet due": "#f7f7f7",
    "on time": "#d1e5f0",
    "backfill": "#f7f7f7",
}
PROBLEMS = ("rejected", "missing", "late")


def status_label(value: object) -> str:
    """A delivery status as an icon and its word in the reader's language."""
    icon = STATUS_ICON.get(value, "") if isinstance(value, str) else ""
    return f"{icon} {status(value)}".strip()


def status_style(frame: pd.DataFrame, statuses: pd.Series, column: str):
    """The table with its status cells coloured by the status they say."""
    colours = [STATUS_BACKGROUND.get(v, "#ffffff") for v in statuses]

    def paint(col: pd.Series) -> list[str]:
        if col.name != column:
            return [""] * len(col)
        return [f"background-color: {c}; color: #1a1a1a" for c in colours]

    return frame.style.apply(paint, axis=0)


def rejection_reasons(ledger: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(feed, period) -> why the latest file rejected for it was refused, in the reader's
    language."""
    reasons: dict[tuple[str, str], str] = {}
    for r in ledger.sort_values("received_at").itertuples():
        for period in list_items(r.periods):
            if isinstance(r.reason, str) and r.reason:
                reasons[(r.feed, period)] = i18n.reason(r.reason)
    return reasons


def problems_first(fh: pd.DataFrame) -> pd.DataFrame:
    fh = fh.assign(_o=fh["delivery_status"].map(ORDER).fillna(9))
    return fh.sort_values(["_o", "period_id", "feed_id"], ascending=[True, False, True])


def feed_table(
    fh: pd.DataFrame,
    partner_names: dict[str, str] | None = None,
    reasons: dict[tuple[str, str], str] | None = None,
) -> pd.DataFrame:
    """One row per feed and period owed, problems first; the status leads, then what is
    owed, and for a rejected delivery why it was refused."""
    partner_names, reasons = partner_names or {}, reasons or {}
    fh = problems_first(fh)
    return pd.DataFrame(
        {
            t("col.status"): [status_label(v) for v in fh["delivery_status"]],
            t("col.feed"): fh["feed_id"],
            t("col.period"): fh["period_id"],
            t("col.due"): [data.fmt_date(v) for v in fh["due_date"]],
            t("col.days_late"): [data.fmt(v, 0) for v in fh["days_late"]],
            t("col.reason"): [
                reasons.get((f, p), "") if s == "rejected" else ""
                for f, p, s in zip(
                    fh["feed_id"], fh["period_id"], fh["delivery_status"], strict=True
                )
            ],
            t("col.rows_rejected"): [data.fmt(v, 0) for v in fh["rows_rejected"]],
            t("col.partner"): [partner_names.get(p, p) for p in fh["partner_id"]],
        }
    ).reset_index(drop=True)


def list_items(value: object) -> list:
    """A list column's value as a list (NULL, read by pandas as NA or None: empty)."""
    return list(value) if isinstance(value, list | tuple | np.ndarray) else []


def placement_table(ledger: pd.DataFrame, levels: list[str]) -> pd.DataFrame:
    """Loaded files whose accepted rows were placed at more than one level: where each
    file's rows count (a pseudo-area at its district, a blank code at the city)."""
    rows = []
    for r in ledger.itertuples():
        placed = list_items(r.rows_by_level)
        if len({p["area_level"] for p in placed}) < 2:
            continue
        order = {level: n for n, level in enumerate(levels)}
        placed.sort(key=lambda p: order.get(p["area_level"], len(order)))
        periods = list_items(r.periods)
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
    ph = ph.sort_values(["reporting_rate", "on_time_rate", "partner_name"], na_position="last")
    return pd.DataFrame(
        {
            t("col.partner"): ph["partner_name"],
            t("col.feed"): ph["feed_id"].fillna(t("health.all_feeds")),
            t("col.reporting_rate"): [data.fmt_pct(v) for v in ph["reporting_rate"]],
            t("col.on_time_rate"): [data.fmt_pct(v) for v in ph["on_time_rate"]],
            t("col.expected"): [data.fmt(v, 0) for v in ph["deliveries_expected"]],
            t("col.missing"): [data.fmt(v, 0) for v in ph["deliveries_missing"]],
            t("col.rejected"): [data.fmt(v, 0) for v in ph["deliveries_rejected"]],
        }
    ).reset_index(drop=True)


FEED_COLUMNS = {
    "col.status": st.column_config.TextColumn(width="small"),
    "col.feed": st.column_config.TextColumn(width="medium"),
    "col.period": st.column_config.TextColumn(width="small"),
    "col.due": st.column_config.TextColumn(width="small"),
    "col.days_late": st.column_config.TextColumn(width="small"),
    "col.reason": st.column_config.TextColumn(width="large"),
    "col.rows_rejected": st.column_config.TextColumn(width="small"),
    "col.partner": st.column_config.TextColumn(width="medium"),
}


def column_widths(widths: dict) -> dict:
    return {t(key): config for key, config in widths.items()}


def _rejected(fh: pd.DataFrame, reasons: dict[tuple[str, str], str]) -> None:
    """Each rejected delivery with the reason its file was refused, in full."""
    rejected = fh[fh["delivery_status"] == "rejected"].sort_values(["feed_id", "period_id"])
    for r in rejected.itertuples():
        reason = reasons.get((r.feed_id, r.period_id)) or t("health.no_reason")
        st.markdown(
            f"{STATUS_ICON['rejected']} **{md(r.feed_id)} {md(r.period_id)}**: {md(reason)}"
        )


def _documentation() -> None:
    """Links to the GX Data Docs and the dbt docs, served over HTTP by `cim serve`."""
    st.subheader(t("health.documentation"))
    quality = data.data_docs()
    dbt_docs = data.dbt_docs()
    if quality.exists():
        st.markdown(f"[{t('health.open_docs')}]({docs_url('quality/')})")
    else:
        st.caption(t("health.no_docs"))
    if dbt_docs.exists():
        st.markdown(f"[{t('health.open_dbt_docs')}]({docs_url('dbt/')})")
    else:
        st.caption(t("health.no_dbt_docs"))
    st.caption(t("health.docs_served"))


def render() -> None:
    st.title(t("page.health"))
    if not require_data():
        return
    fh = data.table("marts.fct_feed_health")
    as_of = fh["health_as_of"].max() if not fh.empty else None
    st.caption(t("health.as_of", date=data.fmt_date(as_of)))
    problems = fh[fh["delivery_status"].isin(PROBLEMS)]
    if problems.empty:
        st.success(t("health.all_good"), icon="✅")
    else:
        st.warning(t("health.problems", n=len(problems)), icon="⚠️")
    ledger = data.query(
        "SELECT feed, periods, reason, received_at FROM meta.file_ledger WHERE status = 'rejected'"
    )
    reasons = rejection_reasons(ledger) if not ledger.empty else {}
    _rejected(fh, reasons)
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
    partners = data.table("marts.dim_partner")
    names = dict(zip(partners["partner_id"], partners["partner_name"], strict=True))
    feeds = feed_table(fh, names, reasons)
    statuses = problems_first(fh)["delivery_status"].reset_index(drop=True)
    st.dataframe(
        status_style(feeds, statuses, t("col.status")),
        hide_index=True,
        width="stretch",
        column_config=column_widths(FEED_COLUMNS),
    )
    offer_downloads(feeds, "feed_health")
    st.subheader(t("health.partners"))
    st.caption(t("health.rates_rule"))
    rates = partner_table(data.table("marts.fct_partner_health"))
    st.dataframe(
        rates,
        hide_index=True,
        width="stretch",
        column_config={t("col.partner"): st.column_config.TextColumn(width="large")},
    )
    offer_downloads(rates, "reporting_rates")

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
            offer_downloads(placed, "rows_per_level")

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
        st.caption(t("health.quality_count", total=len(dq), failed=failed))
        checks = pd.DataFrame(
            {
                t("col.result"): [
                    f"✅ {t('health.passed')}" if s else f"❌ {t('health.failed')}"
                    for s in dq["success"]
                ],
                t("col.asset"): dq["asset"],
                t("col.expectation"): [i18n.reason(e) for e in dq["expectation"]],
                t("col.severity"): dq["severity"],
                t("col.message"): [i18n.reason(m) for m in dq["message"]],
            }
        )
        st.dataframe(
            checks,
            hide_index=True,
            width="stretch",
            column_config={t("col.message"): st.column_config.TextColumn(width="large")},
        )
        offer_downloads(checks, "quality_checks")
        with st.expander(t("app.technical")):
            st.markdown(f"{t('health.run_id')}: {md_code(dq.iloc[0]['run_id'])}")
    _documentation()
