"""Where the app state lives and how it is brought to the latest schema.

``CIM_APP_DB`` (a SQLAlchemy URL) picks the database; by default a SQLite file in
``CIM_HOME/app``. A server deployment sets a PostgreSQL URL
(``postgresql://user:password@host/db``; psycopg 3 is the driver).
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from cim import settings

MIGRATIONS = Path(__file__).with_name("migrations")
# any fixed number: the PostgreSQL advisory lock that lets one process migrate at a time
_PG_MIGRATION_LOCK = 0x43494D5F415050

_engines: dict[str, sa.Engine] = {}
_upgraded: set[str] = set()
_lock = threading.Lock()


def default_url(home: Path | None = None) -> str:
    """CIM_APP_DB when set, else the SQLite file of the deployment at ``home`` (default
    CIM_HOME)."""
    if os.environ.get("CIM_APP_DB"):
        return os.environ["CIM_APP_DB"]
    return f"sqlite:///{(home or settings.cim_home()) / 'app' / 'state.sqlite'}"


def _normalise(url: str) -> sa.URL:
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":  # SQLAlchemy's default driver is psycopg2
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_file(url: sa.URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def engine_for(url: str) -> sa.Engine:
    """One engine per process and URL (Streamlit reruns call open_state often)."""
    parsed = _normalise(url)
    key = parsed.render_as_string(hide_password=False)
    with _lock:
        if key not in _engines:
            database = _sqlite_file(parsed)
            if database is not None:
                database.parent.mkdir(parents=True, exist_ok=True)
                # the app and the pipeline's reminder step may write at the same moment:
                # wait for the other's lock rather than fail at once
                engine = sa.create_engine(parsed, connect_args={"timeout": 30})
                sa.event.listen(engine, "connect", _on_sqlite_connect)
            else:
                engine = sa.create_engine(parsed, pool_pre_ping=True)
            _engines[key] = engine
        return _engines[key]


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_lock(engine: sa.Engine):
    """One process migrates at a time; the other then finds the schema at head.

    SQLite: an OS lock on a file beside the database (SQLite's own locks come too late:
    both would find no tables and both create them). PostgreSQL: an advisory lock held
    by the migrating transaction."""
    database = _sqlite_file(engine.url)
    if database is not None:
        with open(database.with_name(database.name + ".migrating"), "w") as lockfile:
            fcntl.flock(lockfile, fcntl.LOCK_EX)
            try:
                with engine.begin() as connection:
                    # readers (the dashboard) do not block the writer (the pipeline)
                    connection.exec_driver_sql("PRAGMA journal_mode = WAL")
                with engine.begin() as connection:
                    yield connection
            finally:
                fcntl.flock(lockfile, fcntl.LOCK_UN)
        return
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        yield connection


def upgrade(engine: sa.Engine) -> None:
    """``alembic upgrade head`` on this engine's database, once per process."""
    key = engine.url.render_as_string(hide_password=False)
    with _lock:
        if key in _upgraded:
            return
    with _migration_lock(engine) as connection:
        command.upgrade(alembic_config(connection), "head")
    with _lock:
        _upgraded.add(key)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def dispose(url: str) -> None:
    """Close and forget this process's engine of ``url`` (before its database is dropped)."""
    key = _normalise(url).render_as_string(hide_password=False)
    with _lock:
        engine = _engines.pop(key, None)
        _upgraded.discard(key)
    if engine is not None:
        engine.dispose()
