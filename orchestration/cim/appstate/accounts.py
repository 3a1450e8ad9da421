"""Local accounts for cities without an OpenID Connect provider, and the login rate limit.

Passwords are argon2 hashes (argon2-cffi's defaults; a hash made with older parameters is
replaced at the next good login). Every login attempt is kept in ``login_attempts``: once
a username or a client has ``CIM_LOGIN_MAX_FAILURES`` (default 5) bad passwords within
``CIM_LOGIN_WINDOW_MINUTES`` (default 15), every further try is locked, even with the
right password, until enough of those failures have left the window. A good login forgives the
earlier failures of the same username from the same client, never those of other clients.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass
from functools import cache
from typing import Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session, aliased

from cim.appstate.models import AccountRow, LoginAttemptRow
from cim.appstate.store import Store, record_of

Role = Literal["backbone", "partner"]
BACKBONE_ROLE, PARTNER_ROLE = "backbone", "partner"
ROLES = (BACKBONE_ROLE, PARTNER_ROLE)
MIN_PASSWORD_LENGTH = 12
BAD_CREDENTIALS, LOCKED, DISABLED = "login.bad_credentials", "login.locked", "login.disabled"

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the user is unknown, so an unknown name takes as long as a known one."""
    return _hasher.hash("not a password of anyone's")


@dataclass(frozen=True)
class Account:
    username: str
    role: Role
    partner_id: str | None
    display_name: str | None
    email: str | None
    active: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class AuthResult:
    ok: bool
    account: Account | None
    reason: str | None  # a message key for the UI, None when ok
    retry_after_s: int | None  # when locked: seconds until a try is allowed again


def normalise_username(username: str) -> str:
    name = username.strip().casefold()
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"username {username!r}: give one word without spaces, e.g. 'jdevries'")
    return name


def _normalise_email(email: str | None) -> str | None:
    return email.strip().casefold() if email and email.strip() else None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"password too short ({len(password)} characters): use at least "
            f"{MIN_PASSWORD_LENGTH}, e.g. four unrelated words"
        )


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


class Accounts(Store):
    def create(
        self,
        username: str,
        password: str | None,
        role: Role,
        partner_id: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
    ) -> Account:
        name = normalise_username(username)
        if role not in ROLES:
            raise ValueError(f"role {role!r}: use 'backbone' or 'partner'")
        if role == "partner" and not partner_id:
            raise ValueError(f"account {name}: a partner account needs its partner id")
        if role == "backbone" and partner_id:
            raise ValueError(
                f"account {name}: a backbone account sees every partner, give it no partner id"
            )
        if password is not None:
            _check_password(password)
        email = _normalise_email(email)
        with Session(self._engine) as session, session.begin():
            if session.get(AccountRow, name) is not None:
                raise ValueError(f"account {name} exists already: pick another username")
            if email and session.scalar(sa.select(AccountRow).filter_by(email=email)):
                raise ValueError(f"email {email} belongs to another account already")
            row = AccountRow(
                username=name,
                password_hash=_hasher.hash(password) if password is not None else None,
                role=role,
                partner_id=partner_id or None,
                display_name=display_name,
                email=email,
                active=True,
                created_at=self._clock(),
            )
            session.add(row)
            session.flush()
            return record_of(Account, row)

    def get(self, username: str) -> Account | None:
        with Session(self._engine) as session:
            row = session.get(AccountRow, username.strip().casefold())
            return record_of(Account, row) if row else None

    def by_email(self, email: str) -> Account | None:
        """The account an OpenID Connect login (st.login) belongs to."""
        if not _normalise_email(email):
            return None
        with Session(self._engine) as session:
            row = session.scalar(sa.select(AccountRow).filter_by(email=_normalise_email(email)))
            return record_of(Account, row) if row else None

    def list(self) -> list[Account]:
        with Session(self._engine) as session:
            rows = session.scalars(sa.select(AccountRow).order_by(AccountRow.username))
            return [record_of(Account, row) for row in rows]

    def _update(self, username: str, **values) -> Account:
        name = username.strip().casefold()
        with Session(self._engine) as session, session.begin():
            row = session.get(AccountRow, name)
            if row is None:
                raise ValueError(f"no account named {name!r}: `cim accounts list` shows them")
            for column, value in values.items():
                setattr(row, column, value)
            return record_of(Account, row)

    def set_password(self, username: str, password: str) -> Account:
        _check_password(password)
        account = self._update(username, password_hash=_hasher.hash(password))
        self._end_sessions(account.username, "password changed")
        return account

    def disable(self, username: str) -> Account:
        account = self._update(username, active=False)
        self._end_sessions(account.username, "account disabled")
        return account

    def _end_sessions(self, username: str, reason: str) -> None:
        from cim.appstate.sessions import Sessions  # sessions build on accounts

        Sessions(self._engine, self._clock).end_all(username, reason)

    def enable(self, username: str) -> Account:
        return self._update(username, active=True)

    def authenticate(self, username: str, password: str, client: str) -> AuthResult:
        name, now = username.strip().casefold(), self._clock()
        window = dt.timedelta(minutes=float(os.environ.get("CIM_LOGIN_WINDOW_MINUTES", "15")))
        limit = int(os.environ.get("CIM_LOGIN_MAX_FAILURES", "5"))
        with Session(self._engine) as session, session.begin():
            retry_after = _locked_for(session, name, client, now, window, limit)
            if retry_after is not None:
                result = AuthResult(False, None, LOCKED, retry_after)
            else:
                row = session.get(AccountRow, name)
                if not _verify(row.password_hash if row else None, password):
                    result = AuthResult(False, None, BAD_CREDENTIALS, None)
                elif not row.active:
                    result = AuthResult(False, None, DISABLED, None)
                else:
                    if _hasher.check_needs_rehash(row.password_hash):
                        row.password_hash = _hasher.hash(password)
                    result = AuthResult(True, record_of(Account, row), None, None)
            session.add(
                LoginAttemptRow(
                    username=name, client=client, at=now, ok=result.ok, reason=result.reason
                )
            )
            return result


def _locked_for(
    session: Session,
    username: str,
    client: str,
    now: dt.datetime,
    window: dt.timedelta,
    limit: int,
) -> int | None:
    """Seconds until the username and the client both have fewer than ``limit`` failures
    in the window; None when neither is locked."""
    failure, success = LoginAttemptRow, aliased(LoginAttemptRow)
    forgiven = (
        sa.select(success.attempt_id)
        .where(
            success.ok,
            success.username == failure.username,
            success.client == failure.client,
            success.at >= failure.at,
            success.attempt_id > failure.attempt_id,
        )
        .exists()
    )
    waits = []
    for who in (failure.username == username, failure.client == client):
        # the limit-th most recent failure: once it leaves the window, a try is allowed
        oldest_that_counts = session.scalars(
            sa.select(failure.at)
            .where(who, failure.reason == BAD_CREDENTIALS, failure.at > now - window, ~forgiven)
            .order_by(failure.at.desc(), failure.attempt_id.desc())
            .offset(limit - 1)
            .limit(1)
        ).first()
        if oldest_that_counts is not None:
            waits.append((oldest_that_counts + window - now).total_seconds())
    return max(1, math.ceil(max(waits))) if waits else None
