"""Ingest deliveries: archive, read, check, replace the period, and write the ledger.

One file is one transaction: its accepted rows, its rejected rows and its ledger line
commit together, so a crash leaves either the whole delivery or none of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cim.city import City, FeedContract
from cim.ingest import store
from cim.ingest.archive import ArchiveKeyError, archive_key, has_personal_columns, readable
from cim.ingest.files import (
    Delivery,
    FileChanged,
    scan_landing,
    short_name,
    signature_of,
    take_copy,
)
from cim.ingest.readers import ParsedFile, UnreadableFile, read_delivery
from cim.ingest.retention import missing_copy_reason
from cim.ingest.rules import plan_checks
from cim.periods import period_end, period_start
from cim.settings import INGEST_MEMORY_LIMIT, Paths, as_of, pseudonym_key

log = logging.getLogger(__name__)

# not a ledger status: a file still being uploaded stays in the landing folder
WAITING = "waiting"


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
    load_id: str | None = None
    # a file whose rows say their period (period.column) may carry several: each with
    # its accepted and rejected rows (rejected rows without a valid period are in none)
    periods: list[str] = field(default_factory=list)
    period_rows: list[dict] = field(default_factory=list)
    # accepted rows per area column and level: a pseudo-area row or a blank code counts
    # at a coarser level than the column's own (see Column.placement)
    rows_by_level: list[dict] = field(default_factory=list)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


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
        self.level_of = {area.area_code: area.level for area in city.areas}
        self.key = pseudonym_key(paths)
        # the load a replay (`cim reprocess`) stands in for, while one is applied
        self._replaces: str | None = None
        # what the reader made of the last file (its header): the dry run reports the
        # columns from it, also when the checks then reject the file whole
        self.last_read: ParsedFile | None = None

    # -- public -----------------------------------------------------------------
    def ingest(self, deliveries: list[Delivery]) -> list[FileOutcome]:
        return [self.ingest_one(d) for d in deliveries]

    def ingest_one(self, delivery: Delivery) -> FileOutcome:
        """Apply one landing entry; whatever goes wrong stays with this file."""
        if delivery.settling:
            self.report(
                f"file {delivery.name!r} is still being written (it changed during the last "
                "seconds); it will be taken by the next run"
            )
            return FileOutcome(delivery.name, delivery.feed, WAITING)
        if delivery.refusal:
            return self._refuse(delivery)
        contract = self.city.contract_by_feed[delivery.feed]
        limit = self.city.max_file_bytes(contract)
        try:
            # personal columns are in clear in the partner's file: archive it encrypted
            key = archive_key(self.paths) if has_personal_columns(contract) else None
            sha, archived = take_copy(delivery, self.paths.archive, limit, key)
        except ArchiveKeyError as exc:
            # the deployment's key is wrong, not the file: it waits in the landing folder
            self.report(f"file {delivery.name!r} left in the landing folder: {exc}")
            return FileOutcome(delivery.name, contract.feed, WAITING, reason=str(exc))
        except FileChanged as exc:
            self.report(f"file {delivery.name!r} is still being written ({exc}); taken later")
            return FileOutcome(delivery.name, contract.feed, WAITING)
        except OSError as exc:
            return self._refuse(delivery, f"could not be read ({_os_reason(exc)}); resend it")
        try:
            outcome = self._apply(delivery, contract, sha, archived)
        except Exception as exc:
            # whatever breaks on one file (the engine, a library reading a damaged
            # spreadsheet, memory) must not stop the other files and feeds; the
            # traceback is for the engineers' debug log, the ledger gets the reason
            log.debug("processing %s failed", delivery.name, exc_info=True)
            self._rollback_quietly()
            outcome = FileOutcome(
                delivery.name,
                contract.feed,
                store.REJECTED,
                sha,
                delivery.period,
                reason=(
                    f"the file could not be processed ({type(exc).__name__}); it is kept in "
                    "the archive: ask a data engineer to look at this file"
                ),
            )
            self._write_ledger(outcome, delivery, contract, archived, uuid.uuid4().hex)
            self.report(f"{contract.feed}: file {delivery.name!r} rejected whole: {outcome.reason}")
        _remove_if_unchanged(delivery)
        return outcome

    def restore(
        self, delivery: Delivery, contract: FeedContract, sha: str, note: str
    ) -> FileOutcome:
        """Apply an archived delivery again (after a withdrawal), noting why in the ledger."""
        outcome = self._apply(delivery, contract, sha, delivery.path)
        if outcome.load_id:
            self._add_warning(outcome, note)
        return outcome

    def replay(
        self, delivery: Delivery, contract: FeedContract, sha: str, replaces: str
    ) -> FileOutcome:
        """Load the delivery in force ``replaces`` again from its archived copy, after a
        fix to the areas, the contract or the agenda.

        The same steps as a new delivery (one transaction, the period's rows replaced),
        without the duplicate test that would refuse the same bytes. The ledger gets a new
        line (``replay_of`` names the load it replaces, which becomes ``replayed``). A
        replay that loads no row, or no longer fits the period, changes no data: its line
        says ``replay_failed`` and why, and the delivery in force keeps its rows.
        """
        self._replaces = replaces
        try:
            periods = contract.periods_in(delivery.name)
            if not contract.periods_from_rows and periods != [delivery.period]:
                outcome = FileOutcome(
                    delivery.name,
                    contract.feed,
                    store.REJECTED,
                    sha,
                    delivery.period,
                    reason=(
                        f"the contract now reads the period(s) {', '.join(periods) or 'none'} "
                        f"from the file name, but this delivery is in force for "
                        f"{delivery.period}; check period.from_filename in "
                        f"feeds/{contract.feed}.yaml"
                    ),
                )
                self._write_ledger(outcome, delivery, contract, delivery.path, uuid.uuid4().hex)
                return outcome
            if not delivery.path.is_file():
                outcome = FileOutcome(
                    delivery.name,
                    contract.feed,
                    store.REJECTED,
                    sha,
                    delivery.period,
                    reason=missing_copy_reason(self.con, delivery.path),
                )
                self._write_ledger(outcome, delivery, contract, delivery.path, uuid.uuid4().hex)
                return outcome
            try:
                return self._load(delivery, contract, sha, delivery.path, periods)
            except Exception as exc:
                # as in ingest_one: what breaks stays with this file, the others replay
                log.debug("replaying %s failed", delivery.name, exc_info=True)
                self._rollback_quietly()
                outcome = FileOutcome(
                    delivery.name,
                    contract.feed,
                    store.REJECTED,
                    sha,
                    delivery.period,
                    reason=f"the file could not be processed ({type(exc).__name__})",
                )
                self._write_ledger(outcome, delivery, contract, delivery.path, uuid.uuid4().hex)
                return outcome
        finally:
            self._replaces = None

    def _mark_replay(self, outcome: FileOutcome, load_id: str) -> None:
        """The ledger's side of a replay, in the replay's own transaction."""
        replaces = self._replaces
        if outcome.status == store.LOADED:
            # _replace_period marked the replaced load superseded: it is not a partner's
            # correction (health would count two versions), so say what happened
            self.con.execute(
                "UPDATE meta.file_ledger SET status = ?, reason = ? WHERE load_id = ?",
                [store.REPLAYED, f"replaced by its replay, load_id {load_id}", replaces],
            )
            # the deliveries the replaced load had superseded now sit under the replay,
            # so withdrawing the replay restores the one before, as it would have
            self.con.execute(
                "UPDATE meta.file_ledger SET superseded_by = ? "
                "WHERE superseded_by = ? AND status = 'superseded'",
                [load_id, replaces],
            )
        elif outcome.status == store.REJECTED:
            outcome.status = store.REPLAY_FAILED
            outcome.reason = (
                f"{outcome.reason}; not replayed: the delivery in force (load_id {replaces}) "
                "keeps its rows"
            )

    def _add_warning(self, outcome: FileOutcome, note: str) -> None:
        """A warning learnt after the ledger line was written: add it to both."""
        self.con.execute(
            "UPDATE meta.file_ledger SET warnings = list_append(warnings, ?) WHERE load_id = ?",
            [note, outcome.load_id],
        )
        outcome.warnings.append(note)

    # -- steps ------------------------------------------------------------------
    def _apply(
        self, delivery: Delivery, contract: FeedContract, sha: str, archived: Path
    ) -> FileOutcome:
        periods = contract.periods_in(delivery.name)
        period = periods[0] if len(periods) == 1 else None
        current = self.con.execute(
            "SELECT original_name, loaded_at FROM meta.file_ledger WHERE feed = ? "
            "AND sha256 = ? AND status = 'loaded' AND (period IS NOT DISTINCT FROM ? OR ?) "
            "LIMIT 1",
            # whose rows say their periods, the same bytes hold the same periods
            [contract.feed, sha, period, contract.periods_from_rows],
        ).fetchone()
        if current:
            # the same bytes as the delivery now in force for this period: nothing to do.
            # The same bytes as a superseded, withdrawn or rejected delivery are applied
            # again below: that is how a partner undoes a bad correction, or how a file
            # rejected before a contract fix gets in.
            outcome = FileOutcome(
                delivery.name,
                contract.feed,
                store.DUPLICATE,
                sha,
                period,
                reason=(
                    f"identical to {current[0]!r} received {current[1]:%Y-%m-%d %H:%M}, the "
                    "delivery in force for this period; nothing changed"
                ),
            )
            self._write_ledger(outcome, delivery, contract, archived, uuid.uuid4().hex)
            return outcome
        outcome = self._load(delivery, contract, sha, archived, periods)
        earlier = self.con.execute(
            "SELECT original_name, status, loaded_at FROM meta.file_ledger WHERE feed = ? "
            "AND sha256 = ? AND load_id <> ? AND status IN ('superseded', 'rejected', "
            "'withdrawn') ORDER BY loaded_at DESC LIMIT 1",
            [contract.feed, sha, outcome.load_id],
        ).fetchone()
        if earlier and outcome.status == store.LOADED:
            note = (
                f"the same file was received before as {earlier[0]!r} ({earlier[1]} on "
                f"{earlier[2]:%Y-%m-%d}); applied again as the delivery in force"
            )
            self._add_warning(outcome, note)
        return outcome

    def _period_problem(self, contract: FeedContract, name: str, periods: list[str]) -> str | None:
        """Why the file's period cannot be trusted, or None."""
        if not periods:
            return (
                "the file name does not say which period it covers; expected a name "
                f"matching {contract.period.from_filename!r}: rename it and resend"
            )
        if len(periods) > 1:
            return (
                f"the file name states several periods ({', '.join(periods)}); rename it so "
                "that it names only the period it covers, and resend"
            )
        period, grain = periods[0], contract.period.grain
        start = period_start(period, grain)
        if start is None:
            return None  # a snapshot
        rules = self.city.settings.ingestion
        if start.year < rules.earliest_year:
            return (
                f"quarantined: period {period} lies before {rules.earliest_year}, which is not "
                "plausible; check the file name and resend"
            )
        today = as_of()
        if start > today + dt.timedelta(days=rules.future_tolerance_days):
            return (
                f"quarantined: period {period} has not started yet (today is {today}); "
                "check the file name and resend. Nothing was loaded"
            )
        return None

    def _load(
        self,
        delivery: Delivery,
        contract: FeedContract,
        sha: str,
        archived: Path,
        periods: list[str],
    ) -> FileOutcome:
        load_id = uuid.uuid4().hex
        outcome = FileOutcome(
            delivery.name,
            contract.feed,
            store.LOADED,
            sha,
            periods[0] if len(periods) == 1 else None,
            load_id=load_id,
        )
        limits = self.city.settings.ingestion
        with (
            tempfile.TemporaryDirectory(prefix="cim-ingest-") as workdir,
            contextlib.ExitStack() as decrypted,
        ):
            try:
                if contract.periods_from_rows:
                    pass  # each row's period is checked with the row, see plan_checks
                elif problem := self._period_problem(contract, delivery.name, periods):
                    raise UnreadableFile(problem)
                parsed = read_delivery(
                    self.con,
                    contract,
                    # an encrypted copy is decrypted to a private file for the time it is read
                    decrypted.enter_context(readable(archived, self.paths)),
                    Path(workdir),
                    int(limits.max_unpacked_mb * 1024 * 1024),
                )
                self.last_read = parsed
                plan = plan_checks(
                    contract,
                    parsed.headers,
                    self.area_codes,
                    self.key,
                    limits.earliest_year,
                    as_of() + dt.timedelta(days=limits.future_tolerance_days),
                )
                self.con.execute(plan.sql, plan.params)
                if self._replaces is not None and contract.periods_from_rows:
                    self._keep_held_periods(contract, self._replaces, plan.warnings)
            except (UnreadableFile, UnicodeError, OSError, ArchiveKeyError) as exc:
                outcome.status = store.REJECTED
                outcome.reason = (
                    _first_line(exc)
                    if isinstance(exc, UnreadableFile | ArchiveKeyError)
                    else (f"the file could not be read ({_os_reason(exc)})")
                )
                if records := getattr(exc, "records", None):
                    outcome.rows_read = outcome.rows_rejected = records
                self._write_ledger(outcome, delivery, contract, archived, load_id)
                self.report(
                    f"{contract.feed}: file {delivery.name!r} rejected whole: {outcome.reason}"
                )
                return outcome
        outcome.warnings = [
            *parsed.warnings,
            *plan.warnings,
            *self._dates_outside(contract, outcome),
        ]
        outcome.rows_accepted, outcome.rows_rejected, summary_rows = self.con.execute(
            "SELECT count(*) FILTER (len(_errors) = 0), count(*) FILTER (len(_errors) > 0), "
            "count(*) FILTER (_errors[1] LIKE 'summary row %') FROM checked"
        ).fetchone()
        outcome.rows_rejected += parsed.broken_rows
        outcome.rows_read = parsed.rows + parsed.broken_rows
        if contract.periods_from_rows:
            self._periods_of_rows(outcome)
        self._rows_by_level(contract, outcome)
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
            self.report(f"{contract.feed}: file {delivery.name!r}: {warning}")
        return outcome

    def _keep_held_periods(self, contract: FeedContract, replaces: str, warnings: list) -> None:
        """A replay of a file that covers several periods touches only the periods the
        replaced load still holds, or that no load holds any more (after a withdrawal): a
        later correction of one of them stays in force."""
        table = store.raw_table(contract.feed)
        others = [
            p
            for (p,) in self.con.execute(
                f"SELECT DISTINCT _period FROM {table} WHERE _load_id <> ?", [replaces]
            ).fetchall()
        ]
        later = self.con.execute(
            "SELECT list(DISTINCT _period_value ORDER BY _period_value) FROM checked "
            "WHERE _period_value IS NOT NULL AND list_contains(?, _period_value)",
            [others],
        ).fetchone()[0]
        if later:
            self.con.execute(
                "DELETE FROM checked WHERE _period_value IS NOT NULL "
                "AND list_contains(?, _period_value)",
                [others],
            )
            warnings.append(
                f"rows of {', '.join(later)} were not replayed: a later delivery is in force "
                "for those periods"
            )

    def _periods_of_rows(self, outcome: FileOutcome) -> None:
        """The periods the file's rows say, with each period's accepted and rejected rows."""
        rows = self.con.execute(
            "SELECT _period_value, count(*) FILTER (len(_errors) = 0), "
            "count(*) FILTER (len(_errors) > 0) FROM checked "
            "WHERE _period_value IS NOT NULL GROUP BY ALL ORDER BY 1"
        ).fetchall()
        outcome.period_rows = [
            {"period": p, "rows_accepted": a, "rows_rejected": r} for p, a, r in rows
        ]
        outcome.periods = [p for p, accepted, _ in rows if accepted]
        outcome.period = outcome.periods[0] if len(outcome.periods) == 1 else None

    def _rows_by_level(self, contract: FeedContract, outcome: FileOutcome) -> None:
        """How many accepted rows each area column placed at each level: its own for a
        known code, a coarser one for a placed pseudo-code, the top level for a blank."""
        top = self.city.settings.area_levels[-1]
        for column in contract.stored_columns:
            if column.type != "area_code":
                continue
            counts: dict[str, int] = {}
            for code, rows in self.con.execute(
                f"SELECT {store.quote_ident(column.name)}, count(*) FROM checked "
                "WHERE len(_errors) = 0 GROUP BY ALL"
            ).fetchall():
                level = self.level_of.get(code, top) if code is not None else top
                counts[level] = counts.get(level, 0) + rows
            levels = self.city.settings.area_levels
            outcome.rows_by_level += [
                {"area_column": column.name, "area_level": level, "row_count": counts[level]}
                for level in levels
                if level in counts
            ]

    def _dates_outside(self, contract: FeedContract, outcome: FileOutcome) -> list[str]:
        """Rows whose period date lies outside the delivered period, as one warning."""
        column, grain = contract.period.date_column, contract.period.grain
        start, end = period_start(outcome.period, grain), period_end(outcome.period, grain)
        if column is None or start is None or end is None:
            return []
        name = store.quote_ident(column)
        outside, first = self.con.execute(
            f"SELECT count(*), min(_row_number) FROM checked WHERE len(_errors) = 0 "
            f"AND ({name} < ? OR {name} >= ?)",
            [start, end],
        ).fetchone()
        if not outside:
            return []
        return [
            f"{outside} row(s) have {column} outside the period {outcome.period} (first on row "
            f"{first}); loaded under {outcome.period} as delivered: check with the partner"
        ]

    def _rollback_quietly(self) -> None:
        with contextlib.suppress(duckdb.Error):  # no transaction was open
            self.con.execute("ROLLBACK")

    def _replace_period(
        self, contract: FeedContract, outcome: FileOutcome, columns: list[str], load_id: str
    ) -> None:
        """A delivery replaces the rows of each period it holds (the file name's period, or
        those its rows say); older versions stay archived.

        An earlier delivery all of whose periods this one replaces is superseded; one that
        keeps some periods (a multi-year file, one year of it corrected) stays in force for
        them, and health counts a second version of each period replaced.
        """
        table = store.raw_table(contract.feed)
        from_rows = contract.periods_from_rows
        held = outcome.periods if from_rows else [outcome.period]
        self.con.execute(f"DELETE FROM {table} WHERE list_contains(?, _period)", [held])
        self.con.execute(
            "UPDATE meta.file_ledger SET status = 'superseded', superseded_by = ? "
            "WHERE feed = ? AND status = 'loaded' "
            "AND list_has_all(?, coalesce(periods, [period]))",
            [load_id, contract.feed, held],
        )
        names = ", ".join([*columns, "_period", "_file_sha256", "_row_number", "_load_id"])
        period = "_period_value" if from_rows else "$period"
        self.con.execute(
            f"INSERT INTO {table} ({names}) SELECT {', '.join(columns)}, {period}, $sha, "
            "_row_number, $load_id FROM checked WHERE len(_errors) = 0",
            {"sha": outcome.sha256, "load_id": load_id}
            | ({} if from_rows else {"period": outcome.period}),
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
        moved = f"{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}-{short_name(delivery.name)}"
        target = refused_dir / moved
        try:
            os.replace(delivery.path, target)
            where = f"moved to refused/{moved}"
        except OSError as exc:
            where = (
                f"could not be moved aside ({_os_reason(exc)}): remove it from the landing folder"
            )
        contract = self.city.contract_by_feed.get(delivery.feed or "")
        outcome = FileOutcome(
            delivery.name, delivery.feed, store.REFUSED, period=delivery.period, reason=reason
        )
        self._write_ledger(outcome, delivery, contract, target, uuid.uuid4().hex)
        self.report(f"file {delivery.name!r} refused: {reason} ({where})")
        return outcome

    def _write_ledger(
        self,
        outcome: FileOutcome,
        delivery: Delivery,
        contract: FeedContract | None,
        archived: Path,
        load_id: str,
    ) -> None:
        if self._replaces is not None:
            self._mark_replay(outcome, load_id)
        # what the ledger says is also what the run log and the asset metadata repeat
        outcome.reason = scrub(outcome.reason, self.paths)
        outcome.warnings = [scrub(w, self.paths) or "" for w in outcome.warnings]
        self.con.execute(
            "INSERT INTO meta.file_ledger (load_id, sha256, partner, feed, original_name, "
            "size_bytes, "
            "received_at, loaded_at, run_id, period, rows_read, rows_accepted, rows_rejected, "
            "status, reason, warnings, archive_path, replay_of, periods, period_rows, "
            "rows_by_level) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                self._replaces,
                outcome.periods or ([outcome.period] if outcome.period else None),
                outcome.period_rows or None,
                outcome.rows_by_level or None,
            ],
        )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _os_reason(exc: OSError) -> str:
    """An operating-system error without the path it names (paths are server internals)."""
    return exc.strerror or type(exc).__name__


_TEMP = re.compile(r"/[^\s'\"]*cim-ingest-[^\s'\"]*")


def scrub(text: str | None, paths: Paths) -> str | None:
    """A message fit for the ledger: no server paths (the deployment folder, temp files)."""
    if text is None:
        return None
    text = text.replace(str(paths.home), "CIM_HOME")
    return _TEMP.sub("<file>", text)


def _remove_if_unchanged(delivery: Delivery) -> None:
    """Take the file out of the landing folder, unless a new upload replaced it meanwhile."""
    try:
        st = os.stat(delivery.path, follow_symlinks=False)
    except OSError:
        return
    if signature_of(st) == delivery.signature:
        delivery.path.unlink(missing_ok=True)


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
