"""The hostile corpus through the whole pipeline: no file blocks the city, and no
personal value reaches any text the platform writes (tables, snapshot, logs, console)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from cim.publish import current_manifest

from tests.hostile import PERSONAL_VALUES, corpus

pytestmark = pytest.mark.slow
# Files whose name is the point of the case keep it; the others get a unique suffix.
KEEP_NAME = {"name_too_long", "future_period", "implausible_period", "two_periods_in_name"}


def _landing_name(case) -> str:
    if case.key in KEEP_NAME:
        return case.name
    stem, _, suffix = case.name.rpartition(".")
    return f"{stem}_{case.key}.{suffix}"


def _hits_in_database(path: Path, values: tuple[str, ...]) -> list[str]:
    """Every table of a DuckDB file whose rows, as text, contain one of ``values``."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
        hits = []
        for schema, table in tables:
            for value in values:
                found = con.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" AS t '
                    "WHERE contains(CAST(t AS VARCHAR), ?)",
                    [value],
                ).fetchone()[0]
                if found:
                    hits.append(f"{schema}.{table}: {value!r} x{found}")
        return hits
    finally:
        con.close()


def test_hostile_corpus_never_blocks_the_city_nor_leaks_personal_data(
    demo_build, tmp_path, monkeypatch, capfd, caplog
):
    paths = demo_build.copy_to(tmp_path)
    home = paths.home
    cases = {_landing_name(c): c for c in corpus()}
    for name, case in cases.items():
        (paths.landing / name).write_bytes(case.content)
    served_before = current_manifest(paths)["snapshot_id"]
    result, events = demo_build.run(paths, monkeypatch)
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    assert result.success, f"steps failed: {failed}"

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    ledger = {
        name: (status, reason)
        for name, status, reason in con.execute(
            "SELECT original_name, status, reason FROM meta.file_ledger WHERE run_id = ?",
            [result.run_id],
        ).fetchall()
    }
    con.close()
    assert set(ledger) == set(cases), "every landed file has exactly one ledger line"
    for name, case in cases.items():
        status, reason = ledger[name]
        # several good files of one period in one batch: the last one stays in force
        wanted = {"loaded", "superseded"} if case.status == "loaded" else {case.status}
        assert status in wanted, (name, reason)
        if case.reason:
            assert case.reason in reason

    assert current_manifest(paths)["snapshot_id"] != served_before, "nothing published"

    hits = _hits_in_database(home / "warehouse.duckdb", PERSONAL_VALUES)
    hits += _hits_in_database(home / "published" / "current.duckdb", PERSONAL_VALUES)
    written = [
        p
        for p in home.rglob("*")
        if p.is_file()
        and p.suffix not in {".duckdb", ".wal"}
        and not {"archive", "refused", "landing", "secrets"} & set(p.relative_to(home).parts)
    ]
    texts = {str(p.relative_to(home)): p.read_bytes().decode("utf-8", "replace") for p in written}
    out, err = capfd.readouterr()
    texts |= {
        "dagster event log": "\n".join(events),
        "console": out + err + "\n".join(r.getMessage() for r in caplog.records),
    }
    for where, text in texts.items():
        hits += [f"{where}: {v!r}" for v in PERSONAL_VALUES if v in text]
    assert not hits, hits
    assert events and any("politie_incidenten" in e for e in events)  # the scan saw real logs


def test_the_database_scan_finds_a_planted_value(tmp_path):
    """The privacy scan above is only worth something if it can see a value."""
    path = tmp_path / "probe.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA meta")
    con.execute("CREATE TABLE meta.t (n INTEGER, reasons VARCHAR[])")
    con.execute("INSERT INTO meta.t VALUES (1, ['ok', ?])", [f"x {PERSONAL_VALUES[0]} y"])
    con.close()
    assert _hits_in_database(path, PERSONAL_VALUES) == [f"meta.t: {PERSONAL_VALUES[0]!r} x1"]
