"""A partner's own page: its feeds, deliveries, rejected rows and reminders, and uploads.

Every query here is filtered on the partner of the signed-in account (``access.viewer``),
never on anything the browser sends: no query parameter or widget chooses the partner.
Rejected rows come as the ledger kept them, personal values already masked at ingestion.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import access, data, i18n
from app.export import offer_downloads
from app.i18n import t
from app.text import md
from app.views import upload
from app.views.common import require_data
from app.views.health import (
    FEED_COLUMNS,
    column_widths,
    feed_table,
    list_items,
    problems_first,
    rejection_reasons,
    status_label,
    status_style,
)

# rows of one delivery shown on the page; the download carries them all
ROWS_SHOWN = 200


def own_feed_health(partner_id: str) -> pd.DataFrame:
    return data.query("SELECT * FROM marts.fct_feed_health WHERE partner_id = ?", (partner_id,))


def own_deliveries(partner_id: str) -> pd.DataFrame:
    """The partner's files as the ledger recorded them, newest first."""
    return data.query(
        "SELECT load_id, original_name, feed, period, periods, received_at, status, "
        "rows_read, rows_accepted, rows_rejected, reason FROM meta.file_ledger "
        "WHERE partner = ? ORDER BY received_at DESC, original_name",
        (partner_id,),
    )


def own_rejected_rows(partner_id: str) -> pd.DataFrame:
    """Rows of the partner's deliveries that were rejected, with why; personal values were
    masked when the rows were kept."""
    if not data.has_table("meta", "rejected_rows"):
        return pd.DataFrame()
    return data.query(
        "SELECT l.original_name, r.feed, r.row_number, r.column_name, r.reason, r.row_text "
        "FROM meta.rejected_rows AS r JOIN meta.file_ledger AS l USING (load_id) "
        "WHERE l.partner = ? ORDER BY l.received_at DESC, r.row_number",
        (partner_id,),
    )


def deliveries_table(ledger: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("col.file"): ledger["original_name"],
            t("col.feed"): ledger["feed"],
            t("col.periods"): [
                ", ".join(list_items(ps)) or (p if isinstance(p, str) else "")
                for ps, p in zip(ledger["periods"], ledger["period"], strict=True)
            ],
            t("col.received"): [data.fmt_date(v) for v in ledger["received_at"]],
            t("col.status"): [i18n.status(v) for v in ledger["status"]],
            t("col.rows_accepted"): [data.fmt(v, 0) for v in ledger["rows_accepted"]],
            t("col.rows_rejected"): [data.fmt(v, 0) for v in ledger["rows_rejected"]],
            t("col.reason"): [
                i18n.reason(r) if isinstance(r, str) else "" for r in ledger["reason"]
            ],
        }
    ).reset_index(drop=True)


def rejected_rows_table(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("col.file"): rows["original_name"],
            t("col.row"): [data.fmt(v, 0) for v in rows["row_number"]],
            t("col.column"): rows["column_name"].fillna(""),
            t("col.reason"): [i18n.reason(r) for r in rows["reason"]],
            t("col.row_text"): rows["row_text"].fillna(""),
        }
    ).reset_index(drop=True)


def reminders_table(entries: list) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("col.sent"): [data.fmt_date(e.sent_at) for e in entries],
            t("col.feed"): [e.feed for e in entries],
            t("col.period"): [e.period for e in entries],
            t("col.kind"): [t(f"reminder.kind.{e.kind}") for e in entries],
            t("col.subject"): [e.subject for e in entries],
        }
    )


def partner_name(partner_id: str) -> str:
    partners = data.table("marts.dim_partner")
    found = partners[partners["partner_id"] == partner_id]
    return str(found["partner_name"].iloc[0]) if not found.empty else partner_id


def _section(title, empty, table_of, frame: pd.DataFrame, download: str, caption=None) -> None:
    """A heading, then the table (its first ``ROWS_SHOWN`` rows; the download has all), or
    what the partner should know when there is none."""
    st.subheader(t(title))
    if frame.empty:
        st.info(t(empty))
        return
    table = table_of(frame)
    if caption:
        st.caption(t(caption, n=data.fmt(len(table), 0)))
    st.dataframe(table.head(ROWS_SHOWN), hide_index=True, width="stretch")
    offer_downloads(table, download)


def render() -> None:
    who = access.require(access.PARTNER)
    st.title(t("page.portal"))
    if not require_data():
        return
    partner = who.partner_id
    st.caption(t("portal.explain", partner=md(partner_name(partner))))

    upload.render(who)

    st.subheader(t("portal.feeds"))
    fh = own_feed_health(partner)
    if fh.empty:
        st.info(t("portal.no_feeds"))
    else:
        ledger = data.query(
            "SELECT feed, periods, reason, received_at FROM meta.file_ledger "
            "WHERE status = 'rejected' AND partner = ?",
            (partner,),
        )
        reasons = rejection_reasons(ledger) if not ledger.empty else {}
        feeds = feed_table(fh, None, reasons).drop(columns=[t("col.partner")])
        statuses = problems_first(fh)["delivery_status"].reset_index(drop=True)
        st.dataframe(
            status_style(feeds, statuses, t("col.status")),
            hide_index=True,
            width="stretch",
            column_config=column_widths(
                {k: v for k, v in FEED_COLUMNS.items() if k != "col.partner"}
            ),
        )
        offer_downloads(feeds, "my_feed_health")
        late = fh[fh["delivery_status"].isin(("missing", "rejected", "late"))]
        for r in problems_first(late).itertuples():
            st.markdown(f"{status_label(r.delivery_status)}: **{md(r.feed_id)} {md(r.period_id)}**")

    deliveries = own_deliveries(partner)
    _section(
        "portal.deliveries", "portal.no_deliveries", deliveries_table, deliveries, "my_deliveries"
    )
    rows = own_rejected_rows(partner)
    _section(
        "portal.rejected_rows",
        "portal.no_rejected_rows",
        rejected_rows_table,
        rows,
        "my_rejected_rows",
        caption="portal.rejected_rows_caption",
    )

    st.subheader(t("portal.reminders"))
    entries = access.state().reminders.list(partner_id=partner)
    if not entries:
        st.info(t("portal.no_reminders"))
    else:
        st.dataframe(reminders_table(entries), hide_index=True, width="stretch")
