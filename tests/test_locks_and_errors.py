"""One writer per CIM_HOME, readers that never break a run, and clear errors.

Real processes throughout: `cim` subprocesses, a real flock held by another process,
DuckDB's own lock held by another process, Dagster runs, SIGKILL. A full disk and a
read-only CIM_HOME are real too: a tiny tmpfs, or a read-only bind mount, in a private
mount namespace (`unshare`), so nothing outside the test process sees them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from cim import runlock
from cim.defs.resources import Deployment, WarehouseLocked
from cim.publish import current_manifest, list_snapshots, publish, remove_leftovers
from cim.publish.snapshot import LEDGER_COLUMNS
from cim.settings import Paths

from tests.conftest import DEMO_CITY, REPO
from tests.test_publish import FIRST, LATER, Pipeline, _deliveries, _drop


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = os.environ | {"CIM_HOME": str(home), "CIM_CITY": str(DEMO_CITY)}
    env.pop("DAGSTER_HOME", None)
    return env | extra


def cim(*args: str, env: dict, timeout: float = 120, prefix: tuple = ()):
    return subprocess.run(
        [*prefix, sys.executable, "-m", "cim.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def _userns_ok() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return (
            subprocess.run(
                ["unshare", "--user", "--map-root-user", "--mount", "true"],
                capture_output=True,
                timeout=10,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


USERNS = _userns_ok()
needs_userns = pytest.mark.skipif(
    not USERNS, reason="needs `unshare --user --mount` (private mount namespaces) for a real mount"
)


def in_namespace(mount: str) -> tuple[str, ...]:
    """A command prefix: run in a private mount namespace after ``mount`` ($0 = folder)."""
    return (
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        f'{mount} && exec "$@"',
    )


def tiny_disk(folder: Path, size: str) -> tuple[str, ...]:
    return (*in_namespace(f"mount -t tmpfs -o size={size} tmpfs {folder}"), "sh")


def read_only(folder: Path) -> tuple[str, ...]:
    return (
        *in_namespace(f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}"),
        "sh",
    )


def small_warehouse(paths: Paths) -> None:
    """A warehouse with what a snapshot carries: a mart table and the file ledger."""
    columns = ", ".join(
        f"'{c}' AS {c}" if c in ("feed", "original_name", "sha256", "period") else f"NULL AS {c}"
        for c in LEDGER_COLUMNS.replace(" ", "").split(",")
    ).replace("NULL AS status", "'loaded' AS status")
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute("CREATE SCHEMA meta")
        con.execute(f"CREATE TABLE meta.file_ledger AS SELECT {columns}")
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.fct_small AS SELECT range AS i FROM range(1000)")


class HeldLock:
    """Another process holding CIM_HOME's writer lock, like a pipeline run does."""

    def __init__(self, home: Path, seconds: float):
        code = textwrap.dedent(
            f"""
            import time
            from pathlib import Path
            from cim import runlock
            from cim.settings import Paths
            with runlock.writer(Paths(Path({str(home)!r})), run_id="run-held-by-test",
                                command="the test"):
                print("held", flush=True)
                time.sleep({seconds})
            """
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO
        )
        assert self.process.stdout.readline().strip() == "held"

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *_) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


# --- the lock itself -----------------------------------------------------------------


def test_second_writer_waits_then_refuses_naming_the_holder(home):
    env = _env(home.home)
    with HeldLock(home.home, 60) as held:
        started = time.monotonic()
        second = cim("pipeline", "--wait", "1", env=env)
        assert time.monotonic() - started < 60
        assert second.returncode == 3, second.stderr
        assert "Traceback" not in second.stderr
        assert f"another pipeline run (pid {held.process.pid}, run id run-held-by-test" in (
            second.stderr
        )
        assert f"holds CIM_HOME {home.home}" in second.stderr
        assert "--wait" in second.stderr
        # a reader with nothing published to fall back on: clear refusal, warehouse unopened
        ledger = cim("ledger", env=env)
        assert ledger.returncode == 3, ledger.stderr
        assert "Nothing is published yet" in ledger.stderr
        assert not home.warehouse.exists()


def test_writing_commands_refuse_while_a_run_holds_the_lock(home):
    """`cim docs` (dbt opens the warehouse for writing), `cim withdraw` and `cim reprocess`
    never break a run."""
    small_warehouse(home)
    env = _env(home.home)
    with HeldLock(home.home, 60) as held:
        for command in (
            ("docs", "--wait", "1"),
            ("withdraw", "x.csv", "--wait", "1"),
            ("reprocess", "--wait", "1"),
        ):
            done = cim(*command, env=env)
            assert done.returncode == 3, done.stderr
            assert f"pid {held.process.pid}" in done.stderr and "Traceback" not in done.stderr


def test_reader_waits_for_the_writer_when_asked(home):
    small_warehouse(home)
    with HeldLock(home.home, 3):
        ledger = cim("ledger", "--wait", "60", env=_env(home.home))
    assert ledger.returncode == 0, ledger.stderr
    assert "published snapshot" not in ledger.stderr  # it waited and read the warehouse
    assert "loaded" in ledger.stdout


def test_dagster_runs_take_the_lock_wait_and_refuse(home, monkeypatch):
    """Runs launched by Dagster (UI, schedule, sensor) hold the lock via the resource."""
    calls = []

    @dg.asset
    def writes(deployment: Deployment) -> None:
        with deployment.warehouse() as con:
            con.execute("CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS x")
        calls.append(runlock.read_holder(deployment.paths))

    deployment = Deployment(home=str(home.home))
    monkeypatch.setenv("CIM_LOCK_WAIT", "1")
    with dg.instance_for_test() as instance, HeldLock(home.home, 60) as held:
        result = dg.materialize(
            [writes], resources={"deployment": deployment}, instance=instance, raise_on_error=False
        )
        assert not result.success and not calls
        messages = " ".join(
            str(e.message) + str(getattr(e.event_specific_data, "error", ""))
            for e in result.all_events
        )
        assert f"another pipeline run (pid {held.process.pid}, run id run-held-by-test" in messages
        assert "This run did not start" in messages

    monkeypatch.setenv("CIM_LOCK_WAIT", "60")
    with dg.instance_for_test() as instance:
        with HeldLock(home.home, 2):
            result = dg.materialize(
                [writes], resources={"deployment": deployment}, instance=instance
            )
        assert result.success
        assert calls[-1].run_id == result.run_id and calls[-1].pid == os.getpid()
        assert not runlock.holds_writer(home)  # released after the run


def test_warehouse_connection_retries_duckdbs_own_lock(home, monkeypatch):
    """A program outside CIM's lock (a DuckDB shell) holding the file: retry, then say so."""
    small_warehouse(home)
    code = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print('open', flush=True); time.sleep(float(sys.argv[2]))"
    )
    deployment = Deployment(home=str(home.home))

    def hold(seconds: float) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(home.warehouse), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout.readline().strip() == "open"
        return process

    outsider = hold(2)
    with deployment.warehouse() as con:  # retried until the outsider closed it
        assert con.execute("SELECT count(*) FROM marts.fct_small").fetchone() == (1000,)
    outsider.wait(timeout=30)

    monkeypatch.setenv("CIM_DUCKDB_RETRY", "1")
    outsider = hold(60)
    try:
        with (
            pytest.raises(WarehouseLocked, match="stayed locked by another process for 1 s"),
            deployment.warehouse(),
        ):
            pass
    finally:
        outsider.kill()
        outsider.wait(timeout=30)


# --- leftovers of failed publications --------------------------------------------------


def test_leftovers_of_failed_publications_are_removed_and_nothing_else(home):
    small_warehouse(home)
    kept = [publish(home, f"run{n:05d}", {"expectations": 0})["snapshot_id"] for n in range(2)]
    snapshots = home.published / "snapshots"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftovers = [
        snapshots / "20990101T000000000000-deadbeef.duckdb.partial",
        snapshots / "20990101T000000000000-deadbeef.duckdb.partial.wal",
        snapshots / "20990101T000000000000-deadbeef.json",  # manifest without its snapshot
        home.published / f".current.duckdb.{dead.pid}",  # staged by a switch that died
    ]
    for path in leftovers:
        path.write_bytes(b"x" * 1000)
    (snapshots / "20990101T000000000000-deadbeef.duckdb.partial.tmp").mkdir()
    alive_staging = home.published / ".current.duckdb.1"  # pid 1 is alive: not touched
    alive_staging.write_bytes(b"x")
    served = (home.published / "current.duckdb").read_bytes()

    removed = remove_leftovers(home)
    assert sorted(removed) == sorted(
        [*leftovers, snapshots / "20990101T000000000000-deadbeef.duckdb.partial.tmp"]
    )
    assert not any(p.exists() for p in leftovers)
    assert alive_staging.exists()
    assert list_snapshots(home) == kept
    assert all((snapshots / f"{i}.json").exists() for i in kept)
    assert (home.published / "current.duckdb").read_bytes() == served
    assert current_manifest(home)["snapshot_id"] == kept[-1]

    # the next publication removes them too
    leftovers[1].write_bytes(b"x")
    third = publish(home, "run00002", {"expectations": 0})["snapshot_id"]
    assert not leftovers[1].exists()
    assert list_snapshots(home) == [*kept, third]


@needs_userns
def test_publish_on_a_full_disk_leaves_nothing_behind(home):
    """published/ on a real 512 KB file system: the snapshot cannot fit."""
    small_warehouse(home)
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            "CREATE TABLE marts.fct_big AS SELECT range AS i, md5(range::VARCHAR) AS h "
            "FROM range(300000)"
        )
    script = textwrap.dedent(
        f"""
        import json, os
        from pathlib import Path
        from cim.publish import publish
        from cim.settings import Paths
        paths = Paths(Path({str(home.home)!r}))
        try:
            publish(paths, "run-full-disk", {{}})
            outcome = "published"
        except OSError as exc:
            outcome = f"{{type(exc).__name__}}: {{exc}}"
        files = sorted(
            str(p.relative_to(paths.published)) for p in paths.published.rglob("*")
        )
        print(json.dumps({{"outcome": outcome, "files": files}}))
        """
    )
    done = subprocess.run(
        [*tiny_disk(home.published, "512k"), sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcome"].startswith("DiskFull: no space left on the disk of ")
    assert str(home.published / "snapshots") in report["outcome"]
    assert report["files"] == ["snapshots"], report  # no .partial, no .partial.wal


# --- clear errors ----------------------------------------------------------------------


def test_rollback_with_nothing_to_roll_back_to_is_a_message(home):
    env = _env(home.home)
    nothing = cim("publish", "rollback", env=env)
    assert nothing.returncode == 1
    assert "nothing to roll back to: no snapshot is kept" in nothing.stderr
    assert "Traceback" not in nothing.stderr
    small_warehouse(home)
    only = publish(home, "run00000", {"expectations": 0})["snapshot_id"]
    older = cim("publish", "rollback", env=env)
    assert older.returncode == 1
    assert f"no kept snapshot is older than the served one ({only})" in older.stderr
    assert "Traceback" not in older.stderr
    unknown = cim("publish", "rollback", "--to", "nope", env=env)
    assert unknown.returncode == 1 and "unknown snapshot 'nope'" in unknown.stderr


def test_pipeline_without_dagster_home_sets_up_its_own(home):
    env = _env(home.home)  # no DAGSTER_HOME
    done = cim("pipeline", "--job", "ingest_feeds", env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"DAGSTER_HOME is not set: using {home.home / 'dagster'}" in done.stderr
    config = home.home / "dagster" / "dagster.yaml"
    assert "enabled: false" in config.read_text()
    run_id = done.stdout.split("run ")[-1].split(":")[0]
    with dg.DagsterInstance.from_config(str(home.home / "dagster")) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS

    missing = cim("pipeline", env=env | {"DAGSTER_HOME": str(home.home / "nowhere")})
    assert missing.returncode == 2
    assert f"DAGSTER_HOME={home.home / 'nowhere'} is not a folder" in missing.stderr
    assert "Traceback" not in missing.stderr


def _read_only_prefix(home: Path) -> tuple[str, ...]:
    if USERNS:
        return read_only(home)
    if os.geteuid() != 0:
        home.chmod(0o555)
        return ()
    pytest.skip("running as root without private mount namespaces: chmod cannot stop root")


def test_read_only_cim_home_is_a_message(home):
    small_warehouse(home)
    env = _env(home.home)
    prefix = _read_only_prefix(home.home)
    try:
        done = cim("pipeline", env=env, prefix=prefix)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert f"{home.home}/.writer.lock" in done.stderr  # the file it could not create
        assert f"CIM_HOME ({home.home}) must be" in done.stderr
        assert "read-only file system" in done.stderr or "permission denied" in done.stderr
        # reading still works on a read-only CIM_HOME
        ledger = cim("ledger", env=env, prefix=prefix)
        assert ledger.returncode == 0, ledger.stderr
        assert "loaded" in ledger.stdout
    finally:
        home.home.chmod(0o755)


@needs_userns
def test_full_disk_at_start_is_a_message(home):
    env = _env(home.home)
    done = cim("pipeline", env=env, prefix=tiny_disk(home.home, "1m"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"no space left on the disk of {home.home} while starting a run" in done.stderr
    # without the free-space check, the first write that fails says the same
    done = cim("pipeline", env=env | {"CIM_MIN_FREE_MB": "0"}, prefix=tiny_disk(home.home, "8k"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"no space left on the disk of {home.home}" in done.stderr


# --- a pipeline run held mid-way, readers, a second run, SIGKILL -------------------------


class Cim(Pipeline):
    def start(self, *args: str, pause_at: str | None = None) -> subprocess.Popen:
        """`cim pipeline *args`; with ``pause_at``, held there (tests/pausing_cim.py)."""
        return self.popen("pipeline", *args, pause_at=pause_at)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return cim(*args, env=self.env)


class Output(threading.Thread):
    """Reads a process's output as it comes (a full pipe would block the process)."""

    def __init__(self, process: subprocess.Popen):
        super().__init__(daemon=True)
        self.process, self.lines = process, []
        self.start()

    def run(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.text:
            assert self.process.poll() is None or self.is_alive(), self.text[-4000:]
            assert time.monotonic() < deadline, self.text[-4000:]
            time.sleep(0.1)


@pytest.mark.slow
def test_readers_and_a_second_run_never_break_a_run_and_killed_runs_are_failed(
    demo_build, tmp_path
):
    paths = Paths(tmp_path / "home").ensure()
    pipeline = Cim(paths.home)
    # a snapshot served already (the demo build's), and deliveries waiting in landing
    shutil.copytree(demo_build.paths.published, paths.published, dirs_exist_ok=True)
    first = current_manifest(paths)["snapshot_id"]
    both = {f: FIRST[f] + LATER[f] if f in LATER else FIRST[f] for f in FIRST}
    _drop(paths, _deliveries(demo_build, both), demo_build.paths)

    # a run held inside an ingestion transaction, holding the warehouse
    held = pipeline.start(pause_at="ingest")
    held_output = Output(held)
    deadline = time.monotonic() + 300
    while not pipeline.marker.exists():
        assert held.poll() is None, held_output.text[-4000:]
        assert time.monotonic() < deadline, "ingestion never reached"
        time.sleep(0.2)

    ledger = pipeline.cli("ledger")
    assert ledger.returncode == 0, ledger.stderr
    assert f"is writing the warehouse: showing the published snapshot {first}" in ledger.stderr
    assert " old) instead" in ledger.stderr
    assert "loaded" in ledger.stdout
    health = pipeline.cli("health")
    assert health.returncode == 0, health.stderr
    assert "Feed health on" in health.stdout
    refused = pipeline.cli("pipeline", "--wait", "1")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"another pipeline run (pid {held.pid}, run id " in refused.stderr
    held_run = refused.stderr.split("run id ")[1].split(",")[0]

    # a second run that waits, a reader that waits, and what a killed publication left
    waiting = pipeline.start("--wait", "600")
    output = Output(waiting)
    output.wait_for("waiting up to 600 s for another pipeline run")
    patient = subprocess.Popen(
        [sys.executable, "-m", "cim.cli", "ledger", "--wait", "600"],
        env=pipeline.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    leftover = paths.published / "snapshots" / "20990101T000000000000-deadbeef.duckdb.partial.wal"
    leftover.write_bytes(b"x" * 4096)

    os.killpg(held.pid, signal.SIGKILL)  # the first run dies holding the warehouse
    held.wait(timeout=30)

    reads = 0
    while waiting.poll() is None:  # readers during the second run: snapshot, never a lock
        ledger = pipeline.cli("ledger")
        assert ledger.returncode == 0, ledger.stderr
        reads += 1
    output.join(timeout=30)
    out = output.text
    assert waiting.returncode == 0, out[-4000:]
    assert reads >= 1
    assert f"run {held_run} (pipeline, pid {held.pid}) was killed: marked failed" in out
    assert f"removed {leftover}" in out and not leftover.exists()
    second = current_manifest(paths)["snapshot_id"]
    assert second != first and second in out
    assert {f["file"] for f in current_manifest(paths)["files"]} >= {
        n for n, _, _ in _deliveries(demo_build, LATER)
    }
    patient_out, patient_err = patient.communicate(timeout=600)
    assert patient.returncode == 0, patient_err
    assert "loaded" in patient_out

    with dg.DagsterInstance.from_config(str(paths.home / "dagster")) as instance:
        killed = instance.get_run_by_id(held_run)
        assert killed.status == dg.DagsterRunStatus.FAILURE
        failure = instance.get_records_for_run(
            held_run, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records
        assert "is gone; it was killed" in failure[-1].event_log_entry.dagster_event.message
        assert not instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
