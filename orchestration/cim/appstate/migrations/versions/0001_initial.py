"""App state: accounts, login attempts, notes (versioned), uploads, reminders.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=500), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("partner_id", sa.String(length=200), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "(role = 'partner') = (partner_id IS NOT NULL)", name="ck_accounts_partner"
        ),
        sa.CheckConstraint("role IN ('backbone', 'partner')", name="ck_accounts_role"),
        sa.PrimaryKeyConstraint("username"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "login_attempts",
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("attempt_id"),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_attempts_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempts_client"), ["client"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempts_username"), ["username"], unique=False)

    op.create_table(
        "notes",
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.String(length=200), nullable=False),
        sa.Column("area_id", sa.String(length=200), nullable=True),
        sa.Column("period_id", sa.String(length=50), nullable=True),
        sa.Column("partner_id", sa.String(length=200), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("hidden_by", sa.String(length=200), nullable=True),
        sa.Column("hidden_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("note_id"),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notes_indicator_id"), ["indicator_id"], unique=False)

    op.create_table(
        "reminders",
        sa.Column("reminder_id", sa.Integer(), nullable=False),
        sa.Column("feed", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("partner_id", sa.String(length=200), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("sent_by", sa.String(length=200), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("reminder_id"),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reminders_feed_period_kind", ["feed", "period", "kind"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reminders_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "uploads",
        sa.Column("upload_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("original_name", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("feed", sa.String(length=200), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "action IN ('dry_run', 'submitted', 'refused')", name="ck_uploads_action"
        ),
        sa.PrimaryKeyConstraint("upload_id"),
    )
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_uploads_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "note_versions",
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["notes.note_id"],
        ),
        sa.PrimaryKeyConstraint("note_id", "version"),
    )


def downgrade() -> None:
    op.drop_table("note_versions")
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_uploads_partner_id"))

    op.drop_table("uploads")
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_partner_id"))
        batch_op.drop_index("ix_reminders_feed_period_kind")

    op.drop_table("reminders")
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_indicator_id"))

    op.drop_table("notes")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempts_username"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_client"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_at"))

    op.drop_table("login_attempts")
    op.drop_table("accounts")
