"""Notes on an indicator ("the story behind the curve"), versioned and approved per version.

A revision is a new version awaiting approval; the public keeps reading the last approved
version meanwhile. Hiding takes a note away from the public and the partners (the backbone
still sees it, marked hidden).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cim.appstate.models import NoteRow, NoteVersionRow
from cim.appstate.store import Store, record_of

Audience = Literal["public", "partner", "backbone"]


@dataclass(frozen=True)
class Note:
    note_id: int
    version: int
    indicator_id: str
    area_id: str | None
    period_id: str | None
    partner_id: str | None
    body: str
    author: str
    created_at: dt.datetime
    approved_by: str | None
    approved_at: dt.datetime | None
    hidden: bool


def _check_body(body: str) -> str:
    if not body.strip():
        raise ValueError("the note is empty: write what happened behind the figures")
    return body.strip()


class Notes(Store):
    def add(
        self,
        indicator_id: str,
        body: str,
        author: str,
        area_id: str | None = None,
        period_id: str | None = None,
        partner_id: str | None = None,
    ) -> Note:
        with Session(self._engine) as session, session.begin():
            note = NoteRow(
                indicator_id=indicator_id,
                area_id=area_id,
                period_id=period_id,
                partner_id=partner_id,
                hidden=False,
            )
            session.add(note)
            session.flush()
            return self._add_version(session, note, 1, body, author)

    def _add_version(
        self, session: Session, note: NoteRow, number: int, body: str, author: str
    ) -> Note:
        version = NoteVersionRow(
            note_id=note.note_id,
            version=number,
            body=_check_body(body),
            author=author,
            created_at=self._clock(),
        )
        session.add(version)
        session.flush()
        return record_of(Note, note, version)

    def _get(self, session: Session, note_id: int) -> NoteRow:
        note = session.get(NoteRow, note_id, with_for_update=True)
        if note is None:
            raise ValueError(f"no note {note_id}: it may have been removed; reload the page")
        return note

    def revise(self, note_id: int, body: str, author: str) -> Note:
        with Session(self._engine) as session, session.begin():
            note = self._get(session, note_id)
            latest = session.scalar(
                sa.select(sa.func.max(NoteVersionRow.version)).filter_by(note_id=note_id)
            )
            return self._add_version(session, note, latest + 1, body, author)

    def approve(self, note_id: int, version: int, approver: str) -> Note:
        with Session(self._engine) as session, session.begin():
            note = self._get(session, note_id)
            row = session.get(NoteVersionRow, (note_id, version))
            if row is None:
                raise ValueError(f"note {note_id} has no version {version}: reload the page")
            if row.approved_at is None:
                row.approved_by, row.approved_at = approver, self._clock()
            return record_of(Note, note, row)

    def hide(self, note_id: int, by: str) -> Note:
        with Session(self._engine) as session, session.begin():
            note = self._get(session, note_id)
            note.hidden, note.hidden_by, note.hidden_at = True, by, self._clock()
            latest = session.scalars(
                sa.select(NoteVersionRow)
                .filter_by(note_id=note_id)
                .order_by(NoteVersionRow.version.desc())
            ).first()
            return record_of(Note, note, latest)

    def history(self, note_id: int) -> list[Note]:
        """Every version, first to last."""
        with Session(self._engine) as session:
            note = session.get(NoteRow, note_id)
            if note is None:
                return []
            versions = session.scalars(
                sa.select(NoteVersionRow).filter_by(note_id=note_id).order_by("version")
            )
            return [record_of(Note, note, v) for v in versions]

    def visible(
        self,
        audience: Audience,
        partner_id: str | None = None,
        indicator_id: str | None = None,
        area_id: str | None = None,
    ) -> list[Note]:
        """The version of each note this audience reads, oldest note first.

        public: the latest approved version of each note not hidden; partner: the latest
        version of its own notes, the latest approved version of the others' (hidden ones
        left out); backbone: the latest version of every note, hidden ones included."""
        if audience == "partner" and not partner_id:
            raise ValueError("the partner audience needs the partner's id")
        if audience not in ("public", "partner", "backbone"):
            raise ValueError(f"audience {audience!r}: use 'public', 'partner' or 'backbone'")
        version = NoteVersionRow
        readable = sa.true()
        if audience == "public":
            readable = version.approved_at.is_not(None)
        elif audience == "partner":
            readable = sa.or_(NoteRow.partner_id == partner_id, version.approved_at.is_not(None))
        latest = (
            sa.select(version.note_id, sa.func.max(version.version).label("version"))
            .join(NoteRow, NoteRow.note_id == version.note_id)
            .where(readable)
            .group_by(version.note_id)
            .subquery()
        )
        query = (
            sa.select(NoteRow, version)
            .join(latest, latest.c.note_id == NoteRow.note_id)
            .join(
                version,
                sa.and_(version.note_id == latest.c.note_id, version.version == latest.c.version),
            )
            .order_by(NoteRow.note_id)
        )
        if audience != "backbone":
            query = query.where(~NoteRow.hidden)
        if indicator_id is not None:
            query = query.where(NoteRow.indicator_id == indicator_id)
        if area_id is not None:
            query = query.where(NoteRow.area_id == area_id)
        with Session(self._engine) as session:
            return [record_of(Note, note, v) for note, v in session.execute(query)]
