"""The backbone's cockpit: who delivered what, when, what went wrong, who was reminded.

A grid of every partner's feeds against the months deliveries were due, each cell the
delivery's status; reporting rates per partner; every rejection with its reason and
example rows; the log of reminders sent and a "send reminder now" that keeps to the
de-duplication interval; the partners' contacts. Backbone only (``app.access``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from cim import settings
from cim.city import load_city
from cim.health import reminders
from cim.publish import connect_published

from app import access, data, i18n
from app.export import offer_downloads
from app.i18n import t
from app.text import md
from app.views.health import STATUS_ICON, partner_table, problems_first, status_label

# months of due dates the grid shows, newest last; older ones are in the download
GRID_MONTHS = 12
EXAMPLES_PER_FILE = 5


def delivery_grid(fh: pd.DataFrame, partner_names: dict[str, str]) -> pd.DataFrame:
    """One row per partner and feed, one column per month a delivery fell due; a cell is
    each delivery due that month as its status icon and period (a weekly feed has several)."""
    if fh.empty:
        return pd.DataFrame()
    owed = fh.assign(
        due_month=pd.to_datetime(fh["due_date"]).dt.strftime("%Y-%m"),
        partner=[partner_names.get(p, p) for p in fh["partner_id"]],
        cell=[
            f"{STATUS_ICON.get(s, '')} {p}".strip()
            for s, p in zip(fh["delivery_status"], fh["period_id"], strict=True)
        ],
    )
    grid = owed.pivot_table(
        index=["partner", "feed_id"],
        columns="due_month",
        values="cell",
        aggfunc=lambda cells: " ".join(sorted(cells)),
        fill_value="",
    )
    grid = grid[sorted(grid.columns)]
    grid.columns.name = None
    grid = grid.reset_index().rename(
        columns={"partner": t("col.partner"), "feed_id": t("col.feed")}
    )
    return grid


def rejections(ledger: pd.DataFrame, rows: pd.DataFrame) -> list[dict]:
    """Every file rejected or loaded with rejected rows: its reason and a few example rows."""
    out = []
    for r in ledger.itertuples():
        examples = rows[rows["load_id"] == r.load_id].head(EXAMPLES_PER_FILE)
        out.append(
            {
                "file": r.original_name,
                "feed": r.feed,
                "status": r.status,
                "rows_rejected": r.rows_rejected,
                "reason": i18n.reason(r.reason) if isinstance(r.reason, str) else "",
                "examples": pd.DataFrame(
                    {
                        t("col.row"): [data.fmt(v, 0) for v in examples["row_number"]],
                        t("col.column"): examples["column_name"].fillna(""),
                        t("col.reason"): [i18n.reason(v) for v in examples["reason"]],
                        t("col.row_text"): examples["row_text"].fillna(""),
                    }
                ),
            }
        )
    return out


def reminder_log(entries: list) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("col.sent"): [data.fmt_date(e.sent_at) for e in entries],
            t("col.partner"): [e.partner_id for e in entries],
            t("col.feed"): [e.feed for e in entries],
            t("col.period"): [e.period for e in entries],
            t("col.kind"): [t(f"reminder.kind.{e.kind}") for e in entries],
            t("col.recipients"): [", ".join(e.recipients) for e in entries],
            t("col.channel"): [e.channel for e in entries],
            t("col.sent_by"): [e.sent_by for e in entries],
        }
    )


def contacts_table(partners: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            t("col.partner"): partners["partner_name"],
            t("col.kind"): partners["partner_kind"],
            t("col.contact"): partners["contact_name"].fillna(""),
            t("col.email"): partners["contact_email"].fillna(""),
            t("col.feeds"): [", ".join(list(f)) for f in partners["feed_ids"]],
        }
    )


def _send_now(who: access.Viewer, fh: pd.DataFrame) -> None:
    owed = problems_first(fh[fh["delivery_status"].isin(("missing", "rejected"))])
    if owed.empty:
        st.caption(t("cockpit.nothing_to_remind"))
        return
    choices = [f"{f} {p}" for f, p in zip(owed["feed_id"], owed["period_id"], strict=True)]
    labels = {
        c: f"{status_label(s)} · {c}" for c, s in zip(choices, owed["delivery_status"], strict=True)
    }
    pick = st.selectbox(
        t("cockpit.remind_which"), choices, format_func=labels.get, key="remind_pick"
    )
    if not st.button(t("cockpit.remind_now"), key="remind_now"):
        return
    feed, period = pick.split(" ", 1)
    paths = settings.Paths(settings.cim_home())
    with connect_published(paths) as con:
        outcome = reminders.send_now(
            con, load_city(settings.city_dir()), access.state(), feed, period, who.username
        )
    if outcome.status == "sent":
        st.success(t("cockpit.reminder_sent", feed=md(feed), period=md(period)), icon="📨")
    elif outcome.status == "too_soon":
        st.warning(
            t(
                "cockpit.reminder_held",
                feed=md(feed),
                period=md(period),
                last=data.fmt_date(outcome.last_sent_at),
                next=data.fmt_date(outcome.next_allowed_at),
            ),
            icon="⏳",
        )
    else:  # nothing due any more: the delivery arrived since the snapshot was read
        st.info(t("cockpit.nothing_to_remind"))


def render() -> None:
    who = access.require(access.BACKBONE)
    st.title(t("page.cockpit"))
    if not data.available():
        st.warning(f"**{t('empty.title')}**")
        return
    fh = data.table("marts.fct_feed_health")
    partners = data.table("marts.dim_partner")
    names = dict(zip(partners["partner_id"], partners["partner_name"], strict=True))

    st.subheader(t("cockpit.grid"))
    st.caption(t("cockpit.grid_caption"))
    grid = delivery_grid(fh, names)
    if grid.empty:
        st.info(t("cockpit.nothing_owed"))
    else:
        fixed = list(grid.columns[:2])
        recent = [c for c in grid.columns[2:]][-GRID_MONTHS:]
        st.dataframe(grid[fixed + recent], hide_index=True, width="stretch")
        offer_downloads(grid, "delivery_grid")
    st.caption(" · ".join(f"{icon} {i18n.status(s)}" for s, icon in STATUS_ICON.items()))

    st.subheader(t("health.partners"))
    st.caption(t("health.rates_rule"))
    rates = partner_table(data.table("marts.fct_partner_health"))
    st.dataframe(rates, hide_index=True, width="stretch")

    st.subheader(t("cockpit.rejections"))
    ledger = data.query(
        "SELECT load_id, original_name, feed, status, rows_rejected, reason "
        "FROM meta.file_ledger WHERE status = 'rejected' OR rows_rejected > 0 "
        "ORDER BY received_at DESC"
    )
    rows = (
        # the first few of each file, not the table: a bad delivery can reject millions
        data.query(
            "SELECT load_id, row_number, column_name, reason, row_text FROM meta.rejected_rows "
            "QUALIFY row_number() OVER (PARTITION BY load_id ORDER BY row_number) <= ?",
            (EXAMPLES_PER_FILE,),
        )
        if data.has_table("meta", "rejected_rows")
        else pd.DataFrame(columns=["load_id", "row_number", "column_name", "reason", "row_text"])
    )
    found = rejections(ledger, rows)
    if not found:
        st.info(t("cockpit.no_rejections"))
    for item in found:
        title = t(
            "cockpit.rejection_title",
            file=md(item["file"]),
            feed=md(item["feed"]),
            status=i18n.status(item["status"]),
            n=data.fmt(item["rows_rejected"], 0),
        )
        with st.expander(title):
            if item["reason"]:
                st.markdown(md(item["reason"]))
            if not item["examples"].empty:
                st.dataframe(item["examples"], hide_index=True, width="stretch")

    st.subheader(t("cockpit.reminders"))
    _send_now(who, fh)
    entries = access.state().reminders.list()
    if entries:
        log = reminder_log(entries)
        st.dataframe(log, hide_index=True, width="stretch")
        offer_downloads(log, "reminder_log")
    else:
        st.info(t("cockpit.no_reminders"))

    st.subheader(t("cockpit.contacts"))
    st.dataframe(contacts_table(partners), hide_index=True, width="stretch")
