"""Frames fetched from DuckDB for GX's pandas engine: only the columns a suite needs.

GX's SQL datasource is broken over DuckDB (docs/quality.md), so every suite validates
pandas frames. They are kept lean and numpy-typed, because GX runs several times slower
on Arrow-backed or nullable-extension columns:

- ``rows``: one row per raw row, streamed in chunks; numbers as float64, dates as
  datetime64[ns]; a column that is only checked for presence arrives as a 1.0/NULL flag;
  lineage as ``_row_number`` and ``_lid`` (a 64-bit hash of the load id, named back to the
  delivered file through meta.file_ledger only for the rows shown as examples);
- ``periods``: pre-aggregated in DuckDB, one row per delivery period;
- computed frames: a DuckDB query from the suite file, one row per whatever it groups by.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import duckdb
import numpy as np
import pandas as pd

from cim.city import FeedContract
from cim.ingest.store import quote_ident, raw_columns, raw_table, suppressed_flag
from cim.periods import period_index
from cim.quality.baseline import PRESENT_SUFFIX
from cim.quality.rules import Rule

LINEAGE = ["_row_number", "_lid"]
_EARLIEST, _LATEST = "1700-01-01", "2250-12-31"  # datetime64[ns] spans 1677-2262


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def file_names(con: duckdb.DuckDBPyConnection, load_ids: list[str]) -> dict[str, str]:
    """Original file name per load id; a short load id when the ledger does not know it."""
    names = {i: f"load {i[:8]}" for i in load_ids if i}
    if names and table_exists(con, "meta", "file_ledger"):
        rows = con.execute(
            "SELECT load_id, original_name FROM meta.file_ledger WHERE list_contains(?, load_id)",
            [list(names)],
        ).fetchall()
        names |= dict(rows)
    return names


def numpy_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Plain numpy dtypes where GX has fast paths: float64 and datetime64[ns]."""
    for name in df.columns:
        series = df[name]
        if pd.api.types.is_datetime64_any_dtype(series.dtype) and series.dtype != "M8[ns]":
            df[name] = series.astype("datetime64[ns]")
        elif isinstance(series.dtype, pd.api.extensions.ExtensionDtype) and (
            pd.api.types.is_numeric_dtype(series.dtype)
        ):
            df[name] = series.astype("float64")
        elif series.dtype == object:
            first = series.dropna().head(1).tolist()
            if first and isinstance(first[0], Decimal):
                df[name] = series.astype("float64")
    return df


def _projection(contract: FeedContract, column: str, presence_only: bool) -> str:
    types = raw_columns(contract)
    if column.endswith(PRESENT_SUFFIX) and column.removesuffix(PRESENT_SUFFIX) in types:
        base = contract.column(column.removesuffix(PRESENT_SUFFIX))
        flag = quote_ident(suppressed_flag(base))
        name = quote_ident(base.name)
        return f"CASE WHEN {name} IS NOT NULL OR coalesce({flag}, false) THEN 1.0 END"
    if column not in types:
        raise KeyError(column)
    name, sql_type = quote_ident(column), types[column]
    if presence_only and sql_type not in {"BIGINT", "DOUBLE"}:
        return f"CASE WHEN {name} IS NOT NULL THEN 1.0 END"
    if sql_type in {"BIGINT", "DOUBLE"}:
        return f"CAST({name} AS DOUBLE)"
    if sql_type in {"DATE", "TIMESTAMP"}:
        clamped = f"least(greatest({name}, '{_EARLIEST}'), '{_LATEST}')"
        return f"CAST({clamped} AS TIMESTAMP)"
    return name


def rows_sql(contract: FeedContract, rules: list[Rule]) -> str:
    """SELECT of exactly the columns the rules on the rows frame use, plus lineage."""
    uses: dict[str, set[str]] = {}
    for rule in rules:
        for column in rule.columns:
            uses.setdefault(column, set()).add(rule.expect)
    selected = []
    for column, expects in uses.items():
        presence_only = expects == {"expect_column_values_to_not_be_null"}
        selected.append(f"{_projection(contract, column, presence_only)} AS {quote_ident(column)}")
    selected += ["_row_number", "hash(_load_id) AS _lid"]
    return f"SELECT {', '.join(selected)} FROM {raw_table(contract.feed)}"


def lid_names(con: duckdb.DuckDBPyConnection, contract: FeedContract) -> dict[int, str]:
    rows = con.execute(
        f"SELECT DISTINCT hash(_load_id), _load_id FROM {raw_table(contract.feed)}"
    ).fetchall()
    names = file_names(con, [load_id for _, load_id in rows if load_id])
    return {int(lid): names.get(load_id, "unknown file") for lid, load_id in rows}


def iter_rows(con: duckdb.DuckDBPyConnection, sql: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream a query as frames of about ``chunk_rows`` rows (a cursor of its own)."""
    cursor = con.cursor()
    try:
        cursor.execute(sql)
        vectors = max(1, chunk_rows // 2048)
        while True:
            chunk = cursor.fetch_df_chunk(vectors)
            if chunk is None or chunk.empty:
                break
            yield numpy_frame(chunk)
    finally:
        cursor.close()


def periods_frame(con: duckdb.DuckDBPyConnection, contract: FeedContract) -> pd.DataFrame:
    """Rows per delivery period, with the median of the six periods before it."""
    df = con.execute(
        f"""
        WITH p AS (
            SELECT _period, count(*) AS rows, max(_load_id) AS _load_id
            FROM {raw_table(contract.feed)} GROUP BY _period
        )
        SELECT _period, rows, _load_id,
            median(rows) OVER w AS median_rows_previous_6,
            count(*) OVER w AS previous_periods
        FROM p
        WINDOW w AS (ORDER BY _period ROWS BETWEEN 6 PRECEDING AND 1 PRECEDING)
        ORDER BY _period
        """
    ).df()
    grain = contract.period.grain
    df["period_index"] = [period_index(p, grain) for p in df["_period"]]
    enough = df["previous_periods"] >= 3
    df["rows_vs_median_previous_6"] = np.where(
        enough, df["rows"] / df["median_rows_previous_6"].replace(0, np.nan), np.nan
    )
    names = file_names(con, [i for i in df["_load_id"] if isinstance(i, str)])
    df["_file"] = [names.get(i, "") for i in df["_load_id"]]
    return numpy_frame(df.drop(columns=["_load_id"]).astype({"period_index": "float64"}))


def sql_frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """A computed frame; a ``_load_id`` column is turned into the file's name ``_file``."""
    df = con.execute(sql).df()
    if "_load_id" in df.columns:
        names = file_names(con, [i for i in df["_load_id"] if isinstance(i, str)])
        df["_file"] = [names.get(i, "") if isinstance(i, str) else "" for i in df["_load_id"]]
        df = df.drop(columns=["_load_id"])
    return numpy_frame(df)
