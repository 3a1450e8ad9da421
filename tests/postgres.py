"""A real PostgreSQL server for the app-state tests: CIM_TEST_POSTGRES_URL when set, else
a throwaway cluster of Debian's binaries; skipped without them locally, a failure in CI."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    # Debian keeps them off PATH, one folder per major version
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _as_owner(command: list[str]) -> list[str]:
    # initdb refuses to run as root: the cluster belongs to the postgres OS user then
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A URL of a PostgreSQL server whose superuser may create databases."""
    if os.environ.get("CIM_TEST_POSTGRES_URL"):
        yield os.environ["CIM_TEST_POSTGRES_URL"]
        return
    binaries = _binaries()
    if binaries is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is missing: CI must install Debian's postgresql (see README)")
        pytest.skip("PostgreSQL not installed (sudo apt-get install -y postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="cim-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, sockets = folder / "data", folder
    initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    subprocess.run(
        _as_owner([*initdb, "--no-sync", "--encoding", "UTF8", "--locale", "C"]),
        check=True,
        capture_output=True,
    )
    # a unix socket in our own folder only: no TCP port to collide with anything
    options = f"-c listen_addresses='' -k {sockets} -c fsync=off"
    pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        _as_owner([*pg_ctl, "-o", options, "-w", "-l", str(folder / "server.log"), "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={sockets}"
    finally:
        subprocess.run(
            _as_owner([*pg_ctl, "-m", "fast", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A URL of a new, empty database on the server, dropped afterwards."""
    name = f"cim_test_{uuid.uuid4().hex[:12]}"
    server = sa.make_url(postgres_server)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        from cim.appstate.database import dispose

        dispose(server.set(database=name).render_as_string(hide_password=False))
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
