"""What changed since the served snapshot, so a run builds only what depends on it.

Each snapshot's manifest records the inputs it was built from (``Inputs``): a digest of
the code and configuration, the judgement day, and one digest per feed of its ledger
lines. Before a run, the same inputs are read from the working warehouse and compared
with the served snapshot's, and the landing folder is scanned for new files. What
differs becomes the run's selection, from Dagster's own asset graph: the changed feeds
and everything downstream of them (``cim.defs.selection``).

The comparison is against what is *published*, not against the last run: a run that
ingested a delivery and then failed a blocking check leaves that feed different from
the served snapshot, so the next run builds it again, whatever else it was started for.
And only a warehouse that the served snapshot was published from may be built in part:
each publication marks the warehouse with its snapshot id (``mark_published``), so a new
or replaced warehouse, a rollback, or a snapshot copied in from elsewhere builds
everything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cim.city import City
from cim.ingest.files import scan_landing
from cim.settings import REPO_ROOT, Paths

# Everything a build reads besides the deliveries: the pipeline's code, the dbt project,
# the quality rules, the locked tool versions, and the city folder itself.
CODE_FOLDERS = ("orchestration/cim", "dbt_project/models", "dbt_project/macros", "expectations")
CODE_FILES = ("dbt_project/dbt_project.yml", "dbt_project/selectors.yml", "uv.lock")
SKIPPED_PARTS = {"__pycache__", "target", "logs", ".venv"}
# ledger lines without a feed: files that matched no contract (the triage asset's)
UNMATCHED = ""


@dataclass(frozen=True)
class Inputs:
    """What a snapshot was built from."""

    code: str
    day: str
    feeds: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"code": self.code, "day": self.day, "feeds": dict(sorted(self.feeds.items()))}

    @classmethod
    def from_json(cls, data: object) -> Inputs | None:
        if not isinstance(data, dict) or not isinstance(data.get("feeds"), dict):
            return None
        return cls(str(data.get("code")), str(data.get("day")), dict(data["feeds"]))


@dataclass(frozen=True)
class Plan:
    """What a run has to build. ``full``: everything; otherwise the ``feeds`` (and the
    unmatched files' triage) and what depends on them, or only what the judgement day
    changes (``day_only``), or nothing at all."""

    full: bool
    feeds: tuple[str, ...] = ()
    triage: bool = False
    day_only: bool = False
    reasons: tuple[str, ...] = ()

    @property
    def nothing(self) -> bool:
        return not (self.full or self.feeds or self.triage or self.day_only)


def _digest_files(files: Iterable[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _tree(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not SKIPPED_PARTS.intersection(path.relative_to(folder).parts)
        and path.suffix not in (".pyc", ".partial")
    ]


def code_digest(city: City, root: Path = REPO_ROOT) -> str:
    """One digest of every file a build reads besides the deliveries."""
    files = [path for folder in CODE_FOLDERS for path in _tree(root / folder)]
    files += [root / name for name in CODE_FILES if (root / name).is_file()]
    own = _digest_files(files, root)
    city_files = _digest_files(_tree(city.folder), city.folder)
    return hashlib.sha256(f"{own}|{city_files}".encode()).hexdigest()


def feed_digests(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """One digest per feed of its ledger lines: any delivery loaded, replaced, withdrawn,
    rejected or purged changes it."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'meta' AND table_name = 'file_ledger'"
    ).fetchone()[0]
    if not exists:
        return {}
    rows = con.execute(
        """
        SELECT coalesce(feed, ''), load_id, status, coalesce(period, ''),
            coalesce(rows_accepted, -1), coalesce(rows_rejected, -1)
        FROM meta.file_ledger
        ORDER BY 1, 2
        """
    ).fetchall()
    digests: dict[str, hashlib._Hash] = {}
    for feed, *line in rows:
        digests.setdefault(feed, hashlib.sha256()).update("|".join(map(str, line)).encode())
    return {feed: digest.hexdigest() for feed, digest in digests.items()}


def mark_published(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> None:
    """Record in the warehouse which snapshot was published from it."""
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    con.execute(
        "CREATE OR REPLACE TABLE meta.published_from AS SELECT ? AS snapshot_id", [snapshot_id]
    )


def published_from(con: duckdb.DuckDBPyConnection) -> str | None:
    """The snapshot last published from this warehouse (None: none yet)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'meta' AND table_name = 'published_from'"
    ).fetchone()[0]
    if not exists:
        return None
    row = con.execute("SELECT max(snapshot_id) FROM meta.published_from").fetchone()
    return row[0] if row else None


def current_inputs(
    con: duckdb.DuckDBPyConnection, city: City, day: dt.date, root: Path = REPO_ROOT
) -> Inputs:
    return Inputs(code_digest(city, root), day.isoformat(), feed_digests(con))


def plan_from_warehouse(paths: Paths, city: City, day: dt.date, manifest: dict) -> Plan:
    """What changed since the served snapshot (its ``manifest``), read from the warehouse
    opened read-only: under the writer lock (``cim pipeline``), or by the landing sensor,
    which waits for its next tick while a run holds the file (DuckDB raises IOException)."""
    served = Inputs.from_json(manifest.get("inputs"))
    now = built_for = None
    if paths.warehouse.exists():
        con = duckdb.connect(str(paths.warehouse), read_only=True)
        try:
            now = current_inputs(con, city, day)
            built_for = published_from(con)
        finally:
            con.close()
    return plan_run(
        now, served, paths, city, served_id=manifest.get("snapshot_id"), built_for=built_for
    )


def plan_run(
    now: Inputs | None,
    served: Inputs | None,
    paths: Paths,
    city: City,
    *,
    served_id: str | None = None,
    built_for: str | None = None,
) -> Plan:
    """What to build, comparing the inputs now (None: no warehouse yet) with the served
    snapshot's (None: nothing served, or a snapshot from before inputs were recorded).

    ``served_id`` is the served snapshot's id, ``built_for`` the snapshot last published
    from the warehouse (``published_from``): a part-build needs them to be the same."""
    if served is None:
        return Plan(full=True, reasons=("no snapshot with recorded inputs is served",))
    if now is None:
        return Plan(full=True, reasons=("no warehouse yet",))
    if served_id is None or built_for != served_id:
        return Plan(
            full=True,
            reasons=(
                f"the served snapshot ({served_id}) was not published from this warehouse "
                f"(last published from it: {built_for or 'none'})",
            ),
        )
    if now.code != served.code:
        return Plan(
            full=True,
            reasons=("the code, the dbt project, the quality rules or the city folder changed",),
        )
    landed: dict[str, int] = {}
    strays = 0
    for delivery in scan_landing(paths.landing, city):
        if delivery.feed is None:
            strays += 1
        else:
            landed[delivery.feed] = landed.get(delivery.feed, 0) + 1
    reasons = [f"{feed}: {n} file(s) landed" for feed, n in sorted(landed.items())]
    changed = {
        feed
        for feed in set(now.feeds) | set(served.feeds)
        if feed != UNMATCHED and now.feeds.get(feed) != served.feeds.get(feed)
    }
    known = {c.feed for c in city.contracts}
    reasons += [
        f"{feed}: its deliveries differ from the served snapshot's"
        for feed in sorted(changed - set(landed))
    ]
    feeds = tuple(sorted((set(landed) | changed) & known))
    triage = bool(strays) or now.feeds.get(UNMATCHED) != served.feeds.get(UNMATCHED)
    if strays:
        reasons.append(f"{strays} file(s) landed that match no feed")
    elif triage:
        reasons.append("the ledger's unmatched files differ from the served snapshot's")
    day_only = now.day != served.day and not (feeds or triage)
    if now.day != served.day:
        reasons.append(f"judged on {now.day}, the served snapshot on {served.day}")
    return Plan(full=False, feeds=feeds, triage=triage, day_only=day_only, reasons=tuple(reasons))
