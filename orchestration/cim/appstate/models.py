"""Tables of the app's own state: accounts, login attempts, notes, uploads, reminders.

Never in the warehouse: the pipeline is the warehouse's single writer, while the app
writes these while it serves. Every timestamp is stored as UTC.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """A naive UTC timestamp in the database, an aware UTC datetime in Python.

    SQLite keeps no time zone, so both engines store naive UTC; a naive value given in
    is taken as UTC (what ``dt.datetime.now(dt.UTC)`` stripped of its zone is)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return as_utc(value).replace(tzinfo=None) if value is not None else None

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=dt.UTC) if value is not None else None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime; a naive one is taken as UTC already."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime}  # noqa: RUF012 (SQLAlchemy reads it)


class AccountRow(Base):
    __tablename__ = "accounts"

    username: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    # None: the account logs in only through OpenID Connect (matched by email)
    password_hash: Mapped[str | None] = mapped_column(sa.String(500))
    role: Mapped[str] = mapped_column(sa.String(20))
    partner_id: Mapped[str | None] = mapped_column(sa.String(200))
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(320), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("role IN ('backbone', 'partner')", name="ck_accounts_role"),
        sa.CheckConstraint(
            "(role = 'partner') = (partner_id IS NOT NULL)", name="ck_accounts_partner"
        ),
    )


class LoginAttemptRow(Base):
    __tablename__ = "login_attempts"

    attempt_id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(200), index=True)
    client: Mapped[str] = mapped_column(sa.String(200), index=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    ok: Mapped[bool]
    # the message key the attempt got: only "login.bad_credentials" counts as a failure,
    # so tries while locked do not keep the lock going for ever
    reason: Mapped[str | None] = mapped_column(sa.String(50))


class NoteRow(Base):
    """What a note is about; its text lives in versions."""

    __tablename__ = "notes"

    note_id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[str] = mapped_column(sa.String(200), index=True)
    area_id: Mapped[str | None] = mapped_column(sa.String(200))
    period_id: Mapped[str | None] = mapped_column(sa.String(50))
    partner_id: Mapped[str | None] = mapped_column(sa.String(200))
    hidden: Mapped[bool] = mapped_column(default=False)
    hidden_by: Mapped[str | None] = mapped_column(sa.String(200))
    hidden_at: Mapped[dt.datetime | None]


class NoteVersionRow(Base):
    __tablename__ = "note_versions"

    note_id: Mapped[int] = mapped_column(sa.ForeignKey("notes.note_id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(sa.Text)
    author: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(sa.String(200))
    approved_at: Mapped[dt.datetime | None]


class UploadRow(Base):
    __tablename__ = "uploads"

    upload_id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[str] = mapped_column(sa.String(200), index=True)
    actor: Mapped[str] = mapped_column(sa.String(200))
    original_name: Mapped[str] = mapped_column(sa.String(500))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    action: Mapped[str] = mapped_column(sa.String(20))
    feed: Mapped[str | None] = mapped_column(sa.String(200))
    summary: Mapped[dict] = mapped_column(sa.JSON)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.CheckConstraint(
            "action IN ('dry_run', 'submitted', 'refused')", name="ck_uploads_action"
        ),
    )


class ReminderRow(Base):
    __tablename__ = "reminders"

    reminder_id: Mapped[int] = mapped_column(primary_key=True)
    feed: Mapped[str] = mapped_column(sa.String(200))
    period: Mapped[str] = mapped_column(sa.String(50))
    kind: Mapped[str] = mapped_column(sa.String(20))
    partner_id: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    recipients: Mapped[list] = mapped_column(sa.JSON)
    subject: Mapped[str] = mapped_column(sa.Text)
    channel: Mapped[str] = mapped_column(sa.String(20))
    sent_by: Mapped[str] = mapped_column(sa.String(200))
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.Index("ix_reminders_feed_period_kind", "feed", "period", "kind"),)


class SessionRow(Base):
    """A signed-in session. Only the token's hash is kept: a copy of this database opens
    no session."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    username: Mapped[str] = mapped_column(sa.ForeignKey("accounts.username"), index=True)
    via: Mapped[str] = mapped_column(sa.String(10))
    started_at: Mapped[dt.datetime]
    last_seen: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(sa.String(50))

    __table_args__ = (sa.CheckConstraint("via IN ('local', 'oidc')", name="ck_sessions_via"),)
