"""The app's own state (accounts, sessions, notes, upload and reminder trails) in its own database.

SQLAlchemy over SQLite by default (``CIM_HOME/app/state.sqlite``) or PostgreSQL for a
server deployment (``CIM_APP_DB``), brought to the latest schema by Alembic when opened.
Never the warehouse: the pipeline is the warehouse's only writer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from cim.appstate.accounts import Account, Accounts, AuthResult
from cim.appstate.database import default_url, engine_for, upgrade
from cim.appstate.logs import ReminderEntry, Reminders, Upload, Uploads
from cim.appstate.models import as_utc, utcnow
from cim.appstate.notes import Note, Notes
from cim.appstate.sessions import Sessions

__all__ = [
    "Account",
    "AppState",
    "AuthResult",
    "Note",
    "ReminderEntry",
    "Upload",
    "default_url",
    "open_state",
]


@dataclass
class AppState:
    engine: sa.Engine
    # tests move time forward with their own clock instead of sleeping
    clock: Callable[[], dt.datetime] = utcnow
    accounts: Accounts = field(init=False)
    notes: Notes = field(init=False)
    uploads: Uploads = field(init=False)
    reminders: Reminders = field(init=False)
    sessions: Sessions = field(init=False)

    def __post_init__(self):
        self.accounts = Accounts(self.engine, self.clock)
        self.notes = Notes(self.engine, self.clock)
        self.uploads = Uploads(self.engine, self.clock)
        self.reminders = Reminders(self.engine, self.clock)
        self.sessions = Sessions(self.engine, self.clock)

    @property
    def url(self) -> str:
        """The database URL with its password masked, fit to show."""
        return self.engine.url.render_as_string(hide_password=True)


def open_state(url: str | None = None, clock: Callable[[], dt.datetime] | None = None) -> AppState:
    """The app state at ``url`` (default: CIM_APP_DB, else CIM_HOME/app/state.sqlite),
    migrated to the latest schema first (once per process and database)."""
    engine = engine_for(url or default_url())
    upgrade(engine)
    return AppState(engine, (lambda: as_utc(clock())) if clock else utcnow)
