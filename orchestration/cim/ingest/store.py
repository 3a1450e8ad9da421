"""Warehouse tables that make ingestion auditable: ledger, rejects, areas, raw feeds."""

from __future__ import annotations

import duckdb

from cim.city import FeedContract
from cim.city.contracts import NUMERIC_TYPES, Column

SQL_TYPES = {
    "text": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
    "area_code": "VARCHAR",
    "area_code_list": "VARCHAR[]",
}

LINEAGE_COLUMNS = {
    "_period": "VARCHAR",
    "_file_sha256": "VARCHAR",
    "_row_number": "BIGINT",
    "_load_id": "VARCHAR",
}

_META_DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS meta.file_ledger (
    load_id VARCHAR PRIMARY KEY,
    sha256 VARCHAR,
    partner VARCHAR,
    feed VARCHAR,
    original_name VARCHAR NOT NULL,
    size_bytes BIGINT,
    received_at TIMESTAMP,
    loaded_at TIMESTAMP NOT NULL,
    run_id VARCHAR,
    period VARCHAR,
    rows_read BIGINT,
    rows_accepted BIGINT,
    rows_rejected BIGINT,
    status VARCHAR NOT NULL,
    reason VARCHAR,
    warnings VARCHAR[],
    archive_path VARCHAR,
    superseded_by VARCHAR,
    replay_of VARCHAR,
    periods VARCHAR[],
    period_rows STRUCT(period VARCHAR, rows_accepted BIGINT, rows_rejected BIGINT)[],
    rows_by_level STRUCT(area_column VARCHAR, area_level VARCHAR, row_count BIGINT)[],
    purged_at TIMESTAMP,
    purge_reason VARCHAR
);
-- a warehouse made before `cim reprocess` (replay_of), before files whose rows say
-- their period (periods, period_rows) or before placement rules lacks the columns
ALTER TABLE meta.file_ledger ADD COLUMN IF NOT EXISTS replay_of VARCHAR;
ALTER TABLE meta.file_ledger ADD COLUMN IF NOT EXISTS periods VARCHAR[];
ALTER TABLE meta.file_ledger ADD COLUMN IF NOT EXISTS
    period_rows STRUCT(period VARCHAR, rows_accepted BIGINT, rows_rejected BIGINT)[];
ALTER TABLE meta.file_ledger ADD COLUMN IF NOT EXISTS
    rows_by_level STRUCT(area_column VARCHAR, area_level VARCHAR, row_count BIGINT)[];
-- ... or before archived originals were purged after their retention (cim.ingest.retention)
ALTER TABLE meta.file_ledger ADD COLUMN IF NOT EXISTS purged_at TIMESTAMP;
ALTER TABLE meta.file_ledger ADD COLUMN IF NOT EXISTS purge_reason VARCHAR;
CREATE TABLE IF NOT EXISTS meta.rejected_rows (
    load_id VARCHAR NOT NULL,
    feed VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    row_number BIGINT,
    column_name VARCHAR,
    reason VARCHAR NOT NULL,
    row_text VARCHAR
);
"""

# Ledger statuses, in the words the backbone uses on the phone with a partner.
LOADED, DUPLICATE, SUPERSEDED, REJECTED, REFUSED = (
    "loaded",
    "duplicate",
    "superseded",
    "rejected",
    "refused",
)
# Statuses of `cim reprocess`, kept apart from the partner's own: a replay is the
# backbone's doing, so it must count neither as a correction nor as a rejected delivery.
# ``replayed``: a delivery in force that a replay of the same file replaced;
# ``replay_failed``: a replay that could not be applied (the delivery in force stays).
REPLAYED, REPLAY_FAILED = "replayed", "replay_failed"


def quote_ident(name: str) -> str:
    """Quote an identifier that already passed the contract's identifier pattern."""
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"refusing unsafe SQL identifier {name!r}")
    return f'"{name}"'


def raw_table(feed: str) -> str:
    return f"raw.{quote_ident(feed)}"


def suppressed_flag(column: Column) -> str:
    return f"{column.name}_suppressed"


def raw_columns(contract: FeedContract) -> dict[str, str]:
    """Name and SQL type of every column of a feed's raw table, lineage last."""
    columns: dict[str, str] = {}
    for column in contract.stored_columns:
        columns[column.name] = SQL_TYPES[column.type]
        if column.delivered_code:
            columns[column.delivered_code] = "VARCHAR"
        if contract.suppressed_markers and column.type in NUMERIC_TYPES:
            columns[suppressed_flag(column)] = "BOOLEAN"
    return columns | LINEAGE_COLUMNS


def ensure_meta(con: duckdb.DuckDBPyConnection) -> None:
    """Create the audit tables (ledger and rejected rows) if they do not exist yet."""
    con.execute(_META_DDL)


def ensure_raw_table(con: duckdb.DuckDBPyConnection, contract: FeedContract) -> None:
    """Create the feed's raw table, or add columns a contract change introduced."""
    wanted = raw_columns(contract)
    table = raw_table(contract.feed)
    body = ", ".join(f"{quote_ident(n)} {t}" for n, t in wanted.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({body})")
    present = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = ?",
            [contract.feed],
        ).fetchall()
    }
    for name, sql_type in wanted.items():
        if name not in present:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {quote_ident(name)} {sql_type}")
