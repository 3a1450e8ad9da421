"""Append-only trails: what partners uploaded (item 2) and which reminders went out (item 3)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cim.appstate.models import ReminderRow, UploadRow, as_utc

UploadAction = Literal["dry_run", "submitted", "refused"]
UPLOAD_ACTIONS = ("dry_run", "submitted", "refused")


@dataclass(frozen=True)
class Upload:
    upload_id: int
    partner_id: str
    actor: str
    original_name: str
    sha256: str
    size_bytes: int
    action: UploadAction
    feed: str | None
    summary: dict
    recorded_at: dt.datetime


@dataclass(frozen=True)
class ReminderEntry:
    reminder_id: int
    feed: str
    period: str
    kind: str
    partner_id: str | None
    recipients: list[str]
    subject: str
    channel: str
    sent_by: str
    sent_at: dt.datetime


def _upload(row: UploadRow) -> Upload:
    return Upload(
        row.upload_id,
        row.partner_id,
        row.actor,
        row.original_name,
        row.sha256,
        row.size_bytes,
        row.action,
        row.feed,
        row.summary,
        row.recorded_at,
    )


def _reminder(row: ReminderRow) -> ReminderEntry:
    return ReminderEntry(
        row.reminder_id,
        row.feed,
        row.period,
        row.kind,
        row.partner_id,
        list(row.recipients),
        row.subject,
        row.channel,
        row.sent_by,
        row.sent_at,
    )


class Uploads:
    def __init__(self, engine: sa.Engine, clock: Callable[[], dt.datetime]):
        self._engine, self._clock = engine, clock

    def record(
        self,
        partner_id: str,
        actor: str,
        original_name: str,
        sha256: str,
        size_bytes: int,
        action: UploadAction,
        feed: str | None,
        summary: dict,
    ) -> Upload:
        if action not in UPLOAD_ACTIONS:
            raise ValueError(f"upload action {action!r}: use one of {', '.join(UPLOAD_ACTIONS)}")
        with Session(self._engine) as session, session.begin():
            row = UploadRow(
                partner_id=partner_id,
                actor=actor,
                original_name=original_name,
                sha256=sha256,
                size_bytes=size_bytes,
                action=action,
                feed=feed,
                summary=summary,
                recorded_at=self._clock(),
            )
            session.add(row)
            session.flush()
            return _upload(row)

    def list(self, partner_id: str | None = None, limit: int = 200) -> list[Upload]:
        """Newest first."""
        query = sa.select(UploadRow).order_by(
            UploadRow.recorded_at.desc(), UploadRow.upload_id.desc()
        )
        if partner_id is not None:
            query = query.filter_by(partner_id=partner_id)
        with Session(self._engine) as session:
            return [_upload(row) for row in session.scalars(query.limit(limit))]


class Reminders:
    def __init__(self, engine: sa.Engine, clock: Callable[[], dt.datetime]):
        self._engine, self._clock = engine, clock

    def record(
        self,
        feed: str,
        period: str,
        kind: str,
        partner_id: str | None,
        recipients: list[str],
        subject: str,
        channel: str,
        sent_by: str,
        sent_at: dt.datetime | None = None,
    ) -> ReminderEntry:
        with Session(self._engine) as session, session.begin():
            row = ReminderRow(
                feed=feed,
                period=period,
                kind=kind,
                partner_id=partner_id,
                recipients=list(recipients),
                subject=subject,
                channel=channel,
                sent_by=sent_by,
                sent_at=as_utc(sent_at or self._clock()),
            )
            session.add(row)
            session.flush()
            return _reminder(row)

    def list(self, partner_id: str | None = None, feed: str | None = None) -> list[ReminderEntry]:
        """Newest first."""
        query = sa.select(ReminderRow).order_by(
            ReminderRow.sent_at.desc(), ReminderRow.reminder_id.desc()
        )
        if partner_id is not None:
            query = query.filter_by(partner_id=partner_id)
        if feed is not None:
            query = query.filter_by(feed=feed)
        with Session(self._engine) as session:
            return [_reminder(row) for row in session.scalars(query)]

    def last_sent(self, feed: str, period: str, kind: str) -> dt.datetime | None:
        with Session(self._engine) as session:
            return session.scalar(
                sa.select(sa.func.max(ReminderRow.sent_at)).filter_by(
                    feed=feed, period=period, kind=kind
                )
            )
