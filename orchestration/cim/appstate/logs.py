"""Append-only trails: what partners uploaded (item 2) and which reminders went out (item 3)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cim.appstate.models import ReminderRow, UploadRow, as_utc
from cim.appstate.store import Store, record_of

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


class Uploads(Store):
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
        return self._insert(row, Upload)

    def list(self, partner_id: str | None = None, limit: int = 200) -> list[Upload]:
        """Newest first."""
        query = sa.select(UploadRow).order_by(
            UploadRow.recorded_at.desc(), UploadRow.upload_id.desc()
        )
        if partner_id is not None:
            query = query.filter_by(partner_id=partner_id)
        with Session(self._engine) as session:
            return [record_of(Upload, row) for row in session.scalars(query.limit(limit))]


class Reminders(Store):
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
        return self._insert(row, ReminderEntry)

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
            return [record_of(ReminderEntry, row) for row in session.scalars(query)]

    def last_sent(self, feed: str, period: str, kind: str) -> dt.datetime | None:
        with Session(self._engine) as session:
            return session.scalar(
                sa.select(sa.func.max(ReminderRow.sent_at)).filter_by(
                    feed=feed, period=period, kind=kind
                )
            )
