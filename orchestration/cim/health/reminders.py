"""Remind partners of overdue and rejected deliveries, once per period and interval.

Messages say exactly what is missing or wrong and what to send. They go by SMTP when
``CIM_SMTP_HOST`` is set (``CIM_SMTP_PORT``, ``CIM_SMTP_USER``, ``CIM_SMTP_PASSWORD``,
``CIM_SMTP_FROM``, ``CIM_SMTP_STARTTLS``), otherwise to the log. The app state's reminder
log (``cim.appstate``, not the warehouse: the backbone also sends from the dashboard)
remembers what was sent, so the same period is not reminded of the same thing twice within
``CIM_REMINDER_INTERVAL_DAYS`` (default 7). A backfill period (a contract's ``backfill``:
history the partner delivers late on purpose) has its own status in fct_feed_health and
is never reminded, whether it arrived, was rejected or is still awaited.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal

import duckdb

from cim.appstate import AppState, open_state
from cim.appstate.models import as_utc, utcnow
from cim.city import City

log = logging.getLogger(__name__)
PIPELINE = "pipeline"  # sent_by of the reminders the pipeline's daily step sends


@dataclass(frozen=True)
class Reminder:
    feed: str
    period: str
    kind: str  # "overdue" or "rejected"
    recipients: tuple[str, ...]
    subject: str
    body: str
    partner_id: str | None = None


@dataclass(frozen=True)
class SendOutcome:
    """What "send reminder now" did: ``sent``; ``too_soon`` (one of this kind went at
    ``last_sent_at``, the next may go at ``next_allowed_at``); or ``nothing_due`` (the
    period is neither overdue nor rejected in the feed-health mart)."""

    status: Literal["sent", "too_soon", "nothing_due"]
    reminder: Reminder | None
    channel: str | None
    last_sent_at: dt.datetime | None
    next_allowed_at: dt.datetime | None


def _backbone_emails(city: City) -> list[str]:
    from_env = os.environ.get("CIM_BACKBONE_EMAIL")
    if from_env:
        return [from_env]
    return [p.contact.email for p in city.partners if p.is_backbone]


def due_reminders(con: duckdb.DuckDBPyConnection, city: City) -> list[Reminder]:
    """Every overdue or rejected period that deserves a message, from fct_feed_health."""
    rows = con.execute(
        "SELECT h.feed_id, h.period_id, h.delivery_status, h.due_date, h.grace_until, h.days_late, "
        "(SELECT string_agg(l.original_name || ': ' || l.reason, '; ' ORDER BY l.received_at) "
        " FROM meta.file_ledger AS l WHERE l.feed = h.feed_id AND list_contains("
        " coalesce(list_transform(l.period_rows, lambda r: r.period), [l.period]), h.period_id)"
        " AND l.status = 'rejected') AS rejections "
        "FROM marts.fct_feed_health AS h WHERE h.delivery_status IN ('missing', 'rejected') "
        "ORDER BY h.feed_id, h.period_id"
    ).fetchall()
    backbone = _backbone_emails(city)
    reminders = []
    for feed, period, status, due, grace_until, days_late, rejections in rows:
        contract = city.contract_by_feed[feed]
        contact = city.contact_for(contract)
        partner = city.partner_by_id[contract.partner].name
        to_send = f"a file named like {contract.file_pattern!r} for period {period}"
        if status == "rejected":
            subject = f"[{city.settings.name}] {feed} {period}: delivery rejected, please resend"
            body = (
                f"Dear {contact.name} ({partner}),\n\nThe delivery of {feed} for {period} "
                f"could not be used: {rejections}.\nPlease send {to_send}, following the agreed "
                f"format (cities/{city.folder.name}/feeds/{feed}.yaml). It was due on {due}."
            )
        else:
            subject = f"[{city.settings.name}] {feed} {period}: delivery overdue ({days_late} days)"
            body = (
                f"Dear {contact.name} ({partner}),\n\nThe delivery of {feed} for {period} was "
                f"due on {due} (grace until {grace_until}) and has not arrived: it is "
                f"{days_late} days late.\nPlease send {to_send}."
            )
        body += "\n\nThis is an automatic reminder from the backbone organisation's data platform."
        reminders.append(
            Reminder(
                feed,
                period,
                "rejected" if status == "rejected" else "overdue",
                tuple(dict.fromkeys([contact.email, *backbone])),
                subject,
                body,
                contract.partner,
            )
        )
    return reminders


def _send(reminder: Reminder) -> str:
    host = os.environ.get("CIM_SMTP_HOST")
    if not host:
        log.warning(
            "reminder (no SMTP configured) to %s: %s\n%s",
            ", ".join(reminder.recipients),
            reminder.subject,
            reminder.body,
        )
        return "log"
    message = EmailMessage()
    message["From"] = os.environ.get("CIM_SMTP_FROM", "cim@localhost")
    message["To"] = ", ".join(reminder.recipients)
    message["Subject"] = reminder.subject
    message.set_content(reminder.body)
    with smtplib.SMTP(host, int(os.environ.get("CIM_SMTP_PORT", "25")), timeout=30) as smtp:
        if os.environ.get("CIM_SMTP_STARTTLS", "").lower() in {"1", "true", "yes"}:
            smtp.starttls()
        if os.environ.get("CIM_SMTP_USER"):
            smtp.login(os.environ["CIM_SMTP_USER"], os.environ.get("CIM_SMTP_PASSWORD", ""))
        smtp.send_message(message)
    return "smtp"


def _interval() -> dt.timedelta:
    return dt.timedelta(days=float(os.environ.get("CIM_REMINDER_INTERVAL_DAYS", "7")))


def _deliver(state: AppState, reminder: Reminder, sent_by: str, now: dt.datetime) -> str:
    channel = _send(reminder)
    state.reminders.record(
        reminder.feed,
        reminder.period,
        reminder.kind,
        reminder.partner_id,
        list(reminder.recipients),
        reminder.subject,
        channel,
        sent_by,
        now,
    )
    return channel


def carry_warehouse_log(con: duckdb.DuckDBPyConnection, city: City, state: AppState) -> int:
    """Move a warehouse's old ``meta.reminders`` (kept there before the app state existed)
    into the app state, then drop it; how many were moved. Rows already carried (a run
    stopped between the two steps) are not carried twice."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'meta' AND table_name = 'reminders'"
    ).fetchone()[0]
    if not exists:
        return 0
    rows = con.execute(
        "SELECT feed, period, kind, recipients, subject, channel, sent_at FROM meta.reminders "
        "ORDER BY sent_at"
    ).fetchall()
    known = {(r.feed, r.period, r.kind, r.sent_at) for r in state.reminders.list()}
    moved = 0
    for feed, period, kind, recipients, subject, channel, sent_at in rows:
        if (feed, period, kind, as_utc(sent_at)) in known:
            continue
        contract = city.contract_by_feed.get(feed)
        state.reminders.record(
            feed,
            period,
            kind,
            contract.partner if contract else None,
            list(recipients or []),
            subject,
            channel,
            PIPELINE,
            sent_at,
        )
        moved += 1
    con.execute("DROP TABLE meta.reminders")
    log.info("moved %d reminders from the warehouse's meta.reminders to %s", moved, state.url)
    return moved


def send_reminders(
    con: duckdb.DuckDBPyConnection,
    city: City,
    now: dt.datetime | None = None,
    state: AppState | None = None,
) -> list[Reminder]:
    """Send what is due and not sent within the interval; returns what was sent.

    ``con`` is the warehouse (writable: an old reminder log in it is moved out first);
    ``state`` the app state (default: the deployment's, ``open_state()``)."""
    state = state or open_state()
    carry_warehouse_log(con, city, state)
    now = as_utc(now) if now else utcnow()
    sent = []
    for reminder in due_reminders(con, city):
        last = state.reminders.last_sent(reminder.feed, reminder.period, reminder.kind)
        if last is not None and last > now - _interval():
            continue
        _deliver(state, reminder, PIPELINE, now)
        sent.append(reminder)
    return sent


def send_now(
    con: duckdb.DuckDBPyConnection,
    city: City,
    state: AppState,
    feed: str,
    period: str,
    sent_by: str,
    now: dt.datetime | None = None,
) -> SendOutcome:
    """The backbone's "send reminder now" for one feed and period, from ``con`` (the
    published snapshot or the warehouse); the interval rule holds here too, so a partner
    is not sent the same reminder twice in a week whoever presses the button."""
    now = as_utc(now) if now else utcnow()
    reminder = next(
        (r for r in due_reminders(con, city) if (r.feed, r.period) == (feed, period)), None
    )
    if reminder is None:
        return SendOutcome("nothing_due", None, None, None, None)
    last = state.reminders.last_sent(feed, period, reminder.kind)
    if last is not None and last > now - _interval():
        return SendOutcome("too_soon", reminder, None, last, last + _interval())
    channel = _deliver(state, reminder, sent_by, now)
    return SendOutcome("sent", reminder, channel, last, now + _interval())
