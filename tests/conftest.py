"""Shared fixtures: a throwaway CIM_HOME per test, real DuckDB, the real demo contracts."""

from __future__ import annotations

import os
from pathlib import Path

import cim  # noqa: F401  (sets the offline, no-telemetry environment first)
import duckdb
import pytest
from cim import settings
from cim.city import City, load_city
from cim.ingest import FeedRunner, FileOutcome
from cim.ingest.files import scan_landing

REPO = Path(__file__).resolve().parents[1]
DEMO_CITY = REPO / "cities" / "demo"


@pytest.fixture(scope="session")
def demo_city() -> City:
    return load_city(DEMO_CITY)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> settings.Paths:
    """An empty deployment folder, also exported as CIM_HOME for code that reads env."""
    monkeypatch.setenv("CIM_HOME", str(tmp_path / "home"))
    return settings.Paths(tmp_path / "home").ensure()


class Warehouse:
    """Drop files into landing and ingest them with the real engine and DuckDB."""

    def __init__(self, paths: settings.Paths, city: City):
        self.paths, self.city = paths, city
        self.con = duckdb.connect(str(paths.warehouse))

    def drop(
        self, name: str, content: bytes | str, encoding: str = "utf-8", mtime: float | None = None
    ) -> Path:
        path = self.paths.landing / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def ingest(self) -> list[FileOutcome]:
        runner = FeedRunner(self.con, self.city, self.paths, run_id="test")
        return runner.ingest(scan_landing(self.paths.landing, self.city))

    def one(self, sql: str, params: list | None = None):
        return self.con.execute(sql, params or []).fetchone()

    def all(self, sql: str, params: list | None = None):
        return self.con.execute(sql, params or []).fetchall()


@pytest.fixture
def warehouse(home: settings.Paths, demo_city: City):
    wh = Warehouse(home, demo_city)
    yield wh
    wh.con.close()
