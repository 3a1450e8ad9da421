"""Remind partners of overdue and rejected deliveries, once per period and interval.

Messages say exactly what is missing or wrong and what to send. They go by SMTP when
``CIM_SMTP_HOST`` is set (``CIM_SMTP_PORT``, ``CIM_SMTP_USER``, ``CIM_SMTP_PASSWORD``,
``CIM_SMTP_FROM``, ``CIM_SMTP_STARTTLS``), otherwise to the log. ``meta.reminders``
remembers what was sent, so the same overdue period is not reminded twice within
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

import duckdb

from cim.city import City

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS meta.reminders (
    feed VARCHAR, period VARCHAR, kind VARCHAR, recipients VARCHAR[], subject VARCHAR,
    channel VARCHAR, sent_at TIMESTAMP
)
"""


@dataclass(frozen=True)
class Reminder:
    feed: str
    period: str
    kind: str  # "overdue" or "rejected"
    recipients: tuple[str, ...]
    subject: str
    body: str


def _backbone_emails(city: City) -> list[str]:
    from_env = os.environ.get("CIM_BACKBONE_EMAIL")
    if from_env:
        return [from_env]
    return [p.contact.email for p in city.partners if p.kind == "backbone"]


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


def send_reminders(
    con: duckdb.DuckDBPyConnection, city: City, now: dt.datetime | None = None
) -> list[Reminder]:
    """Send what is due and not sent within the interval; returns what was sent."""
    con.execute(_DDL)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    interval = dt.timedelta(days=float(os.environ.get("CIM_REMINDER_INTERVAL_DAYS", "7")))
    sent = []
    for reminder in due_reminders(con, city):
        recent = con.execute(
            "SELECT count(*) FROM meta.reminders WHERE feed = ? AND period = ? AND kind = ? "
            "AND sent_at > ?",
            [reminder.feed, reminder.period, reminder.kind, now - interval],
        ).fetchone()[0]
        if recent:
            continue
        channel = _send(reminder)
        con.execute(
            "INSERT INTO meta.reminders VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                reminder.feed,
                reminder.period,
                reminder.kind,
                list(reminder.recipients),
                reminder.subject,
                channel,
                now,
            ],
        )
        sent.append(reminder)
    return sent
