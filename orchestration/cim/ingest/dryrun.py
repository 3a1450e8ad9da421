"""A partner's upload, tried before it is sent: what the pipeline would do with the file.

``dry_run`` puts the bytes through the real inbox scan, readers, checks and loader
(``FeedRunner``) in a scratch deployment (``CIM_HOME/.scratch/<uuid>``, its own DuckDB,
archive and ledger), seeded with the feed's lines of the published ledger so that the
engine itself says whether the file duplicates or replaces an earlier delivery. The
scratch folder is removed afterwards: the warehouse, landing folder, archive and ledger
are never written. ``submit`` then places an accepted file in the landing folder
atomically, for the next run to take.

Reasons are the engine's own strings; the few said only here have ``reason.*`` templates
in app/i18n, like the engine's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cim.city import City, FeedContract
from cim.ingest import store
from cim.ingest.files import (
    match_feed,
    name_refusal,
    not_a_delivery,
    scan_landing,
    short_name,
)
from cim.ingest.loader import FeedRunner, FileOutcome
from cim.ingest.rules import PERSONAL_MASK, match_headers, shown_header
from cim.publish.reader import connect_published
from cim.publish.snapshot import LEDGER_COLUMNS, fsync
from cim.settings import Paths

WOULD_LOAD = "would load"
WOULD_LOAD_WITH_REJECTS = "would load with rejected rows"
WOULD_BE_REJECTED = "would be rejected"
REFUSED = "refused"
# the same bytes are the delivery in force for the period: the run would change nothing
ALREADY_LOADED = "already loaded"
VERDICTS = (WOULD_LOAD, WOULD_LOAD_WITH_REJECTS, WOULD_BE_REJECTED, REFUSED, ALREADY_LOADED)

EXAMPLES_PER_REASON = 5
# a file with thousands of distinct bad values says enough with its commonest reasons
MAX_REASONS = 50
SCRATCH = ".scratch"
# a scratch folder older than this was left by a killed dry run (no dry run takes this long)
STALE_SCRATCH_SECONDS = 600
# submit's temporary name: hidden and ``.partial``, so the inbox never takes it half-written
_UPLOADING = ".upload-{}.partial"


class UnknownPartner(ValueError):
    """The partner id is not in partners.yaml, or sends no feed."""


@dataclass(frozen=True)
class Example:
    """One rejected row, as the partner can find it in the file: never a personal value."""

    row_number: int | None
    column: str | None
    reason: str
    # the row's contract fields by the partner's header texts; personal ones masked and
    # fields outside the contract left out (they may hold anything)
    values: dict[str, str | None] | None = None
    # a line that could not be split into fields: its text, or why it is withheld
    text: str | None = None


@dataclass(frozen=True)
class RowReason:
    reason: str
    rows: int
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class Columns:
    """The file's header against the contract, in the partner's source names."""

    recognised: bool  # False: no header text is a contract column (a data line?)
    missing: tuple[str, ...]
    missing_optional: tuple[str, ...]
    extra: tuple[str, ...]
    # (contract source name, the file's header it was most likely renamed to)
    renamed: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Replaced:
    """An earlier delivery of the feed that this file would replace."""

    original_name: str
    received_at: str | None
    periods: tuple[str, ...]
    whole: bool  # every period of it is replaced (it becomes superseded)


@dataclass(frozen=True)
class DryRun:
    file: str
    partner: str
    verdict: str
    sha256: str
    size_bytes: int
    feed: str | None = None
    # refused at the door (inbox): the file would not even be read
    refusal: str | None = None
    # the whole file would be rejected (unreadable, wrong encoding or delimiter, no
    # valid row) or nothing would change (already loaded): the engine's reason
    reason: str | None = None
    columns: Columns | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    row_reasons: tuple[RowReason, ...] = ()
    more_reasons: int = 0  # distinct reasons past MAX_REASONS, not listed
    period: str | None = None
    # a file whose rows say their period: each period with its accepted/rejected rows
    period_rows: tuple[dict, ...] = ()
    replaces: tuple[Replaced, ...] = ()
    duplicate_of: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Submitted:
    """What ``submit`` did: the name in the landing folder, or why nothing was written."""

    written: bool
    sha256: str
    landing_name: str | None
    verdict: str
    reason: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _partner_contracts(city: City, partner_id: str) -> list[FeedContract]:
    if partner_id not in city.partner_by_id:
        raise UnknownPartner(
            f"partner {partner_id!r} is not in partners.yaml; known: {sorted(city.partner_by_id)}"
        )
    own = [c for c in city.contracts if c.partner == partner_id]
    if not own:
        raise UnknownPartner(f"partner {partner_id!r} has no feed contract in feeds/")
    return own


def _not_this_partners(city: City, own: list[FeedContract], name: str) -> str | None:
    """Why a name is not one of this partner's feeds, naming the partner's own patterns."""
    if match_feed(name, own):
        return None
    patterns = ", ".join(sorted(c.file_pattern for c in own))
    others = [c for c in city.contracts if c not in own]
    if other := match_feed(name, others):
        contract = city.contract_by_feed[other[0]]
        return (
            f"the file name matches feed {contract.feed} of partner {contract.partner}, not a "
            f"feed of yours; expected one of: {patterns}"
        )
    # the inbox's own words, with this partner's patterns only
    return f"file name matches no feed contract; expected one of: {patterns}"


def dry_run(city: City, paths: Paths, data: bytes, original_name: str, partner_id: str) -> DryRun:
    """What the pipeline would do with ``data`` delivered as ``original_name`` by the
    partner, found by running the real engine on a scratch copy; commits nothing."""
    started = time.perf_counter()
    own = _partner_contracts(city, partner_id)
    facts = {
        "file": original_name,
        "partner": partner_id,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
    }
    refusal = name_refusal(original_name) or _not_this_partners(city, own, original_name)
    if refusal:
        return DryRun(verdict=REFUSED, refusal=refusal, seconds=_since(started), **facts)
    scratch_root = paths.home / SCRATCH
    _remove_stale(scratch_root)
    scratch = Paths(scratch_root / uuid.uuid4().hex)
    try:
        scratch.ensure()
        (scratch.landing / original_name).write_bytes(data)
        con = duckdb.connect(str(scratch.warehouse))
        try:
            # the real engine, pointed at the scratch deployment; its messages are the
            # pipeline's run log, not the partner's: the report says them
            runner = FeedRunner(con, city, scratch, run_id="dry-run", report=lambda _text: None)
            [delivery] = scan_landing(scratch.landing, city, settle=0)
            if delivery.feed:
                _seed_ledger(con, paths, delivery.feed)
            outcome = runner.ingest_one(delivery)
            found = _findings(con, runner, city, outcome)
        finally:
            con.close()
    finally:
        shutil.rmtree(scratch.home, ignore_errors=True)
        _remove_if_empty(scratch_root)
    return DryRun(**facts, **found, seconds=_since(started))


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _remove_stale(scratch_root: Path) -> None:
    """Scratch folders a killed dry run left: they hold a partner's file, personal data
    included, which must not outlive the dry run."""
    if not scratch_root.is_dir():
        return
    for folder in scratch_root.iterdir():
        with contextlib.suppress(OSError):
            if time.time() - folder.lstat().st_mtime > STALE_SCRATCH_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # another dry run is using it, or it was never made
        folder.rmdir()


def _seed_ledger(con: duckdb.DuckDBPyConnection, paths: Paths, feed: str) -> None:
    """The feed's lines of the published ledger, copied into the scratch ledger.

    The warehouse is locked by a running pipeline, so the served snapshot is what can be
    read; the engine then finds duplicates and the deliveries it replaces itself.
    """
    with connect_published(paths) as published:
        if published is None:
            return
        try:
            lines = published.sql(
                f"SELECT {LEDGER_COLUMNS} FROM meta.file_ledger WHERE feed = ?", params=[feed]
            ).to_arrow_table()
        except duckdb.CatalogException:
            return  # a snapshot from before the ledger was published
    con.register("published_ledger", lines)
    con.execute(
        f"INSERT INTO meta.file_ledger ({LEDGER_COLUMNS}) "
        f"SELECT {LEDGER_COLUMNS} FROM published_ledger"
    )
    con.unregister("published_ledger")


def _findings(
    con: duckdb.DuckDBPyConnection, runner: FeedRunner, city: City, outcome: FileOutcome
) -> dict:
    """The report's fields from the engine's outcome and what it left in the scratch
    database (the ``checked`` and ``incoming`` tables, the scratch ledger)."""
    found: dict = {"feed": outcome.feed, "period": outcome.period}
    if outcome.status == store.REFUSED:
        return found | {"verdict": REFUSED, "refusal": outcome.reason}
    contract = city.contract_by_feed[outcome.feed]
    found |= {
        "rows_read": outcome.rows_read,
        "rows_accepted": outcome.rows_accepted,
        "rows_rejected": outcome.rows_rejected,
        "period_rows": tuple(outcome.period_rows),
        "warnings": tuple(outcome.warnings),
    }
    if runner.last_read is not None:
        found["columns"] = _columns(contract, runner.last_read.headers)
    if outcome.status == store.DUPLICATE:
        (name,) = con.execute(
            "SELECT original_name FROM meta.file_ledger WHERE feed = ? AND sha256 = ? "
            "AND status = 'loaded' LIMIT 1",
            [outcome.feed, outcome.sha256],
        ).fetchone()
        return found | {"verdict": ALREADY_LOADED, "reason": outcome.reason, "duplicate_of": name}
    skipped = 0
    if _has_table(con, "checked"):
        reasons, more, skipped = _row_reasons(con, contract, runner.last_read.headers)
        found |= {"row_reasons": reasons, "more_reasons": more}
    if outcome.status == store.REJECTED:
        return found | {"verdict": WOULD_BE_REJECTED, "reason": outcome.reason}
    found["replaces"] = _replaced(con, outcome)
    # a skipped summary row ("Totaal") is no news, as in the pipeline's own report
    with_rejects = outcome.rows_rejected > skipped
    return found | {"verdict": WOULD_LOAD_WITH_REJECTS if with_rejects else WOULD_LOAD}


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [name]
        ).fetchone()[0]
    )


def _columns(contract: FeedContract, headers: list[str]) -> Columns:
    match = match_headers(contract, headers)
    missing = tuple(c.header for c in match.missing)
    if not match.mapping:
        # the "header" is most likely a data line: its texts may be personal, never shown
        return Columns(False, missing, (), (), ())
    return Columns(
        recognised=True,
        missing=missing,
        missing_optional=tuple(c.header for c in match.missing_optional),
        extra=tuple(shown_header(h) for _, h in match.extra),
        renamed=tuple(
            (c.header, shown_header(hint)) for c in match.missing if (hint := match.renamed_to(c))
        ),
    )


def _row_reasons(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, headers: list[str]
) -> tuple[tuple[RowReason, ...], int, int]:
    """Each reason rows were rejected for, with its count and first rows, most common
    first; the reasons not listed; and the summary rows the contract skips."""
    groups = con.execute(
        "SELECT reason, count(*), list({'row': _row_number, 'column': _error_column} "
        "ORDER BY _row_number)"
        f"[1:{EXAMPLES_PER_REASON}] FROM (SELECT _row_number, _error_column, "
        "unnest(_errors) AS reason FROM checked WHERE len(_errors) > 0) "
        "GROUP BY reason ORDER BY count(*) DESC, reason"
    ).fetchall()
    # broken lines as the engine keeps them in meta.rejected_rows: the text of a line of
    # a feed with personal columns is withheld there
    broken = con.execute(
        "SELECT reason, count(*), list({'row': row_number, 'text': row_text} "
        f"ORDER BY row_number)[1:{EXAMPLES_PER_REASON}] FROM meta.rejected_rows "
        "WHERE column_name IS NULL GROUP BY reason ORDER BY count(*) DESC, reason"
    ).fetchall()
    (skipped,) = con.execute(
        "SELECT count(*) FILTER (_errors[1] LIKE 'summary row %') FROM checked"
    ).fetchone()
    values = _example_values(con, contract, headers, {f["row"] for g in groups for f in g[2]})
    reasons = [
        RowReason(
            reason,
            rows,
            tuple(Example(f["row"], f["column"], reason, values.get(f["row"])) for f in firsts),
        )
        for reason, rows, firsts in groups
    ] + [
        RowReason(
            reason, rows, tuple(Example(f["row"], None, reason, text=f["text"]) for f in firsts)
        )
        for reason, rows, firsts in broken
    ]
    reasons.sort(key=lambda r: -r.rows)
    return tuple(reasons[:MAX_REASONS]), max(len(reasons) - MAX_REASONS, 0), skipped


def _example_values(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, headers: list[str], rows: set[int]
) -> dict[int, dict[str, str | None]]:
    """The example rows' contract fields as delivered, personal values masked."""
    if not rows:
        return {}
    mapping = match_headers(contract, headers).mapping
    shown = [(c, mapping[c.name]) for c in contract.columns if c.name in mapping]
    fields = ", ".join(
        f"'{PERSONAL_MASK}'" if column.personal else f"column{index}" for column, index in shown
    )
    found = con.execute(
        f"SELECT _row_number, {fields} FROM incoming WHERE list_contains(?, _row_number)",
        [sorted(rows)],
    ).fetchall()
    return {
        row[0]: {shown_header(headers[i]): v for (_, i), v in zip(shown, row[1:], strict=True)}
        for row in found
    }


def _replaced(con: duckdb.DuckDBPyConnection, outcome: FileOutcome) -> tuple[Replaced, ...]:
    """Deliveries of the feed whose periods this one would replace: the engine marked
    those it replaces whole as superseded by it; those it replaces in part stay loaded."""
    held = outcome.periods or [outcome.period]
    lines = con.execute(
        "SELECT original_name, received_at, coalesce(periods, [period]), "
        "status = 'superseded' FROM meta.file_ledger WHERE feed = ? AND load_id <> ? "
        "AND (superseded_by = ? OR (status = 'loaded' "
        "AND list_has_any(coalesce(periods, [period]), ?))) ORDER BY received_at",
        [outcome.feed, outcome.load_id, outcome.load_id, held],
    ).fetchall()
    return tuple(
        Replaced(name, _iso(received), tuple(periods or ()), whole)
        for name, received, periods, whole in lines
    )


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _waiting_copy(landing: Path, data: bytes, sha256: str) -> str | None:
    """The name of a file in the landing folder holding these bytes, if any."""
    for entry in sorted(landing.iterdir()):
        if not_a_delivery(entry.name) or not entry.is_file() or entry.is_symlink():
            continue
        try:
            if entry.stat().st_size == len(data) and _sha256_of(entry) == sha256:
                return entry.name
        except OSError:
            continue  # taken by a run meanwhile
    return None


def _free_name(landing: Path, name: str, city: City, contract: FeedContract) -> str | None:
    """``name``, or a numbered variant, that no landing file has and that still names the
    same feed and period; None when no variant keeps them."""
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot else (name, "")
    periods = contract.periods_in(name)
    variants = [name] + [
        f"{stem}{form.format(n)}{suffix}" for form in (" ({})", "_{}") for n in range(1, 100)
    ]
    for candidate in variants:
        keeps = match_feed(candidate, city.contracts) == [contract.feed]
        if (
            keeps
            and name_refusal(candidate) is None
            and contract.periods_in(candidate) == periods
            and not os.path.lexists(landing / candidate)
        ):
            return candidate
    return None


def submit(city: City, paths: Paths, data: bytes, original_name: str, partner_id: str) -> Submitted:
    """Put the file in the landing folder for the next run, after the same checks as the
    dry run: a file the run would refuse or reject whole, or that is already loaded or
    already waiting in the landing folder, is not written (``reason`` says why)."""
    report = dry_run(city, paths, data, original_name, partner_id)
    not_written = {"written": False, "sha256": report.sha256, "verdict": report.verdict}
    if report.verdict in (REFUSED, WOULD_BE_REJECTED, ALREADY_LOADED):
        return Submitted(landing_name=None, reason=report.refusal or report.reason, **not_written)
    paths.landing.mkdir(parents=True, exist_ok=True)
    if waiting := _waiting_copy(paths.landing, data, report.sha256):
        return Submitted(
            landing_name=waiting,
            reason=(
                f"the same file is already in the landing folder as {waiting!r}; the next "
                "run takes it"
            ),
            **not_written,
        )
    contract = city.contract_by_feed[report.feed]
    name = _free_name(paths.landing, short_name(original_name), city, contract)
    if name is None:
        return Submitted(
            landing_name=None,
            reason=(
                f"the landing folder already holds files named like {original_name!r}; wait for "
                "the next run to take them and send it again"
            ),
            **not_written,
        )
    partial = paths.landing / _UPLOADING.format(uuid.uuid4().hex)
    try:
        with partial.open("xb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        # a rename within the folder: a run sees the whole file under its name, or nothing
        os.replace(partial, paths.landing / name)
    finally:
        partial.unlink(missing_ok=True)
    fsync(paths.landing)
    return Submitted(True, report.sha256, name, report.verdict)
