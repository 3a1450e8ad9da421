"""Write-audit-publish under crashes and concurrent readers, with real processes.

The pipeline runs as a subprocess (`cim pipeline`) on a small slice of the demo city;
the tests SIGKILL it during ingestion, during dbt and during publication, while a reader
thread keeps opening the served snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from cim.ingest.archive import copy_original
from cim.publish import current_manifest, list_snapshots, publish, rollback
from cim.settings import Paths

from tests import pausing_cim
from tests.conftest import DEMO_CITY

pytestmark = pytest.mark.slow
FIRST = {
    "population": None,
    "activity_registry": None,
    "police_incidents": ("2025-01", "2025-02", "2025-03"),
    "contact_centre_reports": ("2025-01", "2025-02", "2025-03"),
    "youth_participation": ("2025-01", "2025-02", "2025-03"),
    "housing_complaints": ("2025-Q1",),
    "resident_survey": ("2025",),
    "early_school_leavers": ("2024/25",),
}
LATER = {"police_incidents": ("2025-04", "2025-05"), "contact_centre_reports": ("2025-04",)}


def _deliveries(demo_build, wanted: dict) -> list[tuple[str, str, dt.datetime]]:
    rows = demo_build.query(
        "SELECT feed, period, original_name, archive_path, received_at FROM meta.file_ledger "
        "WHERE status IN ('loaded', 'superseded') ORDER BY received_at"
    )
    return [
        (name, path, received)
        for feed, period, name, path, received in rows
        if feed in wanted and (wanted[feed] is None or period in wanted[feed])
    ]


def _drop(paths: Paths, deliveries, source_home: Paths) -> None:
    for name, source, received in deliveries:
        target = paths.landing / name
        copy_original(Path(source), target, source_home)
        stamp = received.replace(tzinfo=dt.UTC).timestamp()
        os.utime(target, (stamp, stamp))


class Pipeline:
    def __init__(self, home: Path):
        self.home = home
        self.env = os.environ | {
            "CIM_HOME": str(home),
            "CIM_CITY": str(DEMO_CITY),
            "DAGSTER_HOME": str(home / "dagster"),
        }
        subprocess.run(
            [sys.executable, "-m", "cim.cli", "init"], env=self.env, check=True, capture_output=True
        )

    def start(self, pause_at: str | None = None) -> subprocess.Popen:
        """`cim pipeline`; with ``pause_at``, held there (tests/pausing_cim.py)."""
        return self.popen("pipeline", pause_at=pause_at)

    def popen(self, *cim_args: str, pause_at: str | None = None) -> subprocess.Popen:
        self.marker.unlink(missing_ok=True)
        return subprocess.Popen(
            pausing_cim.command(pause_at, self.marker, *cim_args)
            if pause_at
            else [sys.executable, "-m", "cim.cli", *cim_args],
            env=self.env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def marker(self) -> Path:
        return self.home.parent / "paused"

    def paused(self) -> dict:
        """Where the held run stands (what tests/pausing_cim.py wrote when it paused)."""
        return json.loads(self.marker.read_text())

    def run(self) -> str:
        process = self.start()
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0, out[-4000:]
        return out

    def kill_when(self, process: subprocess.Popen, ready) -> None:
        deadline = time.monotonic() + 300
        while not ready(process):
            assert process.poll() is None, process.stdout.read()[-4000:]
            assert time.monotonic() < deadline, "stage never reached"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _dbt_running(process: subprocess.Popen) -> bool:
    """A dbt child process of the pipeline's process group, a few seconds into its run."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            group = os.getpgid(int(proc.name))
        except (OSError, ProcessLookupError):
            continue
        if (
            group == process.pid
            and any(c.endswith(b"/dbt") for c in command)
            and b"build" in command
        ):
            started = proc.stat().st_mtime
            return time.time() - started > 4
    return False


class Readers(threading.Thread):
    """Opens the served snapshot again and again, checking it is whole each time."""

    def __init__(self, paths: Paths):
        super().__init__(daemon=True)
        self.paths, self.stop, self.reads, self.errors = paths, threading.Event(), 0, []

    def run(self) -> None:
        current = self.paths.published / "current.duckdb"
        while not self.stop.is_set():
            if current.exists():
                try:
                    con = duckdb.connect(str(current), read_only=True)
                    try:
                        manifest = json.loads(
                            con.execute("SELECT manifest FROM published.manifest").fetchone()[0]
                        )
                        count = con.execute(
                            "SELECT count(*) FROM marts.fct_indicator_values"
                        ).fetchone()[0]
                        if count != manifest["tables"]["marts.fct_indicator_values"]:
                            self.errors.append(
                                f"half-written: {count} rows, manifest says otherwise"
                            )
                    finally:
                        con.close()
                    self.reads += 1
                except duckdb.Error as exc:  # a lock error or a torn file would land here
                    self.errors.append(repr(exc))
            time.sleep(0.02)


def _traces_of_load(paths: Paths, load_id: str, feed: str) -> tuple[int, int, int]:
    """Ledger lines, rejected rows and raw rows the warehouse holds of one load."""
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return tuple(
            con.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", [load_id]).fetchone()[0]
            for table, column in (
                ("meta.file_ledger", "load_id"),
                ("meta.rejected_rows", "load_id"),
                (f'raw."{feed}"', "_load_id"),
            )
        )
    finally:
        con.close()


def _no_duplicates(paths: Paths) -> None:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        for feed, accepted in con.execute(
            "SELECT feed, sum(rows_accepted) FROM meta.file_ledger "
            "WHERE status = 'loaded' GROUP BY 1"
        ).fetchall():
            assert con.execute(f'SELECT count(*) FROM raw."{feed}"').fetchone()[0] == accepted, feed
        assert (
            con.execute(
                "SELECT count(*) - count(DISTINCT incident_id) FROM staging.stg_police_incidents"
            ).fetchone()[0]
            == 0
        )
        assert (
            con.execute(
                "SELECT count(*) - count(DISTINCT (indicator_id, area_id, period_id)) "
                "FROM marts.fct_indicator_values"
            ).fetchone()[0]
            == 0
        )
    finally:
        con.close()


def test_kills_leave_the_previous_snapshot_served_and_reruns_recover(demo_build, tmp_path):
    paths = Paths(tmp_path / "home").ensure()
    pipeline = Pipeline(paths.home)
    _drop(paths, _deliveries(demo_build, FIRST), demo_build.paths)
    readers = Readers(paths)
    readers.start()
    try:
        pipeline.run()
        first = current_manifest(paths)["snapshot_id"]
        _drop(paths, _deliveries(demo_build, LATER), demo_build.paths)

        # killed inside an ingestion transaction, its rows, rejected rows and ledger line
        # written but not committed: nothing of that delivery remains
        pipeline.kill_when(pipeline.start("ingest"), lambda p: pipeline.marker.exists())
        held = pipeline.paused()
        assert held["stage"] == "ingest" and held["rows_accepted"] > 0  # rows were written
        assert _traces_of_load(paths, held["load_id"], held["feed"]) == (0, 0, 0)
        assert current_manifest(paths)["snapshot_id"] == first
        assert (paths.landing / held["file"]).exists(), "the delivery must stay in landing"

        # killed while dbt rebuilds the mart
        pipeline.kill_when(pipeline.start(), _dbt_running)
        assert current_manifest(paths)["snapshot_id"] == first

        # killed between writing the new snapshot and switching to it
        pipeline.kill_when(pipeline.start("publish"), lambda p: pipeline.marker.exists())
        held = pipeline.paused()
        assert held["stage"] == "publish" and held["snapshot_id"] != first
        assert Path(held["snapshot"]).exists(), "paused with the new snapshot complete"
        assert current_manifest(paths)["snapshot_id"] == first

        out = pipeline.run()
        second = current_manifest(paths)["snapshot_id"]
        assert second != first and second in out
        # each start marked the run killed before it failed (the last one, here)
        assert "was killed: marked failed" in out
        with dg.DagsterInstance.from_config(str(paths.home / "dagster")) as instance:
            statuses = [run.status for run in instance.get_runs()]
        assert statuses.count(dg.DagsterRunStatus.FAILURE) == 3
        assert statuses.count(dg.DagsterRunStatus.SUCCESS) == 2
    finally:
        readers.stop.set()
        readers.join(timeout=10)
    assert not readers.errors, readers.errors[:5]
    assert readers.reads > 50
    _no_duplicates(paths)
    assert not list((paths.published / "snapshots").glob("*.partial"))
    manifest = current_manifest(paths)
    assert {f["file"] for f in manifest["files"]} >= {
        n for n, _, _ in _deliveries(demo_build, LATER)
    }


def test_snapshots_are_kept_rolled_back_and_pruned(demo_build, tmp_path):
    paths = Paths(tmp_path / "home").ensure()
    shutil.copyfile(demo_build.paths.warehouse, paths.warehouse)
    ids = [
        publish(paths, f"run{n:05d}", {"expectations": 0}, keep=3)["snapshot_id"] for n in range(5)
    ]
    assert list_snapshots(paths) == ids[-3:]
    assert current_manifest(paths)["snapshot_id"] == ids[-1]
    assert rollback(paths) == ids[-2]
    assert current_manifest(paths)["snapshot_id"] == ids[-2]
    assert rollback(paths, ids[-1]) == ids[-1]
    with pytest.raises(ValueError, match="unknown snapshot"):
        rollback(paths, ids[0])
    manifest = current_manifest(paths)
    assert manifest["run_id"] == "run00004"
    assert manifest["tables"]["marts.fct_indicator_values"] > 0
    loaded = demo_build.query("SELECT count(*) FROM meta.file_ledger WHERE status = 'loaded'")[0][0]
    assert len(manifest["files"]) == loaded
    log = [
        json.loads(line)
        for line in (paths.published / "publish_log.jsonl").read_text().splitlines()
    ]
    assert [e["event"] for e in log][-2:] == ["rollback", "rollback"]


def test_a_failed_run_is_recorded_by_the_failure_sensor(tmp_path):
    from cim.defs.publish.sensors import build_failure_sensor
    from cim.defs.resources import Deployment

    deployment = Deployment(home=str(tmp_path / "home"))

    @dg.asset
    def broken_mart() -> None:
        raise RuntimeError("dbt test failed")

    with dg.instance_for_test() as instance:
        result = dg.materialize([broken_mart], instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(
            e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE
        )
        with dg.build_run_status_sensor_context(
            sensor_name="record_failed_runs",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
            resources={"deployment": deployment},  # injected, as in a deployment
        ).for_run_failure() as context:
            build_failure_sensor()(context)
    log = (Paths(tmp_path / "home").published / "publish_log.jsonl").read_text().splitlines()
    entry = json.loads(log[-1])
    assert entry["event"] == "blocked" and entry["run_id"] == result.run_id
    assert entry["reasons"] == ["step failed: broken_mart"]
