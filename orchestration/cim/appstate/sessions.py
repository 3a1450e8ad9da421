"""Signed-in sessions: a random token in the reader's Streamlit session (and cookie), its
hash here, and the rules for when it ends.

The app never trusts what a session says of itself: each page run hands the token back
and ``resolve`` answers with the account it belongs to, or None when the token is unknown,
ended (signed out, account disabled), idle longer than ``CIM_SESSION_IDLE_MINUTES``
(default 30) or older than ``CIM_SESSION_MAX_HOURS`` (default 8). Only a hash of the token
is stored, so a copy of this database opens no session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cim.appstate.accounts import Account
from cim.appstate.models import AccountRow, SessionRow
from cim.appstate.store import Store, record_of

Via = Literal["local", "oidc"]


def _setting(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return float(default)


def idle_limit() -> dt.timedelta:
    return dt.timedelta(minutes=_setting("CIM_SESSION_IDLE_MINUTES", 30))


def age_limit() -> dt.timedelta:
    return dt.timedelta(hours=_setting("CIM_SESSION_MAX_HOURS", 8))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Sessions(Store):
    def start(self, username: str, via: Via = "local") -> str:
        """Open a session for an active account; the token, to hand to the reader."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with Session(self._engine) as db, db.begin():
            account = db.get(AccountRow, username)
            if account is None or not account.active:
                raise ValueError(f"no active account {username!r}")
            db.add(
                SessionRow(
                    token_hash=_hash(token),
                    username=username,
                    via=via,
                    started_at=now,
                    last_seen=now,
                )
            )
        return token

    def resolve(self, token: str) -> Account | None:
        """The account whose live session ``token`` is, or None; a live one is kept alive."""
        if not token:
            return None
        now = self._clock()
        with Session(self._engine) as db, db.begin():
            row = db.get(SessionRow, _hash(token))
            if row is None or row.ended_at is not None:
                return None
            if now - row.last_seen > idle_limit() or now - row.started_at > age_limit():
                row.ended_at = now
                row.end_reason = "expired"
                return None
            account = db.get(AccountRow, row.username)
            if account is None or not account.active:
                row.ended_at = now
                row.end_reason = "account disabled"
                return None
            row.last_seen = now
            return record_of(Account, account)

    def via(self, token: str) -> Via:
        with Session(self._engine) as db:
            row = db.get(SessionRow, _hash(token))
            return row.via if row is not None else "local"

    def end(self, token: str, reason: str = "signed out") -> None:
        with Session(self._engine) as db, db.begin():
            row = db.get(SessionRow, _hash(token))
            if row is not None and row.ended_at is None:
                row.ended_at, row.end_reason = self._clock(), reason

    def end_all(self, username: str, reason: str) -> int:
        """End every live session of ``username`` (a disabled account, a new password)."""
        with Session(self._engine) as db, db.begin():
            result = db.execute(
                sa.update(SessionRow)
                .where(SessionRow.username == username, SessionRow.ended_at.is_(None))
                .values(ended_at=self._clock(), end_reason=reason)
            )
            return result.rowcount or 0
