"""Withdraw a delivery that should never have been loaded, and restore the one before.

A partner may send a wrong file (the wrong period, a test export) that passes every
check. Withdrawing it removes its rows and marks it ``withdrawn`` in the ledger; the
latest earlier delivery of the same period, if any, is applied again from the archive,
with a ledger line of its own that says so. Nothing is deleted from the archive (an
earlier delivery whose copy was purged after its retention cannot be restored: the
withdrawal says so, see ``cim.ingest.retention``).
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
from cim.ingest.retention import missing_copy_reason
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
    # why the previous delivery was not restored although there is one (its copy is gone)
    not_restored: str | None = None


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


def _archived(feed: str, name: str, path: str, size, received, period) -> Delivery:
    """An archived delivery as the ledger describes it, to be applied again."""
    return Delivery(
        path=Path(path), name=name, size=size, received_at=received, feed=feed, period=period
    )


def _restore_periods(
    con: duckdb.DuckDBPyConnection, runner: FeedRunner, contract, load_id: str, name: str
) -> FileOutcome | None:
    """After withdrawing a file whose rows say their periods: every delivery it had wholly
    superseded is applied again, and a delivery still in force that also covers a period
    left empty is replayed for that period (it had given the period to the withdrawn file)."""
    restored = None
    superseded = con.execute(
        "SELECT original_name, archive_path, size_bytes, received_at, sha256, period "
        "FROM meta.file_ledger WHERE feed = ? AND status = 'superseded' AND superseded_by = ? "
        "ORDER BY loaded_at",
        [contract.feed, load_id],
    ).fetchall()
    for old_name, path, size, received, sha, old_period in superseded:
        if Path(path).is_file():
            earlier = _archived(contract.feed, old_name, path, size, received, old_period)
            restored = runner.restore(earlier, contract, sha, note=f"restored: {name!r} withdrawn")
    table = store.raw_table(contract.feed)
    emptied = con.execute(
        "SELECT list(p) FROM (SELECT unnest(coalesce(periods, [period])) AS p "
        "FROM meta.file_ledger WHERE load_id = ?) "
        f"WHERE p NOT IN (SELECT DISTINCT _period FROM {table})",
        [load_id],
    ).fetchone()[0]
    if not emptied:
        return restored
    holders = con.execute(
        "SELECT load_id, original_name, archive_path, size_bytes, received_at, sha256, period "
        "FROM meta.file_ledger AS l WHERE feed = $feed AND status = 'loaded' AND EXISTS ("
        # the same file covered the period once (a replay may have left it out since)
        " SELECT 1 FROM meta.file_ledger AS o WHERE o.feed = $feed AND o.sha256 = l.sha256"
        " AND len(list_intersect(coalesce(o.periods, [o.period]), $emptied)) > 0)"
        " ORDER BY loaded_at DESC",
        {"feed": contract.feed, "emptied": emptied},
    ).fetchall()
    for held_id, old_name, path, size, received, sha, old_period in holders:
        earlier = _archived(contract.feed, old_name, path, size, received, old_period)
        restored = runner.replay(earlier, contract, sha, held_id)
        if restored.load_id:
            runner._add_warning(restored, f"restored: {name!r} withdrawn")
    return restored


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
    if contract.periods_from_rows:
        restored = _restore_periods(con, runner, contract, load_id, name)
        return Withdrawal(feed, period, name, load_id, removed, restored if restore else None)
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
    if restore and previous and restored is None:
        reason = missing_copy_reason(con, Path(previous[1]))
        return Withdrawal(feed, period, name, load_id, removed, None, f"{previous[0]!r}: {reason}")
    return Withdrawal(feed, period, name, load_id, removed, restored)
