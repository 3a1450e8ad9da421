"""Ingest deliveries: archive, read, check, replace the period, and write the ledger.

One file is one transaction: its accepted rows, its rejected rows and its ledger line
commit together, so a crash leaves either the whole delivery or none of it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cim.city import City, FeedContract
from cim.faults import pause_at
from cim.ingest import store
from cim.ingest.files import Delivery, archive_copy, scan_landing, sha256_of
from cim.ingest.readers import UnreadableFile, read_delivery
from cim.ingest.rules import plan_checks
from cim.settings import Paths, pseudonym_key

log = logging.getLogger(__name__)


@dataclass
class FileOutcome:
    """What happened to one delivered file: the ledger line, as a Python object."""

    name: str
    feed: str | None
    status: str
    sha256: str | None = None
    period: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


INGEST_MEMORY_LIMIT = os.environ.get("CIM_INGEST_MEMORY_LIMIT", "1GB")


class FeedRunner:
    """Loads the deliveries of one city into the warehouse, feed by feed."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        city: City,
        paths: Paths,
        run_id: str | None = None,
        report: Callable[[str], None] | None = None,
    ):
        self.con, self.city, self.paths, self.run_id = con, city, paths, run_id
        self.report = report or log.warning
        # one file at a time needs little memory; without a cap DuckDB keeps every block
        # it wrote cached (up to 80% of RAM) and a 10M-row history passes 2 GB
        con.execute(f"SET memory_limit = '{INGEST_MEMORY_LIMIT}'")
        store.ensure_meta(con)
        for contract in city.contracts:
            store.ensure_raw_table(con, contract)
        self.area_codes: dict[str, list[str]] = {}
        for area in city.areas:
            self.area_codes.setdefault(area.level, []).append(area.area_code)
        self.key = pseudonym_key(paths)

    # -- public -----------------------------------------------------------------
    def ingest(self, deliveries: list[Delivery]) -> list[FileOutcome]:
        return [self.ingest_one(d) for d in deliveries]

    def ingest_one(self, delivery: Delivery) -> FileOutcome:
        if delivery.refusal:
            return self._refuse(delivery)
        contract = self.city.contract_by_feed[delivery.feed]
        try:
            sha = sha256_of(delivery.path)
        except OSError as exc:
            return self._refuse(delivery, f"could not read the file ({exc}); resend it")
        previous = self.con.execute(
            "SELECT original_name, loaded_at FROM meta.file_ledger WHERE feed = ? AND sha256 = ? "
            "AND status <> 'duplicate' ORDER BY loaded_at LIMIT 1",
            [contract.feed, sha],
        ).fetchone()
        archived = archive_copy(delivery.path, self.paths.archive, sha)
        if previous:
            outcome = FileOutcome(
                delivery.name,
                contract.feed,
                store.DUPLICATE,
                sha,
                contract.period_of(delivery.name),
                reason=(
                    f"identical to {previous[0]!r} received {previous[1]:%Y-%m-%d %H:%M}; "
                    "nothing changed"
                ),
            )
            self._write_ledger(outcome, delivery, contract, archived, uuid.uuid4().hex)
        else:
            outcome = self._load(delivery, contract, sha, archived)
        delivery.path.unlink(missing_ok=True)
        return outcome

    # -- steps ------------------------------------------------------------------
    def _load(
        self, delivery: Delivery, contract: FeedContract, sha: str, archived: Path
    ) -> FileOutcome:
        load_id = uuid.uuid4().hex
        outcome = FileOutcome(
            delivery.name, contract.feed, store.LOADED, sha, contract.period_of(delivery.name)
        )
        with tempfile.TemporaryDirectory(prefix="cim-ingest-") as workdir:
            try:
                if outcome.period is None:
                    raise UnreadableFile(
                        f"the file name does not say which period it covers; expected a name "
                        f"matching {contract.period.from_filename!r}: rename it and resend"
                    )
                parsed = read_delivery(self.con, contract, archived, Path(workdir))
                plan = plan_checks(contract, parsed.headers, self.area_codes, self.key)
                self.con.execute(plan.sql, plan.params)
            except (UnreadableFile, UnicodeError, OSError) as exc:
                outcome.status, outcome.reason = store.REJECTED, _first_line(exc)
                self._write_ledger(outcome, delivery, contract, archived, load_id)
                self.report(
                    f"{contract.feed}: file {delivery.name!r} rejected whole: {outcome.reason}"
                )
                return outcome
        outcome.warnings = plan.warnings
        outcome.rows_accepted, outcome.rows_rejected, summary_rows = self.con.execute(
            "SELECT count(*) FILTER (len(_errors) = 0), count(*) FILTER (len(_errors) > 0), "
            "count(*) FILTER (_errors[1] LIKE 'summary row %') FROM checked"
        ).fetchone()
        outcome.rows_rejected += parsed.broken_rows
        outcome.rows_read = parsed.rows + parsed.broken_rows
        if outcome.rows_accepted == 0:
            first = self.con.execute(
                "SELECT _errors[1] FROM checked WHERE len(_errors) > 0 LIMIT 1"
            ).fetchone()
            outcome.status = store.REJECTED
            outcome.reason = "no valid rows: every row was rejected (see meta.rejected_rows)" + (
                f"; first reason: {first[0]}" if first else ""
            )
        self.con.execute("BEGIN TRANSACTION")
        try:
            if outcome.status == store.LOADED:
                self._replace_period(contract, outcome, plan.select_accepted, load_id)
            self._keep_rejects(contract, sha, load_id)
            self._write_ledger(outcome, delivery, contract, archived, load_id)
            pause_at("ingest")  # crash tests: killed here, the delivery must vanish whole
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        if outcome.rows_rejected > summary_rows:  # a skipped "Totaal" row is no news
            self.report(
                f"{contract.feed}: file {delivery.name!r}: {outcome.rows_rejected} of "
                f"{outcome.rows_read} rows rejected (see meta.rejected_rows, load_id {load_id})"
            )
        for warning in outcome.warnings:
            self.report(f"{contract.feed}: file {delivery.name!r}: schema drift: {warning}")
        return outcome

    def _replace_period(
        self, contract: FeedContract, outcome: FileOutcome, columns: list[str], load_id: str
    ) -> None:
        """A delivery for a period replaces that period's rows; older versions stay archived."""
        table = store.raw_table(contract.feed)
        self.con.execute(f"DELETE FROM {table} WHERE _period = ?", [outcome.period])
        self.con.execute(
            "UPDATE meta.file_ledger SET status = 'superseded', superseded_by = ? "
            "WHERE feed = ? AND period = ? AND status = 'loaded'",
            [load_id, contract.feed, outcome.period],
        )
        names = ", ".join([*columns, "_period", "_file_sha256", "_row_number", "_load_id"])
        self.con.execute(
            f"INSERT INTO {table} ({names}) SELECT {', '.join(columns)}, ?, ?, _row_number, ? "
            "FROM checked WHERE len(_errors) = 0",
            [outcome.period, outcome.sha256, load_id],
        )

    def _keep_rejects(self, contract: FeedContract, sha: str, load_id: str) -> None:
        self.con.execute(
            "INSERT INTO meta.rejected_rows SELECT ?, ?, ?, _row_number, _error_column, "
            "array_to_string(_errors, '; '), _row_text FROM checked WHERE len(_errors) > 0",
            [load_id, contract.feed, sha],
        )
        # A broken line cannot be split into columns, so personal values in it cannot
        # be masked: keep its text only for feeds without personal data.
        has_personal = any(c.personal for c in contract.columns)
        self.con.execute(
            "INSERT INTO meta.rejected_rows SELECT ?, ?, ?, _row_number, NULL, "
            "'line could not be split into the header''s columns: ' || reason, "
            "CASE WHEN ? THEN '[withheld: this feed carries personal data]' ELSE row_text END "
            "FROM incoming_broken",
            [load_id, contract.feed, sha, has_personal],
        )

    def _refuse(self, delivery: Delivery, reason: str | None = None) -> FileOutcome:
        """Move a refused entry aside (never follow it) and account for it in the ledger."""
        reason = reason or delivery.refusal
        refused_dir = self.paths.home / "refused"
        refused_dir.mkdir(exist_ok=True)
        target = refused_dir / f"{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}-{delivery.name}"
        os.replace(delivery.path, target)
        contract = self.city.contract_by_feed.get(delivery.feed or "")
        outcome = FileOutcome(delivery.name, delivery.feed, store.REFUSED, reason=reason)
        self._write_ledger(outcome, delivery, contract, target, uuid.uuid4().hex)
        self.report(f"file {delivery.name!r} refused: {reason} (moved to {target})")
        return outcome

    def _write_ledger(
        self,
        outcome: FileOutcome,
        delivery: Delivery,
        contract: FeedContract | None,
        archived: Path,
        load_id: str,
    ) -> None:
        self.con.execute(
            "INSERT INTO meta.file_ledger (load_id, sha256, partner, feed, original_name, "
            "size_bytes, "
            "received_at, loaded_at, run_id, period, rows_read, rows_accepted, rows_rejected, "
            "status, reason, warnings, archive_path) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                load_id,
                outcome.sha256,
                contract.partner if contract else None,
                outcome.feed,
                delivery.name,
                delivery.size,
                delivery.received_at,
                _now(),
                self.run_id,
                outcome.period,
                outcome.rows_read,
                outcome.rows_accepted,
                outcome.rows_rejected,
                outcome.status,
                outcome.reason,
                outcome.warnings,
                str(archived),
            ],
        )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def ingest_landing(
    con: duckdb.DuckDBPyConnection,
    city: City,
    paths: Paths,
    feeds: list[str] | None = None,
    run_id: str | None = None,
) -> list[FileOutcome]:
    """Ingest what is in the landing folder (optionally only some feeds), oldest first."""
    runner = FeedRunner(con, city, paths, run_id)
    wanted = [d for d in scan_landing(paths.landing, city) if feeds is None or d.feed in feeds]
    return runner.ingest(wanted)
