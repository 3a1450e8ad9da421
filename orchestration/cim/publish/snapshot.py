"""Versioned snapshots of the mart, switched into place by an atomic rename.

DuckDB admits one writer or many readers per file, never both, so readers cannot use
the working warehouse. Each publication copies the mart and the feed-health and quality
tables into a new file, checkpoints it, and hard-links it over ``current.duckdb`` with
``os.replace``: a reader sees the old file or the new one, never half of either, and a
reader holding the old file open keeps reading it undisturbed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb

from cim.faults import pause_at
from cim.publish.reader import CURRENT, current_manifest
from cim.settings import Paths

# Schemas and tables a snapshot carries: the whole mart, plus what the backbone reads.
PUBLISHED_SCHEMAS = ("marts",)
PUBLISHED_TABLES = (("meta", "file_ledger"), ("meta", "dq_results"))
LEDGER_COLUMNS = (
    "load_id, sha256, partner, feed, original_name, size_bytes, received_at, loaded_at, "
    "run_id, period, rows_read, rows_accepted, rows_rejected, status, reason, warnings"
)


class PublishBlocked(RuntimeError):
    """A blocking check failed: the previous snapshot stays served."""


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


def _fsync(path: Path) -> None:
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
    _fsync(paths.published)


def publish(paths: Paths, run_id: str, checks: dict, keep: int = 5) -> dict:
    """Write a new snapshot of the checked warehouse and make it the served one."""
    snapshots = paths.published / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    created = _now()
    snapshot_id = f"{created:%Y%m%dT%H%M%S%f}-{run_id[:8]}"
    partial = snapshots / f"{snapshot_id}.duckdb.partial"
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
        }
        con.execute("CREATE SCHEMA IF NOT EXISTS published")
        con.execute("CREATE TABLE published.manifest (manifest JSON)")
        con.execute("INSERT INTO published.manifest VALUES (?)", [json.dumps(manifest)])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    _fsync(partial)
    final = snapshots / f"{snapshot_id}.duckdb"
    os.replace(partial, final)
    (snapshots / f"{snapshot_id}.json").write_text(json.dumps(manifest, indent=1))
    pause_at("publish")
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


def list_snapshots(paths: Paths) -> list[str]:
    """Snapshot ids, oldest first."""
    folder = paths.published / "snapshots"
    return sorted(p.stem for p in folder.glob("*.duckdb")) if folder.exists() else []


def _prune(folder: Path, keep: int) -> None:
    """Keep the newest ``keep`` snapshots; half-written ones from a crash go too."""
    for stale in folder.glob("*.partial"):
        stale.unlink(missing_ok=True)
    ids = sorted(p.stem for p in folder.glob("*.duckdb"))
    for old in ids[:-keep] if keep > 0 else []:
        (folder / f"{old}.duckdb").unlink(missing_ok=True)
        (folder / f"{old}.json").unlink(missing_ok=True)


def rollback(paths: Paths, to: str | None = None) -> str:
    """Serve an earlier snapshot: the given id, or the one before the current."""
    ids = list_snapshots(paths)
    current = (current_manifest(paths) or {}).get("snapshot_id")
    if to is None:
        older = [i for i in ids if current is None or i < current]
        if not older:
            raise ValueError(f"no snapshot older than {current}; kept snapshots: {ids}")
        to = older[-1]
    if to not in ids:
        raise ValueError(f"unknown snapshot {to!r}; kept snapshots: {ids}")
    _switch(paths, paths.published / "snapshots" / f"{to}.duckdb")
    _log(paths, {"at": _now().isoformat(), "event": "rollback", "snapshot_id": to, "from": current})
    return to
