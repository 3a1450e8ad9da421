"""Versioned snapshots of the mart, switched into place by an atomic rename.

DuckDB admits one writer or many readers per file, never both, so readers cannot use
the working warehouse. Each publication copies the mart and the feed-health and quality
tables into a new file, checkpoints it, and hard-links it over ``current.duckdb`` with
``os.replace``: a reader sees the old file or the new one, never half of either, and a
reader holding the old file open keeps reading it undisturbed.

A publication that fails (a full disk, a crash, SIGKILL) leaves no half-written file
behind for long: it removes its own on failure, and the next publication (and the start
of the next run) removes what a killed one left, never the served file or a kept
snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb

from cim.publish.reader import CURRENT, current_manifest
from cim.runlock import DiskFull, disk_full, process_alive, writer
from cim.settings import Paths

# Schemas and tables a snapshot carries: the whole mart, plus what the backbone reads and
# the rejected rows a partner reads of its own deliveries (personal values were masked when
# the rows were kept; the app shows them only to their partner and the backbone).
PUBLISHED_SCHEMAS = ("marts",)
PUBLISHED_TABLES = (("meta", "file_ledger"), ("meta", "dq_results"), ("meta", "rejected_rows"))
LEDGER_COLUMNS = (
    "load_id, sha256, partner, feed, original_name, size_bytes, received_at, loaded_at, "
    "run_id, period, rows_read, rows_accepted, rows_rejected, status, reason, warnings, replay_of, "
    "periods, period_rows, rows_by_level"
)


class PublishBlocked(RuntimeError):
    """A blocking check failed: the previous snapshot stays served."""


class RollbackError(ValueError):
    """Nothing to roll back to, or no such snapshot."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _log(paths: Paths, entry: dict) -> None:
    paths.published.mkdir(parents=True, exist_ok=True)
    with (paths.published / "publish_log.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry, default=str) + "\n")


def record_blocked(paths: Paths, run_id: str, reasons: list[str]) -> None:
    """Say why a run did not publish, where the backbone and the dashboard look."""
    _log(
        paths, {"at": _now().isoformat(), "run_id": run_id, "event": "blocked", "reasons": reasons}
    )


def fsync(path: Path) -> None:
    """Flush a file or a folder (a rename in it) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_tables(target: duckdb.DuckDBPyConnection, warehouse: Path) -> dict[str, int]:
    target.execute("ATTACH ? AS wh (READ_ONLY)", [str(warehouse)])
    counts: dict[str, int] = {}
    tables = target.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'wh' "
        "AND (list_contains(?, schema_name) OR list_contains(?, schema_name || '.' || table_name)) "
        "ORDER BY 1, 2",
        [list(PUBLISHED_SCHEMAS), [f"{s}.{t}" for s, t in PUBLISHED_TABLES]],
    ).fetchall()
    for schema, table in tables:
        name = f'"{schema}"."{table}"'
        columns = LEDGER_COLUMNS if (schema, table) == ("meta", "file_ledger") else "*"
        target.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        target.execute(f"CREATE TABLE {name} AS SELECT {columns} FROM wh.{name}")
        counts[f"{schema}.{table}"] = target.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    target.execute("DETACH wh")
    return counts


def _included_files(warehouse: Path) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT feed, period, original_name, sha256 FROM meta.file_ledger "
            "WHERE status = 'loaded' ORDER BY feed, period"
        ).fetchall()
    finally:
        con.close()
    return [{"feed": f, "period": p, "file": n, "sha256": s} for f, p, n, s in rows]


def _switch(paths: Paths, snapshot: Path) -> None:
    staged = paths.published / f".{CURRENT}.{os.getpid()}"
    staged.unlink(missing_ok=True)
    os.link(snapshot, staged)
    os.replace(staged, paths.published / CURRENT)
    fsync(paths.published)


def publish(
    paths: Paths, run_id: str, checks: dict, keep: int = 5, inputs: dict | None = None
) -> dict:
    """Write a new snapshot of the checked warehouse and make it the served one.

    ``inputs``: what it was built from (cim.publish.changes.Inputs), so the next run
    builds only what changed since."""
    # it reads the warehouse: under the writer lock (already held inside a run)
    with writer(paths, run_id=run_id, command="publish"):
        return _publish(paths, run_id, checks, keep, inputs)


def _publish(paths: Paths, run_id: str, checks: dict, keep: int, inputs: dict | None) -> dict:
    snapshots = paths.published / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    remove_leftovers(paths)
    created = _now()
    snapshot_id = f"{created:%Y%m%dT%H%M%S%f}-{run_id[:8]}"
    partial = snapshots / f"{snapshot_id}.duckdb.partial"
    final = snapshots / f"{snapshot_id}.duckdb"
    try:
        con = duckdb.connect(str(partial))
        try:
            tables = _copy_tables(con, paths.warehouse)
            manifest = {
                "snapshot_id": snapshot_id,
                "created_at": created.isoformat(timespec="seconds") + "Z",
                "run_id": run_id,
                "tables": tables,
                "files": _included_files(paths.warehouse),
                "checks": checks,
                **({"inputs": inputs} if inputs is not None else {}),
            }
            con.execute("CREATE SCHEMA IF NOT EXISTS published")
            con.execute("CREATE TABLE published.manifest (manifest JSON)")
            con.execute("INSERT INTO published.manifest VALUES (?)", [json.dumps(manifest)])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        fsync(partial)
        os.replace(partial, final)
        (snapshots / f"{snapshot_id}.json").write_text(json.dumps(manifest, indent=1))
    except BaseException as exc:
        # nothing of a failed snapshot may stay: on a full disk it would keep it full
        for path in (partial, final, snapshots / f"{snapshot_id}.json"):
            _remove(path)
        for path in _companions(partial):
            _remove(path)
        if disk_full(exc):
            raise DiskFull(
                snapshots, f"writing snapshot {snapshot_id}; the previous snapshot stays served"
            ) from exc
        raise
    _switch(paths, final)
    _log(
        paths,
        {
            "at": _now().isoformat(),
            "run_id": run_id,
            "event": "published",
            "snapshot_id": snapshot_id,
        },
    )
    _prune(snapshots, keep)
    return manifest


def _companions(database: Path) -> list[Path]:
    """The files DuckDB keeps beside a database file: its WAL and its temp folder."""
    return [database.with_name(database.name + suffix) for suffix in (".wal", ".tmp")]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_leftovers(paths: Paths) -> list[Path]:
    """Remove what failed or killed publications left in published/; returns them.

    Only half-written snapshots (``*.duckdb.partial`` and their ``.wal`` and ``.tmp``),
    staged links of a switch whose process is gone (``.current.duckdb.<pid>``) and
    manifests without their snapshot. Never ``current.duckdb`` or a kept snapshot.
    """
    removed: list[Path] = []
    snapshots = paths.published / "snapshots"
    if snapshots.is_dir():
        for path in snapshots.iterdir():
            name = path.name
            partial = ".duckdb.partial" in name and name.split(".duckdb.partial")[1] in (
                "",
                ".wal",
                ".tmp",
            )
            orphan = name.endswith(".json") and not path.with_suffix(".duckdb").exists()
            if partial or orphan:
                _remove(path)
                removed.append(path)
    if paths.published.is_dir():
        for path in paths.published.glob(f".{CURRENT}.*"):
            pid = path.name.rsplit(".", 1)[-1]
            if pid.isdigit() and (int(pid) == os.getpid() or not process_alive(int(pid))):
                _remove(path)
                removed.append(path)
    return removed


def list_snapshots(paths: Paths) -> list[str]:
    """Snapshot ids, oldest first."""
    folder = paths.published / "snapshots"
    return sorted(p.stem for p in folder.glob("*.duckdb")) if folder.exists() else []


def _prune(folder: Path, keep: int) -> None:
    """Keep the newest ``keep`` snapshots."""
    ids = sorted(p.stem for p in folder.glob("*.duckdb"))
    for old in ids[:-keep] if keep > 0 else []:
        (folder / f"{old}.duckdb").unlink(missing_ok=True)
        (folder / f"{old}.json").unlink(missing_ok=True)


def rollback(paths: Paths, to: str | None = None) -> str:
    """Serve an earlier snapshot: the given id, or the one before the current."""
    ids = list_snapshots(paths)
    current = (current_manifest(paths) or {}).get("snapshot_id")
    if not ids:
        raise RollbackError(
            f"nothing to roll back to: no snapshot is kept in {paths.published / 'snapshots'} "
            "(a run publishes one when its checks pass)"
        )
    if to is None:
        older = [i for i in ids if current is None or i < current]
        if not older:
            raise RollbackError(
                f"nothing to roll back to: no kept snapshot is older than the served one "
                f"({current}); kept snapshots: {', '.join(ids)}. `cim publish rollback --to "
                "<id>` serves a given one."
            )
        to = older[-1]
    if to not in ids:
        raise RollbackError(f"unknown snapshot {to!r}; kept snapshots: {', '.join(ids)}")
    _switch(paths, paths.published / "snapshots" / f"{to}.duckdb")
    _log(paths, {"at": _now().isoformat(), "event": "rollback", "snapshot_id": to, "from": current})
    return to
