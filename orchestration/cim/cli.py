"""Command line for data engineers: ``cim pipeline``, ``cim ledger``, ``cim health``...

Each command reads CIM_HOME and CIM_CITY from the environment, like Dagster does.
Exit codes: 0 done, 1 a run or a rollback failed, 2 a problem to fix first (configuration,
a read-only CIM_HOME, a full disk), 3 another pipeline run holds CIM_HOME.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

from cim import runlock, settings
from cim.city import ConfigError, load_city
from cim.impact import cli as impact_cli
from cim.publish import (
    RollbackError,
    connect_published,
    current_manifest,
    list_snapshots,
    record_blocked,
    remove_leftovers,
    rollback,
)

DAGSTER_YAML = """# Written by `cim init`: runs, schedules and sensors of this deployment.
telemetry:
  enabled: false
"""


EXIT_FAILED, EXIT_SETUP, EXIT_BUSY = 1, 2, 3
MIN_FREE_MB = 50  # a run refuses to start with less free space (CIM_MIN_FREE_MB)
READER_WAIT = "while a pipeline run writes the warehouse, wait this long for it (default 0)"


class SetupError(RuntimeError):
    """Something to fix before the command can run; the message says what."""


def _own_dagster_home(paths: settings.Paths) -> Path:
    dagster_home = paths.home / "dagster"
    dagster_home.mkdir(exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return dagster_home


def _dagster_home(paths: settings.Paths) -> Path:
    """DAGSTER_HOME as set, or (unset) CIM_HOME/dagster set up like `cim init` does."""
    configured = os.environ.get("DAGSTER_HOME")
    if not configured:
        dagster_home = _own_dagster_home(paths)
        print(f"DAGSTER_HOME is not set: using {dagster_home} (as make does)", file=sys.stderr)
    else:
        dagster_home = Path(configured).expanduser().resolve()
        if not dagster_home.is_dir():
            raise SetupError(
                f"DAGSTER_HOME={configured} is not a folder: create it (mkdir -p "
                f"{dagster_home}), or unset DAGSTER_HOME to keep Dagster's runs in "
                f"{paths.home / 'dagster'}"
            )
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def _init(_: argparse.Namespace) -> int:
    """Create CIM_HOME's folders and a Dagster home with telemetry off."""
    paths = settings.paths()
    print(f"CIM_HOME={paths.home}\nDAGSTER_HOME={_own_dagster_home(paths)}")
    return 0


def _check_config(_: argparse.Namespace) -> int:
    """Everything the city folder holds, each mistake named with file, key and fix;
    warnings (a file nothing reads, areas without a boundary) do not fail the check."""
    from cim.city.folder import check_folder
    from cim.quality.suites import check_suite_files

    city = load_city(settings.city_dir())
    report = check_folder(city)
    errors = report.errors + check_suite_files(city)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in errors:
        print(f"configuration error: {error}", file=sys.stderr)
    if errors:
        return EXIT_SETUP
    print(
        f"{city.settings.name}: {len(city.areas)} areas, {len(city.partners)} partners, "
        f"{len(city.contracts)} feeds ({', '.join(c.feed for c in city.contracts)}), "
        f"{len(city.agenda.indicators)} indicators: OK"
    )
    return 0


def _new_city(args: argparse.Namespace) -> int:
    """Write the template city into a new or empty folder."""
    from cim.city.newcity import NewCityError, write_city

    try:
        written = write_city(Path(args.folder), args.name)
    except NewCityError as exc:
        raise SetupError(str(exc)) from exc
    folder = Path(args.folder)
    print(f"new city in {folder}: {len(written)} files")
    for path in written:
        print(f"  {path.relative_to(folder)}")
    print(
        f"next: replace the example areas, partner, feed and indicator with yours, then\n"
        f"  CIM_CITY={folder} cim check-config\n"
        "README.md (Onboarding a new city) and docs/configuration.md say what each file holds"
    )
    return 0


def _check_free_space(paths: settings.Paths) -> None:
    """Refuse to start on a (nearly) full disk rather than fail half-way."""
    need = float(os.environ.get("CIM_MIN_FREE_MB", MIN_FREE_MB))
    for folder in (paths.home, paths.published):
        free = shutil.disk_usage(folder).free / 2**20
        if free < need:
            raise runlock.DiskFull(
                folder,
                f"starting a run: {free:.1f} MB free, a run needs at least {need:.0f} MB "
                "(CIM_MIN_FREE_MB)",
            )


def _failure_reasons(result) -> list[str]:
    """Each failed step with the first line of its error, or why the run failed."""
    reasons = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            error = data.user_failure_data.description if data.user_failure_data else None
            cause = data.error
            while cause is not None and cause.cause is not None:
                cause = cause.cause  # the user's own error, not Dagster's wrapper
            error = error or (cause.message if cause else "")
            first = error.strip().splitlines()[0] if error and error.strip() else "?"
            reasons.append(f"step failed: {event.step_key}: {first}")
    if not reasons:
        reasons = [f"run failed: {e.message}" for e in result.all_events if e.is_run_failure]
    return reasons


def _pipeline(args: argparse.Namespace) -> int:
    """Run the pipeline once, in this process, recorded in the Dagster instance: only
    what changed since the served snapshot and what depends on it, unless ``--full``."""
    paths = settings.paths()
    run_id = str(uuid.uuid4())
    with runlock.writer(
        paths,
        run_id=run_id,
        wait=args.wait,
        command="cim pipeline",
        on_wait=lambda message: print(message, flush=True),
        remedy="Wait for it to finish (make dev shows it in the Dagster UI) and run again, "
        "or pass --wait SECONDS (CIM_LOCK_WAIT) to wait longer.",
    ):
        manifest = current_manifest(paths) or {}
        plan = None if args.full or args.job != "pipeline" else _plan(paths, manifest)
        if plan is not None:
            served = manifest.get("snapshot_id")
            if plan.nothing:
                print(
                    f"nothing new since snapshot {served} (served): no file landed, no "
                    "delivery changed, same code, configuration and judgement day; nothing "
                    "ran (`cim pipeline --full` rebuilds everything anyway)"
                )
                return 0
            scope = "everything" if plan.full else "what changed and what depends on it"
            print(f"building {scope}: {'; '.join(plan.reasons)}", flush=True)
        _before_run(paths)
        result = _execute_job(args.job, run_id, args.log_level, plan)
        _print_ledger(since_run=result.run_id)
    return _run_verdict(paths, result)


def _plan(paths: settings.Paths, manifest: dict):
    """What changed since the served snapshot (its ``manifest``; cim.publish.changes);
    read under the writer lock, so no run changes the warehouse meanwhile."""
    from cim.publish.changes import plan_from_warehouse

    return plan_from_warehouse(paths, load_city(settings.city_dir()), settings.as_of(), manifest)


def _before_run(paths: settings.Paths) -> None:
    """What a run does first, under the writer lock: room on the disk, a Dagster home."""
    # what a killed publication left may be what fills the disk: remove it first
    for path in remove_leftovers(paths):
        print(f"removed {path} (left by a failed publication)")
    _check_free_space(paths)
    _dagster_home(paths)


def _execute_job(job_name: str, run_id: str, log_level: str, plan=None):
    """One Dagster job in this process (the caller holds the writer lock); with a
    ``plan`` (cim.publish.changes), only the part of it the plan selects."""
    import dagster as dg

    from cim.definitions import defs
    from cim.defs.selection import resolve, selection_for

    definitions = defs()
    job = definitions.resolve_job_def(job_name)
    if plan is not None and not plan.full:
        assets, checks = resolve(selection_for(plan), definitions.resolve_asset_graph())
        job = job.get_subset(asset_selection=assets, asset_check_selection=checks)
    with dg.DagsterInstance.get() as instance:
        for line in runlock.fail_abandoned_runs(instance, by="cim pipeline"):
            print(line)
        return job.execute_in_process(
            instance=instance,
            run_id=run_id,
            raise_on_error=False,
            # Warnings (rejected files, schema drift) on the terminal; the rest in the UI.
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )


def _run_verdict(paths: settings.Paths, result) -> int:
    if not result.success:
        reasons = _failure_reasons(result)
        record_blocked(paths, result.run_id, reasons)
        print(
            f"run {result.run_id}: FAILED ({'; '.join(reasons)}); the previous snapshot "
            "(if any) is still served. Details: make dev, then the run in the Dagster UI"
        )
        return EXIT_FAILED
    manifest = current_manifest(paths)
    served = manifest["snapshot_id"] if manifest else "none"
    print(f"run {result.run_id}: success; served snapshot {served}")
    return 0


def _reprocess(args: argparse.Namespace) -> int:
    """Replay the deliveries in force from the archive, then run the pipeline on them."""
    import duckdb

    from cim.ingest.reprocess import ReprocessError, reprocess

    paths = settings.paths()
    city = load_city(settings.city_dir())
    # one id for the replay's ledger lines and the Dagster run that rebuilds on them,
    # so the ledger printed at the end shows both
    run_id = str(uuid.uuid4())
    with runlock.writer(
        paths,
        run_id=run_id,
        wait=args.wait,
        command="cim reprocess",
        on_wait=lambda message: print(message, flush=True),
        remedy="Wait for it to finish and run again, or pass --wait SECONDS.",
    ):
        if not paths.warehouse.exists():
            raise SetupError(
                "no warehouse yet: nothing was loaded to reprocess (run `make pipeline`)"
            )
        _before_run(paths)
        con = duckdb.connect(str(paths.warehouse))
        try:
            replays = reprocess(
                con, city, paths, args.feed, args.period, run_id=run_id, report=print
            )
        except ReprocessError as exc:
            print(f"not reprocessed: {exc}", file=sys.stderr)
            return EXIT_SETUP
        finally:
            con.close()
        for replay in replays:
            old, new = replay.replaced, replay.outcome
            where = f"{old.name} ({old.feed} {old.period or ''})"
            if replay.applied:
                print(
                    f"replayed: {where}: accepted {old.rows_accepted} -> {new.rows_accepted}, "
                    f"rejected {old.rows_rejected} -> {new.rows_rejected}"
                )
            else:
                print(f"NOT replayed: {where}: {new.reason}")
        failed = [r for r in replays if not r.applied]
        print(
            f"{len(replays) - len(failed)} of {len(replays)} deliveries replayed"
            + (f", {len(failed)} kept as they were (see above)" if failed else "")
            + "; rebuilding the mart"
        )
        result = _execute_job("pipeline", run_id, args.log_level)
        _print_ledger(since_run=run_id)
    verdict = _run_verdict(paths, result)
    if failed and verdict == 0:
        print(
            f"{len(failed)} replay(s) failed: fix what their reason says and run "
            "`cim reprocess` again for them"
        )
        return EXIT_FAILED
    return verdict


def _docs(args: argparse.Namespace) -> int:
    """dbt docs of the mart into CIM_HOME/docs/dbt, which `cim serve` serves; dbt opens
    the warehouse for writing, so it takes the lock. index.html fetches manifest.json and
    catalog.json, so it needs a server; `--static` also writes static_index.html, one
    file with both inside that opens without one."""
    import subprocess

    from cim.defs.dbt.project import DBT_DIR, DBT_EXECUTABLE

    paths = settings.paths()
    if not paths.warehouse.exists():
        raise SetupError("no warehouse yet: run `make pipeline` first")
    with runlock.writer(
        paths, wait=args.wait, command="cim docs", on_wait=lambda m: print(m, flush=True)
    ):
        project = ["--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--quiet"]
        target = ["--target-path", str(paths.dbt_docs)]
        done = subprocess.run(
            [DBT_EXECUTABLE, "docs", "generate", "--static", *project, *target],
            env=os.environ | {"CIM_WAREHOUSE": str(paths.warehouse)},
            check=False,
        )
    if done.returncode:
        return EXIT_FAILED
    print(f"dbt docs written to {paths.dbt_docs}; `make serve` serves them (see its Docs line).")
    return 0


def _prepare(_: argparse.Namespace) -> int:
    """Write the city's dbt models and parse the project, ahead of loading definitions
    (a deployment's build step; ``dagster dev`` and ``cim pipeline`` also do it when the
    manifest does not describe the city)."""
    from cim.defs.dbt.project import DBT_DIR, city_dbt_project, is_prepared

    city = load_city(settings.city_dir())
    project = city_dbt_project(city, settings.paths().warehouse)
    state = "prepared" if is_prepared(project, city) else "NOT prepared"
    print(f"dbt project {DBT_DIR} {state} for city {city.settings.id}: {project.manifest_path}")
    return 0 if state == "prepared" else EXIT_FAILED


def _withdraw(args: argparse.Namespace) -> int:
    """Take back a delivery in force; the period's previous delivery is applied again."""
    import duckdb

    from cim.ingest.withdraw import WithdrawError, withdraw

    paths = settings.paths()
    city = load_city(settings.city_dir())
    with runlock.writer(
        paths,
        wait=args.wait,
        command="cim withdraw",
        on_wait=lambda message: print(message, flush=True),
    ):
        if not paths.warehouse.exists():
            raise SetupError("no warehouse yet: nothing was ever loaded (run `make pipeline`)")
        con = duckdb.connect(str(paths.warehouse))
        try:
            done = withdraw(con, city, paths, args.delivery, args.reason, not args.no_restore)
        except WithdrawError as exc:
            print(f"not withdrawn: {exc}", file=sys.stderr)
            return EXIT_SETUP
        finally:
            con.close()
    print(
        f"withdrawn: {done.name} ({done.feed} {done.period or ''}, load_id {done.load_id}); "
        f"{done.rows_removed} rows removed"
    )
    if done.restored is not None:
        print(
            f"restored: {done.restored.name}, {done.restored.status}, "
            f"{done.restored.rows_accepted} rows"
        )
    elif done.not_restored:
        print(f"NOT restored: {done.not_restored}; the period has no data now")
    else:
        print(f"no earlier delivery of {done.period} to restore: the period has no data now")
    print("run `make pipeline` to publish the change")
    return 0


def _archive(args: argparse.Namespace) -> int:
    """Encrypt the plain archived originals of personal feeds, or purge what is past its
    retention (cim.ingest.archive, cim.ingest.retention)."""
    import duckdb

    from cim.ingest.archive import ArchiveKeyError, encrypt_archive
    from cim.ingest.retention import purge_archive

    paths = settings.paths()
    city = load_city(settings.city_dir())
    if not paths.warehouse.exists():
        raise SetupError("no warehouse yet: nothing was ever archived (run `make pipeline`)")
    verb = "would be " if args.dry_run else ""
    with runlock.writer(
        paths,
        wait=args.wait,
        command=f"cim archive {args.action}",
        on_wait=lambda message: print(message, flush=True),
    ):
        con = duckdb.connect(str(paths.warehouse))
        try:
            if args.action == "encrypt":
                try:
                    done = encrypt_archive(con, city, paths, dry_run=args.dry_run)
                except ArchiveKeyError as exc:
                    raise SetupError(str(exc)) from exc
                for item in done:
                    what = item.problem or f"{verb}encrypted as {item.encrypted.name}"
                    print(f"{item.feed}: {item.plain.name}: {what}")
                failed = sum(1 for item in done if item.problem)
                print(f"{len(done) - failed} archived original(s) {verb}encrypted")
            else:
                purged = purge_archive(con, city, paths, dry_run=args.dry_run)
                for item in purged:
                    print(f"{', '.join(item.feeds)}: {item.path.name}: {verb}purged: {item.reason}")
                print(f"{len(purged)} file(s) {verb}purged")
                failed = 0
        finally:
            con.close()
    return EXIT_FAILED if failed else 0


def _publish(args: argparse.Namespace) -> int:
    """List the kept snapshots, or serve an earlier one again."""
    paths = settings.paths()
    if args.action == "rollback":
        try:
            print(f"now serving snapshot {rollback(paths, args.to)}")
        except RollbackError as exc:
            print(f"rollback: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return 0
    current = (current_manifest(paths) or {}).get("snapshot_id")
    for snapshot_id in list_snapshots(paths):
        print(("* " if snapshot_id == current else "  ") + snapshot_id)
    return 0


@contextmanager
def _reading(paths: settings.Paths, wait: float):
    """A read-only connection to the warehouse, or to the published snapshot while a
    pipeline run writes the warehouse; None when there is neither.

    The warehouse is opened only under the shared lock: never while a run holds it
    (a reader would make the run fail). A run still holding it after ``wait`` seconds
    means reading the snapshot, which says how old it is; with no snapshot, Busy.
    """
    import duckdb

    with runlock.reader(paths, wait) as free:
        if free:
            if not paths.warehouse.exists():
                yield None
                return
            con = duckdb.connect(str(paths.warehouse), read_only=True)
            try:
                yield con
            finally:
                con.close()
            return
    holder = runlock.read_holder(paths)
    with connect_published(paths) as published:
        if published is None:
            raise runlock.Busy(
                paths,
                holder,
                wait,
                "Nothing is published yet to read instead: run again when it has finished, "
                "or pass --wait SECONDS.",
            )
        manifest = json.loads(
            published.execute("SELECT manifest FROM published.manifest").fetchone()[0]
        )
        created = dt.datetime.fromisoformat(manifest["created_at"]).replace(tzinfo=dt.UTC)
        age = (dt.datetime.now(dt.UTC) - created).total_seconds()
        who = f"a pipeline run ({holder.describe()})" if holder and holder.pid else "a run"
        print(
            f"{who} is writing the warehouse: showing the published snapshot "
            f"{manifest['snapshot_id']} of {manifest['created_at']} "
            f"({runlock.human_duration(age)} old) instead; --wait SECONDS waits for the run",
            file=sys.stderr,
        )
        yield published


def _print_ledger(since_run: str | None = None, wait: float = 0.0) -> None:
    paths = settings.paths()
    with _reading(paths, wait) as con:
        if con is None:
            print("no warehouse yet: run `make pipeline`")
            return
        _ledger_table(con, since_run)


def _ledger_table(con, since_run: str | None) -> None:
    where = "WHERE run_id = ?" if since_run else ""
    rows = con.execute(
        "SELECT coalesce(feed, '(no feed)'), status, count(*), sum(rows_read), "
        f"sum(rows_accepted), sum(rows_rejected) FROM meta.file_ledger {where} "
        "GROUP BY ALL ORDER BY 1, 2",
        [since_run] if since_run else [],
    ).fetchall()
    print(f"{'feed':<26}{'status':<12}{'files':>6}{'read':>10}{'accepted':>10}{'rejected':>10}")
    for feed, status, files, read, accepted, rejected in rows:
        print(
            f"{feed:<26}{status:<12}{files:>6}{read or 0:>10}{accepted or 0:>10}{rejected or 0:>10}"
        )
    problems = con.execute(
        f"SELECT original_name, status, reason FROM meta.file_ledger {where} "
        f"{'AND' if where else 'WHERE'} status IN ('rejected', 'refused') ORDER BY loaded_at",
        [since_run] if since_run else [],
    ).fetchall()
    for name, status, reason in problems:
        print(f"  {status}: {name}: {reason}")
    _spread_lines(con, since_run)
    _replay_lines(con, since_run)


def _spread_lines(con, since_run: str | None) -> None:
    """Files in force that cover several periods, or whose rows count at several levels."""
    present = {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'meta' "
            "AND table_name = 'file_ledger'"
        ).fetchall()
    }
    if not {"periods", "rows_by_level"} <= present:  # a snapshot published before them
        return
    rows = con.execute(
        "SELECT original_name, periods, rows_by_level FROM meta.file_ledger "
        f"WHERE status = 'loaded' {'AND run_id = ?' if since_run else ''} "
        "AND (len(periods) > 1 OR len(list_distinct(list_transform(rows_by_level, "
        "lambda x: x.area_level))) > 1) ORDER BY feed, original_name",
        [since_run] if since_run else [],
    ).fetchall()
    for name, periods, levels in rows:
        parts = []
        if periods and len(periods) > 1:
            parts.append(f"periods {periods[0]} to {periods[-1]} ({len(periods)})")
        if levels and len({x["area_level"] for x in levels}) > 1:
            placed = ", ".join(f"{x['area_level']} {x['row_count']}" for x in levels)
            parts.append(f"rows placed per level: {placed}")
        print(f"  {name}: {'; '.join(parts)}")


def _replay_lines(con, since_run: str | None) -> None:
    """Each replay (`cim reprocess`) with the counts of the load it replaced and its own."""
    has_column = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'meta' "
        "AND table_name = 'file_ledger' AND column_name = 'replay_of'"
    ).fetchone()[0]
    if not has_column:  # a snapshot published before replays existed
        return
    replays = con.execute(
        "SELECT new.original_name, new.feed, new.period, old.rows_accepted, "
        "new.rows_accepted, old.rows_rejected, new.rows_rejected, new.status, new.reason "
        "FROM meta.file_ledger AS new JOIN meta.file_ledger AS old "
        "ON old.load_id = new.replay_of "
        f"{'WHERE new.run_id = ?' if since_run else ''} ORDER BY new.loaded_at",
        [since_run] if since_run else [],
    ).fetchall()
    for name, feed, period, old_acc, new_acc, old_rej, new_rej, status, reason in replays:
        counts = f"accepted {old_acc} -> {new_acc}, rejected {old_rej} -> {new_rej}"
        if status == "replay_failed":
            print(f"  replay_failed: {name} ({feed} {period or ''}): {reason}")
        else:
            print(f"  replayed: {name} ({feed} {period or ''}): {counts} ({status})")


def _health(args: argparse.Namespace) -> int:
    """Feed health from the served snapshot (or the warehouse before the first one)."""
    from cim.health.report import health_report

    paths = settings.paths()
    with connect_published(paths) as published:
        if published is not None:
            print(health_report(published))
            return 0
    with _reading(paths, args.wait) as con:
        print("no data yet: run `make run`" if con is None else health_report(con))
    return 0


def _report(args: argparse.Namespace) -> int:
    """A council report on a goal or an area from the served snapshot, to a file."""
    # the dashboard's functions come with Streamlit, which outside its server warns on
    # every cached function ("No runtime found"): noise for the reader of this command
    from streamlit.runtime.caching import cache_data_api

    logging.getLogger(cache_data_api.__name__).setLevel(logging.ERROR)
    from app import i18n
    from cim.report import ReportError, build_report, public_stories, write_report

    paths = settings.Paths(settings.cim_home())
    lang = args.lang or i18n.languages()[0]
    try:
        stories = public_stories(paths)
        report = build_report(
            paths,
            goal=args.goal,
            area=args.area,
            lang=lang,
            fmt=args.format,
            period=args.period,
            stories=stories,
        )
    except ReportError as exc:
        raise SetupError(str(exc)) from None
    output = args.output or Path(f"{args.goal or args.area}-{lang}.{args.format}")
    print(write_report(output, report))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from cim.serve import serve

    _dagster_home(settings.paths())  # dagster dev keeps its runs there
    return serve(args.dagster_port, args.app_port, args.docs_port)


def _ledger(args: argparse.Namespace) -> int:
    _print_ledger(wait=args.wait)
    return 0


def _check_file(args: argparse.Namespace) -> int:
    """What the pipeline would do with a partner's file, without loading it."""
    from cim.ingest.dryrun import REFUSED, WOULD_BE_REJECTED, UnknownPartner, dry_run

    path = Path(args.path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SetupError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from exc
    try:
        report = dry_run(
            load_city(settings.city_dir()), settings.paths(), data, path.name, args.partner
        )
    except UnknownPartner as exc:
        raise SetupError(str(exc)) from exc
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print("\n".join(_dry_run_words(report)))
    return EXIT_SETUP if report.verdict in (REFUSED, WOULD_BE_REJECTED) else 0


def _dry_run_words(report) -> list[str]:
    """A dry run in plain words, one fact a line."""
    lines = [f"{report.file} ({report.partner}): {report.verdict}"]
    if report.feed:
        period = report.period or ", ".join(p["period"] for p in report.period_rows) or "?"
        lines.append(f"  feed {report.feed}, period {period}")
    for why in filter(None, (report.refusal, report.reason)):
        lines.append(f"  why: {why}")
    if report.rows_read:
        lines.append(
            f"  rows: {report.rows_read} read, {report.rows_accepted} accepted, "
            f"{report.rows_rejected} rejected"
        )
    for part in report.period_rows:
        lines.append(
            f"    {part['period']}: {part['rows_accepted']} accepted, "
            f"{part['rows_rejected']} rejected"
        )
    if columns := report.columns:
        if columns.missing:
            lines.append(f"  missing columns: {', '.join(columns.missing)}")
        for old, new in columns.renamed:
            lines.append(f"  renamed? {old!r} looks like {new!r} in the file")
        if columns.extra:
            lines.append(f"  columns not in the contract: {', '.join(columns.extra)}")
        if columns.missing_optional:
            lines.append(f"  optional columns missing: {', '.join(columns.missing_optional)}")
    for group in report.row_reasons:
        lines.append(f"  {group.rows} row(s): {group.reason}")
        for example in group.examples:
            shown = example.text or "; ".join(
                f"{k}={v if v is not None else ''}" for k, v in (example.values or {}).items()
            )
            lines.append(f"    row {example.row_number}: {shown}")
    if report.more_reasons:
        lines.append(f"  ... and {report.more_reasons} other reason(s)")
    for earlier in report.replaces:
        how = "replaces" if earlier.whole else "replaces part of"
        lines.append(
            f"  {how} {earlier.original_name} (received {earlier.received_at}, "
            f"{', '.join(earlier.periods)})"
        )
    lines += [f"  warning: {warning}" for warning in report.warnings]
    lines.append(f"  checked in {report.seconds:.1f} s; nothing was loaded")
    return lines


def _impact(args: argparse.Namespace) -> int:
    """`cim impact` on an action reads the warehouse: only when no run writes it."""
    if args.panel:
        return impact_cli.run(args)
    paths = settings.paths()
    with runlock.reader(paths, args.wait) as free:
        if not free:
            raise runlock.Busy(
                paths,
                runlock.read_holder(paths),
                args.wait,
                "Run again when it has finished, or pass --wait SECONDS.",
            )
        return impact_cli.run(args)


def _app_state():
    """The app state (accounts, notes...), migrated; a database that cannot be opened is
    a SetupError naming it (its password masked)."""
    import sqlalchemy as sa

    from cim.appstate import default_url, open_state

    try:
        return open_state()
    except sa.exc.SQLAlchemyError as exc:
        shown = sa.make_url(default_url()).render_as_string(hide_password=True)
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SetupError(
            f"cannot open the app-state database {shown}: {cause}; check CIM_APP_DB "
            "(unset, it is a SQLite file in CIM_HOME/app)"
        ) from exc


def _read_password() -> str:
    """From stdin when it is not a terminal (one line), else typed twice, never echoed:
    a password on the command line would stay in the shell history and the process list."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("password (at least 12 characters): ")
    if getpass.getpass("the same password again: ") != password:
        raise SetupError("the two passwords differ: run the command again")
    return password


def _accounts(args: argparse.Namespace) -> int:
    """Local accounts of the dashboard, for cities without an OpenID Connect provider."""
    state = _app_state()
    try:
        if args.action == "add":
            if args.partner is not None:
                city = load_city(settings.city_dir())
                if args.partner not in city.partner_by_id:
                    raise SetupError(
                        f"--partner {args.partner}: no such partner in "
                        f"{city.folder / 'partners.yaml'}; use one of "
                        f"{', '.join(sorted(city.partner_by_id))}"
                    )
            if args.no_password and not args.email:
                raise SetupError(
                    "--no-password: the account logs in through OpenID Connect only, "
                    "which finds it by its email: give --email"
                )
            password = None if args.no_password else _read_password()
            account = state.accounts.create(
                args.username, password, args.role, args.partner, args.name, args.email
            )
            print(f"account {account.username} ({account.role}) added to {state.url}")
        elif args.action == "list":
            print(f"{'username':<20}{'role':<10}{'partner':<20}{'email':<32}{'active':<8}created")
            for a in state.accounts.list():
                print(
                    f"{a.username:<20}{a.role:<10}{a.partner_id or '':<20}{a.email or '':<32}"
                    f"{'yes' if a.active else 'no':<8}{a.created_at:%Y-%m-%d %H:%M} UTC"
                )
        elif args.action == "password":
            state.accounts.set_password(args.username, _read_password())
            print(f"password of {args.username.strip().casefold()} changed")
        else:
            done = getattr(state.accounts, args.action)(args.username)
            print(f"account {done.username} {args.action}d")
    except ValueError as exc:
        raise SetupError(str(exc)) from exc
    return 0


def _app_db(_: argparse.Namespace) -> int:
    """Bring the app-state database to the latest schema (opening it does so too)."""
    from cim.appstate.database import current_revision, head_revision

    state = _app_state()
    print(
        f"app state {state.url}: at revision {current_revision(state.engine)} "
        f"(latest {head_revision()})"
    )
    return 0


def _add_account_commands(commands) -> None:
    from cim.appstate.accounts import ROLES

    accounts = commands.add_parser("accounts", help="local dashboard accounts (add, list...)")
    actions = accounts.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add", help="add an account; the password is read from stdin or asked for"
    )
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=list(ROLES))
    add.add_argument("--partner", default=None, help="the partner id (partners.yaml) of a partner")
    add.add_argument("--email", default=None, help="also how an OpenID Connect login finds it")
    add.add_argument("--name", default=None, help="the name shown in the dashboard")
    add.add_argument(
        "--no-password", action="store_true", help="log in through OpenID Connect only"
    )
    actions.add_parser("list", help="every account")
    for action, meaning in (
        ("disable", "stop an account from logging in"),
        ("enable", "let a disabled account log in again"),
        ("password", "set a new password (read from stdin or asked for)"),
    ):
        actions.add_parser(action, help=meaning).add_argument("username")
    accounts.set_defaults(run=_accounts)
    app_db = commands.add_parser("app-db", help="the app-state database (accounts, notes...)")
    app_db.add_argument("action", choices=["upgrade"])
    app_db.set_defaults(run=_app_db)


def _wait_option(parser: argparse.ArgumentParser, default: float | None, meaning: str) -> None:
    parser.add_argument("--wait", type=float, default=default, metavar="SECONDS", help=meaning)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cim", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create CIM_HOME and the Dagster home").set_defaults(run=_init)
    commands.add_parser("check-config", help="validate the city folder").set_defaults(
        run=_check_config
    )
    new_city = commands.add_parser(
        "new-city", help="write a commented minimal city folder to start from"
    )
    new_city.add_argument("folder", help="a new or empty folder, e.g. cities/<your-city>")
    new_city.add_argument("--name", default=None, help="the city's name (default: from folder)")
    new_city.set_defaults(run=_new_city)
    pipeline = commands.add_parser(
        "pipeline", help="build what changed since the served snapshot, and publish it"
    )
    pipeline.add_argument("--job", default="pipeline", help="Dagster job to run")
    pipeline.add_argument("--full", action="store_true", help="build everything, whatever changed")
    pipeline.add_argument("--log-level", default="WARNING", help="console log level")
    _wait_option(
        pipeline,
        None,
        "while another run holds CIM_HOME, wait this long, then refuse "
        f"(default CIM_LOCK_WAIT or {runlock.DEFAULT_WAIT:.0f})",
    )
    pipeline.set_defaults(run=_pipeline)
    ledger = commands.add_parser("ledger", help="files received, per feed and status")
    _wait_option(ledger, 0.0, READER_WAIT + "; then the published snapshot is shown")
    ledger.set_defaults(run=_ledger)
    health = commands.add_parser("health", help="feed health, worst first")
    _wait_option(health, 0.0, READER_WAIT + " (only before the first snapshot)")
    health.set_defaults(run=_health)
    report = commands.add_parser(
        "report", help="a council report (PDF or HTML) on a goal or an area, from the snapshot"
    )
    subject = report.add_mutually_exclusive_group(required=True)
    subject.add_argument("--goal", help="a goal of the agenda (its indicators at city level)")
    subject.add_argument("--area", help="an area code (every indicator in that area)")
    report.add_argument(
        "--lang", choices=["en", "nl", "fr", "de"], help="default: the city's first language"
    )
    report.add_argument("--format", choices=["pdf", "html"], default="pdf")
    report.add_argument("--output", type=Path, help="default: <goal or area>-<lang>.<format>")
    report.add_argument("--period", help="the last quarter to report on, e.g. 2026-Q2")
    report.set_defaults(run=_report)
    served = commands.add_parser(
        "serve", help="dashboard, Dagster UI and documentation (dbt docs, Data Docs) on 127.0.0.1"
    )
    served.add_argument("--dagster-port", type=int, default=3000)
    served.add_argument("--app-port", type=int, default=8501)
    served.add_argument(
        "--docs-port", type=int, default=None, help="documentation (default CIM_DOCS_PORT or 8502)"
    )
    served.set_defaults(run=_serve)
    impact_cli.add_parser(commands)
    _wait_option(commands.choices["impact"], 0.0, READER_WAIT + " (--action only)")
    commands.choices["impact"].set_defaults(run=_impact)
    commands.add_parser(
        "prepare", help="write the city's dbt models and parse the dbt project"
    ).set_defaults(run=_prepare)
    docs = commands.add_parser("docs", help="dbt docs of the mart into dbt_project/target")
    _wait_option(docs, None, "while a run holds CIM_HOME, wait this long, then refuse")
    docs.set_defaults(run=_docs)
    withdrawn = commands.add_parser(
        "withdraw", help="take back a loaded delivery and restore the one before"
    )
    withdrawn.add_argument("delivery", help="file name, sha256 (8+ characters) or load_id")
    withdrawn.add_argument("--reason", default="", help="why, kept in the ledger")
    withdrawn.add_argument(
        "--no-restore", action="store_true", help="leave the period empty, restore nothing"
    )
    _wait_option(withdrawn, None, "while a run holds CIM_HOME, wait this long, then refuse")
    withdrawn.set_defaults(run=_withdraw)
    replayed = commands.add_parser(
        "reprocess",
        help="load the deliveries in force again from the archive (after a fix to the "
        "city folder), then run the pipeline",
    )
    replayed.add_argument("--feed", default=None, help="only this feed (default: every feed)")
    replayed.add_argument(
        "--period", default=None, help="only this period, e.g. 2024-03 (default: every period)"
    )
    replayed.add_argument("--log-level", default="WARNING", help="console log level")
    _wait_option(replayed, None, "while a run holds CIM_HOME, wait this long, then refuse")
    replayed.set_defaults(run=_reprocess)
    checked = commands.add_parser(
        "check-file", help="what the pipeline would do with a partner's file (a dry run)"
    )
    checked.add_argument("path", help="the file, named as the partner would send it")
    checked.add_argument("--partner", required=True, help="the sending partner's id")
    checked.add_argument("--json", action="store_true", help="the report as JSON")
    checked.set_defaults(run=_check_file)
    archived = commands.add_parser(
        "archive",
        help="encrypt the plain archived originals of personal feeds, or purge the files "
        "past their retention",
    )
    archived.add_argument("action", choices=["encrypt", "purge"])
    archived.add_argument("--dry-run", action="store_true", help="list what would change")
    _wait_option(archived, None, "while a run holds CIM_HOME, wait this long, then refuse")
    archived.set_defaults(run=_archive)
    published = commands.add_parser("publish", help="list snapshots or roll back to one")
    published.add_argument("action", choices=["list", "rollback"])
    published.add_argument("--to", default=None, help="snapshot id (default: the one before)")
    published.set_defaults(run=_publish)
    _add_account_commands(commands)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except runlock.Busy as exc:
        print(f"busy: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except Exception as exc:
        # a read-only CIM_HOME, a full disk: say where and what to do, not a traceback
        message = runlock.explain(exc, settings.Paths(settings.cim_home()))
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return EXIT_SETUP


if __name__ == "__main__":
    sys.exit(main())
