"""Withdraw a delivery that should never have been loaded, and restore the one before.

A partner may send a wrong file (the wrong period, a test export) that passes every
check. Withdrawing it removes its rows and marks it ``withdrawn`` in the ledger; the
latest earlier delivery of the same period, if any, is applied again from the archive,
with a ledger line of its own that says so. Nothing is deleted from the archive.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cim.city import City
from cim.ingest import store
from cim.ingest.files import Delivery
from cim.ingest.loader import FeedRunner, FileOutcome
from cim.settings import Paths

WITHDRAWN = "withdrawn"


class WithdrawError(Exception):
    """The reference names no delivery in force, or several: the message says which."""


@dataclass(frozen=True)
class Withdrawal:
    feed: str
    period: str | None
    name: str
    load_id: str
    rows_removed: int
    restored: FileOutcome | None


def _find(con: duckdb.DuckDBPyConnection, ref: str) -> tuple:
    """The delivery in force that ``ref`` names: a load id, a sha256 (prefix) or a file name."""
    ref = ref.strip()
    if not ref:
        raise WithdrawError("name the delivery: a file name, its sha256 or its load_id")
    rows = con.execute(
        "SELECT load_id, feed, period, original_name, status, sha256 FROM meta.file_ledger "
        "WHERE load_id = $ref OR original_name = $ref "
        "OR (length($ref) >= 8 AND starts_with(sha256, lower($ref))) ORDER BY loaded_at",
        {"ref": ref},
    ).fetchall()
    if not rows:
        raise WithdrawError(
            f"no delivery matches {ref!r}; `cim ledger` lists file names, or give the sha256"
        )
    loaded = [r for r in rows if r[4] == store.LOADED]
    if not loaded:
        statuses = ", ".join(sorted({r[4] for r in rows}))
        raise WithdrawError(
            f"{ref!r} is not a delivery in force (its ledger status is {statuses}); only a "
            "loaded delivery can be withdrawn"
        )
    if len(loaded) > 1:
        listed = "; ".join(f"{r[3]} ({r[1]} {r[2]}, load_id {r[0]})" for r in loaded)
        raise WithdrawError(
            f"{ref!r} matches several deliveries in force: {listed}; give a load_id"
        )
    return loaded[0]


def withdraw(
    con: duckdb.DuckDBPyConnection,
    city: City,
    paths: Paths,
    ref: str,
    why: str = "",
    restore: bool = True,
    run_id: str | None = None,
) -> Withdrawal:
    """Withdraw the delivery ``ref`` names; restore the period's previous delivery."""
    runner = FeedRunner(con, city, paths, run_id=run_id)
    load_id, feed, period, name, _, _ = _find(con, ref)
    contract = city.contract_by_feed.get(feed)
    if contract is None:
        raise WithdrawError(f"feed {feed!r} is no longer in the city's contracts")
    table = store.raw_table(feed)
    stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        removed = con.execute(
            f"SELECT count(*) FROM {table} WHERE _load_id = ?", [load_id]
        ).fetchone()[0]
        con.execute(f"DELETE FROM {table} WHERE _load_id = ?", [load_id])
        con.execute(
            "UPDATE meta.file_ledger SET status = ?, reason = ? WHERE load_id = ?",
            [
                WITHDRAWN,
                f"withdrawn on {stamp:%Y-%m-%d %H:%M}"
                + (f": {why}" if why else "")
                + f"; its {removed} rows were removed",
                load_id,
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    restored = None
    previous = con.execute(
        "SELECT original_name, archive_path, size_bytes, received_at, sha256 "
        "FROM meta.file_ledger WHERE feed = ? AND period IS NOT DISTINCT FROM ? "
        "AND status = 'superseded' AND superseded_by = ? ORDER BY loaded_at DESC LIMIT 1",
        [feed, period, load_id],
    ).fetchone()
    if restore and previous and Path(previous[1]).is_file():
        earlier = Delivery(
            path=Path(previous[1]),
            name=previous[0],
            size=previous[2],
            received_at=previous[3],
            feed=feed,
            period=period,
        )
        restored = runner.restore(
            earlier, contract, previous[4], note=f"restored: {name!r} withdrawn"
        )
    return Withdrawal(feed, period, name, load_id, removed, restored)
