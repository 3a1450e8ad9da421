"""Shared fixtures: a throwaway CIM_HOME per test, real DuckDB, the real demo contracts."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cim  # noqa: F401  (sets the offline, no-telemetry environment first)
import dagster as dg
import duckdb
import pytest
from cim import settings
from cim.city import City, load_city
from cim.ingest import FeedRunner, FileOutcome
from cim.ingest.files import scan_landing

# Files written by a test are complete at once: no settle wait (tests of the settle
# interval set it themselves).
os.environ.setdefault("CIM_SETTLE_SECONDS", "0")

REPO = Path(__file__).resolve().parents[1]
DEMO_CITY = REPO / "cities" / "demo"


@pytest.fixture(scope="session")
def demo_city() -> City:
    return load_city(DEMO_CITY)


def query_warehouse(paths: settings.Paths, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of one query on a deployment's warehouse, opened read-only for that query."""
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@dataclass(frozen=True)
class DemoBuild:
    """The demo city generated and run through the whole pipeline once per test session."""

    paths: settings.Paths
    manifest: dict
    result: object

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        return query_warehouse(self.paths, sql, params)

    def copy_to(self, folder: Path) -> settings.Paths:
        """A copy of the built deployment with an empty landing folder, to run again on."""
        home = folder / "home"
        shutil.copytree(self.paths.home, home, ignore=shutil.ignore_patterns("landing"))
        return settings.Paths(home).ensure()

    def run(
        self,
        paths: settings.Paths,
        monkeypatch: pytest.MonkeyPatch,
        job: str = "pipeline",
        city: Path = DEMO_CITY,
    ) -> tuple[dg.ExecuteInProcessResult, list[str]]:
        """Run a job on ``paths`` (a copy of the demo home, judged on the demo's own date by
        its demo_as_of.json, as ``make run`` is); the result and its log texts."""
        from cim.definitions import defs

        monkeypatch.setenv("CIM_HOME", str(paths.home))
        monkeypatch.setenv("CIM_CITY", str(city))
        monkeypatch.delenv("CIM_AS_OF", raising=False)
        with dg.instance_for_test() as instance:
            result = (
                defs()
                .resolve_job_def(job)
                .execute_in_process(instance=instance, raise_on_error=False)
            )
            events = [
                " ".join(filter(None, [log.message, str(log.dagster_event or "")]))
                for log in instance.all_logs(result.run_id)
            ]
        return result, events


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> DemoBuild:
    from cim.definitions import defs
    from cim_demo import generate_demo_city

    home = tmp_path_factory.mktemp("demo") / "home"
    paths = settings.Paths(home).ensure()
    summary = generate_demo_city(DEMO_CITY, paths.landing)
    manifest = json.loads(Path(summary["manifest"]).read_text())
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CIM_HOME", str(home))
        env.setenv("CIM_CITY", str(DEMO_CITY))
        # No CIM_AS_OF, as under `make run`: the generator's demo_as_of.json makes the
        # pipeline judge on the demo's own "today", so figures do not drift with time
        # (tests/test_lifecycle.py proves it).
        env.delenv("CIM_AS_OF", raising=False)
        definitions = defs()
        with dg.instance_for_test() as instance:
            result = definitions.resolve_job_def("pipeline").execute_in_process(instance=instance)
    assert result.success
    return DemoBuild(paths, manifest, result)


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


@pytest.fixture
def published(demo_build, monkeypatch: pytest.MonkeyPatch):
    """Point the app at the demo deployment; yield a query helper on the served snapshot."""
    monkeypatch.setenv("CIM_HOME", str(demo_build.paths.home))
    file = demo_build.paths.published / "current.duckdb"
    assert file.exists()

    def query(sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(file), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    return query
