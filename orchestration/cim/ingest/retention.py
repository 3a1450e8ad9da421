"""Archived originals (and refused files) deleted once their retention ran out.

A feed's contract says how long its archived originals are kept (``archive:
{retention_days: N}``; the city's ``archive:`` in city.yaml is the default, unset keeps
them for ever). ``cim archive purge`` and every pipeline run delete the files whose
latest receipt (the ledger's ``received_at``) is older than that, counted from the day
checks are judged on (``settings.as_of``: today, or the demo's own last day).

Privacy first: the copy of a delivery still in force is purged too. Its rows stay in the
warehouse, but it can no longer be replayed (``cim reprocess``) or restored after a
withdrawal; both then say that the copy was purged and when. The ledger keeps every
line, with the file's sha256, and records ``purged_at`` and ``purge_reason``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cim.city import City
from cim.ingest import store
from cim.ingest.archive import ENCRYPTED_SUFFIX, SCRATCH
from cim.settings import Paths, as_of


@dataclass(frozen=True)
class Purge:
    """One archived original (or refused file) past its retention."""

    path: Path
    feeds: tuple[str, ...]
    last_received: dt.datetime
    retention_days: int
    reason: str


def expired_files(con: duckdb.DuckDBPyConnection, city: City, today: dt.date) -> list[Purge]:
    """Files the ledger names, not purged yet, whose every feed's retention ran out."""
    rows = con.execute(
        "SELECT archive_path, feed, max(received_at) FROM meta.file_ledger "
        "WHERE archive_path IS NOT NULL AND purged_at IS NULL GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    by_path: dict[str, list[tuple[str | None, dt.datetime]]] = {}
    for path, feed, received in rows:
        by_path.setdefault(path, []).append((feed, received))
    expired = []
    for path, holders in by_path.items():
        # the same bytes delivered to two feeds are kept as long as the longer retention
        days = [city.retention_days(city.contract_by_feed.get(feed or "")) for feed, _ in holders]
        if any(d is None for d in days):
            continue
        keep, last = max(days), max((r for _, r in holders if r is not None), default=None)
        if last is None or last.date() + dt.timedelta(days=keep) >= today:
            continue
        feeds = tuple(sorted({feed or "no feed (refused)" for feed, _ in holders}))
        expired.append(
            Purge(
                Path(path),
                feeds,
                last,
                keep,
                f"retention of {keep} days for {', '.join(feeds)} ran out (last received "
                f"{last:%Y-%m-%d}); purged on {today:%Y-%m-%d}",
            )
        )
    return expired


def purge_archive(
    con: duckdb.DuckDBPyConnection,
    city: City,
    paths: Paths,
    today: dt.date | None = None,
    dry_run: bool = False,
) -> list[Purge]:
    """Delete the archived originals and refused files past their retention and record
    it in the ledger; ``dry_run`` only lists them. Returns what was (or would be) purged."""
    store.ensure_meta(con)  # a warehouse older than the purge columns gets them
    expired = expired_files(con, city, today or as_of())
    if dry_run:
        return expired
    _clear_stale_scratch(paths)
    stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for purge in expired:
        _remove(con, purge.path)
        con.execute(
            "UPDATE meta.file_ledger SET purged_at = ?, purge_reason = ? "
            "WHERE archive_path = ? AND purged_at IS NULL",
            [stamp, purge.reason, str(purge.path)],
        )
    return expired


# a decrypted copy lives for the seconds a file is read; one older than this was left
# by a process that was killed, and holds personal data in clear
STALE_SCRATCH_SECONDS = 3600


def _clear_stale_scratch(paths: Paths) -> None:
    scratch = paths.home / SCRATCH
    if not scratch.is_dir():
        return
    limit = time.time() - STALE_SCRATCH_SECONDS
    for entry in scratch.iterdir():
        if entry.lstat().st_mtime < limit:
            _remove_entry(entry)


def _remove_entry(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _remove(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Delete a purged file; a refused entry may be a folder or a link (never followed)."""
    _remove_entry(path)
    # `cim archive encrypt` stopped between its two steps may have left the plain twin
    # of an encrypted copy: the same personal data, unless a live ledger line needs it
    twin = path.with_name(path.name.removesuffix(ENCRYPTED_SUFFIX))
    if (
        twin != path
        and not con.execute(
            "SELECT 1 FROM meta.file_ledger WHERE archive_path = ? AND purged_at IS NULL",
            [str(twin)],
        ).fetchone()
    ):
        twin.unlink(missing_ok=True)


def missing_copy_reason(con: duckdb.DuckDBPyConnection, archived: Path) -> str:
    """Why an archived copy is not there, for a replay or a restore that needs it."""
    purged = con.execute(
        "SELECT max(purged_at), any_value(purge_reason) FROM meta.file_ledger "
        "WHERE archive_path = ? AND purged_at IS NOT NULL",
        [str(archived)],
    ).fetchone()
    if purged and purged[0] is not None:
        return (
            f"its archived copy was purged on {purged[0]:%Y-%m-%d} ({purged[1]}): a reprocess "
            "or restore of this delivery is no longer possible; ask the partner to resend "
            "the file if the period must be loaded again"
        )
    return (
        "its archived copy is missing from CIM_HOME/archive; restore the archive from a "
        "backup or ask the partner to resend the file"
    )
