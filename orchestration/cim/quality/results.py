"""meta.dq_results: every checked expectation of every run, appended, never rewritten."""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from cim.quality.outcome import CheckOutcome, to_json

COLUMNS = {
    "run_id": "VARCHAR",
    "checked_at": "TIMESTAMP",
    "asset": "VARCHAR",
    "suite": "VARCHAR",
    "expectation": "VARCHAR",
    "severity": "VARCHAR",
    "success": "BOOLEAN",
    "observed_value": "VARCHAR",
    "unexpected_count": "BIGINT",
    "unexpected_examples": "VARCHAR",  # JSON list of {file, row, column: value}
    "message": "VARCHAR",
    "details": "VARCHAR",  # JSON: expectation type, kwargs, counts (to re-render Data Docs)
}


def ensure_results_table(con: duckdb.DuckDBPyConnection) -> None:
    body = ", ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS.items())
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    con.execute(f"CREATE TABLE IF NOT EXISTS meta.dq_results ({body})")
    present = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'meta' AND table_name = 'dq_results'"
        ).fetchall()
    }
    for name, sql_type in COLUMNS.items():
        if name not in present:
            con.execute(f"ALTER TABLE meta.dq_results ADD COLUMN {name} {sql_type}")


def write_results(con: duckdb.DuckDBPyConnection, outcomes: list[CheckOutcome]) -> None:
    """Append the outcomes to meta.dq_results (created if missing) in one statement."""
    ensure_results_table(con)
    if not outcomes:
        return
    rows = [
        [
            o.run_id,
            o.checked_at,
            o.asset,
            o.suite,
            o.expectation,
            o.severity,
            o.success,
            o.observed_value,
            o.unexpected_count,
            to_json(o.unexpected_examples),
            o.message,
            to_json(o.details),
        ]
        for o in outcomes
    ]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    con.register("_cim_dq_results", frame)
    try:  # one statement: atomic, and fine inside a caller's transaction
        con.execute(
            f"INSERT INTO meta.dq_results ({', '.join(COLUMNS)}) "
            f"SELECT {', '.join(f'CAST({c} AS {t})' for c, t in COLUMNS.items())} "
            "FROM _cim_dq_results"
        )
    finally:
        con.unregister("_cim_dq_results")


def read_results(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> list[CheckOutcome]:
    """The outcomes of one run (default: the run checked last)."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'meta' AND table_name = 'dq_results'"
    ).fetchone()
    if not found or not found[0]:
        return []
    if run_id is None:
        last = con.execute(
            "SELECT run_id FROM meta.dq_results ORDER BY checked_at DESC LIMIT 1"
        ).fetchone()
        if last is None:
            return []
        run_id = last[0]
    rows = con.execute(
        f"SELECT {', '.join(COLUMNS)} FROM meta.dq_results WHERE run_id = ? ORDER BY rowid",
        [run_id],
    ).fetchall()
    outcomes = []
    for row in rows:
        record = dict(zip(COLUMNS, row, strict=True))
        record["unexpected_examples"] = json.loads(record["unexpected_examples"] or "[]")
        record["details"] = json.loads(record["details"] or "{}")
        outcomes.append(CheckOutcome(**record))
    return outcomes
