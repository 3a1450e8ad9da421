"""The police feed's quality rules as plain DuckDB SQL, to measure what GX costs.

The rules are the very ones GX runs (``cim.quality.suites.feed_rules``), over the same
frames (``cim.quality.frames``); each expectation type the suite uses becomes a
``count_if`` of its unexpected rows, all in one query per frame. The benchmark checks
that every count equals GX's.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
from cim.city import load_city
from cim.ingest.store import quote_ident
from cim.quality import frames
from cim.quality.rules import PERIODS, ROWS, Rule
from cim.quality.suites import feed_rules

FEED = "police_incidents"


def _literal(value: object) -> str:
    if isinstance(value, dt.date | str):
        return "'" + str(value).replace("'", "''") + "'"
    return repr(float(value))


def unexpected_sql(rule: Rule) -> str:
    """count_if(...) of the rows GX would call unexpected for this rule."""
    k = rule.kwargs
    col = quote_ident(k["column"]) if "column" in k else None
    if rule.expect == "expect_column_values_to_not_be_null":
        return f"count_if({col} IS NULL)"
    if rule.expect == "expect_column_values_to_be_in_set":
        values = ", ".join(_literal(v) for v in k["value_set"])
        return f"count_if({col} IS NOT NULL AND {col} NOT IN ({values}))"
    if rule.expect == "expect_column_values_to_be_between":
        tests = []
        if k.get("min_value") is not None:
            tests.append(f"{col} < {_literal(k['min_value'])}")
        if k.get("max_value") is not None:
            tests.append(f"{col} > {_literal(k['max_value'])}")
        return f"count_if({col} IS NOT NULL AND ({' OR '.join(tests)}))"
    if rule.expect == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = quote_ident(k["column_A"]), quote_ident(k["column_B"])
        op = ">=" if k.get("or_equal") else ">"
        return f"count_if({a} IS NOT NULL AND {b} IS NOT NULL AND NOT ({a} {op} {b}))"
    raise NotImplementedError(f"{rule.expect} has no SQL translation in the benchmark")


def police_rules(today: dt.date) -> list[Rule]:
    """The rules GX runs on the police feed today (built before the timing starts)."""
    return feed_rules(load_city(Path(os.environ["CIM_CITY"])), FEED, today)[2]


def police_rules_sql(con: duckdb.DuckDBPyConnection, rules: list[Rule]) -> dict[str, int]:
    contract = load_city(Path(os.environ["CIM_CITY"])).contract_by_feed[FEED]
    counts: dict[str, int] = {}
    rows = [r for r in rules if r.frame == ROWS]
    if rows:
        select = ", ".join(unexpected_sql(r) for r in rows)
        values = con.execute(f"SELECT {select} FROM ({frames.rows_sql(contract, rows)})").fetchone()
        counts |= {r.name: int(v) for r, v in zip(rows, values, strict=True)}
    periods = [r for r in rules if r.frame == PERIODS]
    if periods:
        con.register("periods_frame", frames.periods_frame(con, contract))
        select = ", ".join(unexpected_sql(r) for r in periods)
        values = con.execute(f"SELECT {select} FROM periods_frame").fetchone()
        counts |= {r.name: int(v) for r, v in zip(periods, values, strict=True)}
    return counts
