"""Command line for data engineers: ``cim demo``, ``cim pipeline``, ``cim ledger``...

Each command reads CIM_HOME and CIM_CITY from the environment, like Dagster does.
"""

from __future__ import annotations

import argparse
import sys

from cim import settings
from cim.city import ConfigError, load_city
from cim.impact import cli as impact_cli
from cim.publish import (
    connect_published,
    current_manifest,
    list_snapshots,
    record_blocked,
    rollback,
)

DAGSTER_YAML = """# Written by `cim init`: runs, schedules and sensors of this deployment.
telemetry:
  enabled: false
"""


def _init(_: argparse.Namespace) -> int:
    """Create CIM_HOME's folders and a Dagster home with telemetry off."""
    paths = settings.paths()
    dagster_home = paths.home / "dagster"
    dagster_home.mkdir(exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    print(f"CIM_HOME={paths.home}\nDAGSTER_HOME={dagster_home}")
    return 0


def _check_config(_: argparse.Namespace) -> int:
    city = load_city(settings.city_dir())
    print(
        f"{city.settings.name}: {len(city.areas)} areas, {len(city.partners)} partners, "
        f"{len(city.contracts)} feeds ({', '.join(c.feed for c in city.contracts)}): OK"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Generate the demo city into the landing folder, unless data is already there."""
    from cim.demo import generate_demo_city

    paths = settings.paths()
    waiting = [p for p in paths.landing.iterdir() if not p.name.startswith(".")]
    if (waiting or any(paths.archive.iterdir())) and not args.force:
        print(
            f"landing or archive under {paths.home} is not empty: demo city not generated "
            "(use --force to add it anyway)"
        )
        return 0
    summary = generate_demo_city(settings.city_dir(), paths.landing, incidents=args.incidents)
    print(
        f"demo city written to {paths.landing}: "
        + ", ".join(f"{feed} {n} files" for feed, n in sorted(summary["files"].items()))
    )
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    """Run the whole pipeline once, in this process, recorded in the Dagster instance."""
    import dagster as dg

    from cim.definitions import defs

    job = defs.resolve_job_def(args.job)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            # Warnings (rejected files, schema drift) on the terminal; the rest in the UI.
            run_config={"loggers": {"console": {"config": {"log_level": args.log_level}}}},
        )
    _print_ledger(since_run=result.run_id)
    paths = settings.paths()
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        record_blocked(paths, result.run_id, [f"step failed: {step}" for step in failed])
        print(
            f"run {result.run_id}: FAILED at {', '.join(failed)}; the previous snapshot "
            "(if any) is still served. Details: make dev, then the run in the Dagster UI"
        )
        return 1
    manifest = current_manifest(paths)
    served = manifest["snapshot_id"] if manifest else "none"
    print(f"run {result.run_id}: success; served snapshot {served}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    """List the kept snapshots, or serve an earlier one again."""
    paths = settings.paths()
    if args.action == "rollback":
        print(f"now serving snapshot {rollback(paths, args.to)}")
        return 0
    current = (current_manifest(paths) or {}).get("snapshot_id")
    for snapshot_id in list_snapshots(paths):
        print(("* " if snapshot_id == current else "  ") + snapshot_id)
    return 0


def _print_ledger(since_run: str | None = None) -> None:
    import duckdb

    paths = settings.paths()
    if not paths.warehouse.exists():
        print("no warehouse yet: run `make pipeline`")
        return
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
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
                f"{feed:<26}{status:<12}{files:>6}{read or 0:>10}{accepted or 0:>10}"
                f"{rejected or 0:>10}"
            )
        problems = con.execute(
            f"SELECT original_name, status, reason FROM meta.file_ledger {where} "
            f"{'AND' if where else 'WHERE'} status IN ('rejected', 'refused') ORDER BY loaded_at",
            [since_run] if since_run else [],
        ).fetchall()
        for name, status, reason in problems:
            print(f"  {status}: {name}: {reason}")
    finally:
        con.close()


def _health(_: argparse.Namespace) -> int:
    """Feed health from the served snapshot (or the warehouse before the first one)."""
    import duckdb

    from cim.health.report import health_report

    paths = settings.paths()
    with connect_published(paths) as published:
        if published is not None:
            print(health_report(published))
            return 0
    if not paths.warehouse.exists():
        print("no data yet: run `make run`")
        return 0
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        print(health_report(con))
    finally:
        con.close()
    return 0


def _serve(args: argparse.Namespace) -> int:
    from cim.serve import serve

    return serve(args.dagster_port, args.app_port)


def _ledger(_: argparse.Namespace) -> int:
    _print_ledger()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cim", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create CIM_HOME and the Dagster home").set_defaults(run=_init)
    commands.add_parser("check-config", help="validate the city folder").set_defaults(
        run=_check_config
    )
    demo = commands.add_parser("demo", help="generate the demo city into the landing folder")
    demo.add_argument("--incidents", type=int, default=None, help="police incident rows in total")
    demo.add_argument("--force", action="store_true", help="generate even if data exists")
    demo.set_defaults(run=_demo)
    pipeline = commands.add_parser("pipeline", help="run the whole pipeline once")
    pipeline.add_argument("--job", default="pipeline", help="Dagster job to run")
    pipeline.add_argument("--log-level", default="WARNING", help="console log level")
    pipeline.set_defaults(run=_pipeline)
    commands.add_parser("ledger", help="files received, per feed and status").set_defaults(
        run=_ledger
    )
    commands.add_parser("health", help="feed health, worst first").set_defaults(run=_health)
    served = commands.add_parser("serve", help="dashboard and Dagster UI on 127.0.0.1")
    served.add_argument("--dagster-port", type=int, default=3000)
    served.add_argument("--app-port", type=int, default=8501)
    served.set_defaults(run=_serve)
    impact_cli.add_parser(commands)
    published = commands.add_parser("publish", help="list snapshots or roll back to one")
    published.add_argument("action", choices=["list", "rollback"])
    published.add_argument("--to", default=None, help="snapshot id (default: the one before)")
    published.set_defaults(run=_publish)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
