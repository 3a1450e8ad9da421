"""Replay the deliveries in force from the archive, after a fix to the city folder.

A file loaded before its areas, contract or agenda were fixed keeps the rows it was
judged on then; dropping it again changes nothing (``duplicate``). ``cim reprocess``
loads, for every feed and period (or only those asked for), the delivery now in force
again from its archived copy, with the ingestion engine itself (``FeedRunner.replay``):
one transaction per file, the period's rows replaced, rejected rows kept with their
reasons, and a new ledger line that names the load it replaces. A replay that loads no
row leaves the period as it was; its ledger line says ``replay_failed`` and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cim.city import City
from cim.ingest import store
from cim.ingest.files import Delivery
from cim.ingest.loader import FeedRunner, FileOutcome
from cim.settings import Paths


class ReprocessError(Exception):
    """The feed or period asked for names nothing to replay: the message says what does."""


@dataclass(frozen=True)
class InForce:
    """A delivery in force, as the ledger has it."""

    load_id: str
    feed: str
    period: str | None
    name: str
    sha256: str
    archive_path: str
    size_bytes: int | None
    received_at: object
    rows_accepted: int
    rows_rejected: int


@dataclass(frozen=True)
class Replay:
    """One delivery in force and what its replay did."""

    replaced: InForce
    outcome: FileOutcome

    @property
    def applied(self) -> bool:
        return self.outcome.status == store.LOADED


def in_force(
    con: duckdb.DuckDBPyConnection,
    city: City,
    feed: str | None = None,
    period: str | None = None,
) -> list[InForce]:
    """The deliveries in force (status ``loaded``) of ``feed`` and ``period`` (None: all),
    in the order they were received, so that replaying them keeps re-delivery order."""
    if feed is not None and feed not in city.contract_by_feed:
        known = ", ".join(sorted(city.contract_by_feed))
        raise ReprocessError(
            f"the city has no feed {feed!r} (its feeds: {known}); give one of them, as "
            f"named by `feed:` in {city.folder.name}/feeds/<feed>.yaml"
        )
    rows = con.execute(
        "SELECT load_id, feed, period, original_name, sha256, archive_path, size_bytes, "
        "received_at, rows_accepted, rows_rejected FROM meta.file_ledger "
        "WHERE status = 'loaded' AND ($feed IS NULL OR feed = $feed) "
        "AND ($period IS NULL OR list_contains(coalesce(periods, [period]), $period)) "
        "ORDER BY received_at, loaded_at",
        {"feed": feed, "period": period},
    ).fetchall()
    if not rows:
        what = " ".join(filter(None, [f"feed {feed}" if feed else None, period]))
        if period is None:
            raise ReprocessError(
                f"nothing to reprocess: no delivery of {what or 'any feed'} is in force "
                "(`cim ledger` lists what was received; run `make pipeline` first)"
            )
        held = con.execute(
            "SELECT DISTINCT period FROM meta.file_ledger WHERE status = 'loaded' "
            "AND ($feed IS NULL OR feed = $feed) AND period IS NOT NULL ORDER BY period",
            {"feed": feed},
        ).fetchall()
        listed = ", ".join(p for (p,) in held[:6]) + (" ..." if len(held) > 6 else "")
        raise ReprocessError(
            f"no delivery of {what} is in force, so there is nothing to reprocess; "
            + (
                f"periods in force{' for ' + feed if feed else ''}: {listed} "
                "(written as in `cim ledger`, e.g. 2024-03 for a month, 2024-Q1 for a quarter)"
                if held
                else "nothing is in force yet"
            )
        )
    return [InForce(*row) for row in rows]


def reprocess(
    con: duckdb.DuckDBPyConnection,
    city: City,
    paths: Paths,
    feed: str | None = None,
    period: str | None = None,
    run_id: str | None = None,
    report: Callable[[str], None] | None = None,
) -> list[Replay]:
    """Replay every delivery in force of ``feed`` and ``period`` (None: all) from the
    archive; a file whose replay fails keeps its rows and says why in the ledger."""
    deliveries = in_force(con, city, feed, period)
    runner = FeedRunner(con, city, paths, run_id=run_id, report=report)
    replays = []
    for held in deliveries:
        contract = city.contract_by_feed.get(held.feed)
        if contract is None:
            # a feed that left the contracts has no rules to judge its file by: its rows
            # stay as they are, and nothing is written for a feed the city no longer has
            outcome = FileOutcome(
                held.name,
                held.feed,
                store.REPLAY_FAILED,
                held.sha256,
                held.period,
                reason=f"feed {held.feed!r} is no longer in the city's contracts; not replayed",
            )
            replays.append(Replay(held, outcome))
            continue
        delivery = Delivery(
            path=Path(held.archive_path),
            name=held.name,
            size=held.size_bytes,
            # the partner's own receipt time: health judges the replay as the delivery
            received_at=held.received_at,
            feed=held.feed,
            period=held.period,
        )
        replays.append(Replay(held, runner.replay(delivery, contract, held.sha256, held.load_id)))
    return replays
