"""One Dagster asset per feed, generated from the city's contracts: no Python per feed."""

from collections import Counter

import dagster as dg

from cim.city import City, FeedContract
from cim.defs.health.assets import freshness_policy
from cim.defs.resources import Deployment, loaded_city
from cim.ingest import FeedRunner, FileOutcome
from cim.ingest.files import scan_landing
from cim.ingest.retention import purge_archive
from cim.ingest.store import REJECTED, raw_table

GROUP = "ingestion"
TRIAGE_KEY = dg.AssetKey(["meta", "landing_triage"])


def feed_asset_key(feed: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", feed])


def _summary(outcomes: list[FileOutcome]) -> dict[str, object]:
    statuses = Counter(o.status for o in outcomes)
    rows = [
        f"| {o.name} | {o.period or ''} | {o.status} | {o.rows_read} | {o.rows_accepted} "
        f"| {o.rows_rejected} | {(o.reason or '; '.join(o.warnings)).replace('|', '/')} |"
        for o in outcomes
    ]
    table = (
        "| file | period | status | read | accepted | rejected | reason |\n"
        "|---|---|---|---|---|---|---|"
    )
    return {
        "files": len(outcomes),
        **{f"files_{status}": count for status, count in sorted(statuses.items())},
        "rows_accepted": sum(o.rows_accepted for o in outcomes),
        "rows_rejected": sum(o.rows_rejected for o in outcomes),
        "deliveries": dg.MetadataValue.md("\n".join([table, *rows]) if rows else "no new files"),
    }


def build_feed_asset(contract: FeedContract, city: City) -> dg.AssetsDefinition:
    """Asset that ingests every landed file of one feed, oldest delivery first."""
    contact = city.contact_for(contract)

    @dg.asset(
        key=feed_asset_key(contract.feed),
        group_name=GROUP,
        kinds={"duckdb"},
        description=contract.description or f"Raw rows of feed {contract.feed}",
        owners=[contact.email] if "@" in contact.email else None,
        tags={"partner": contract.partner, "grain": contract.period.grain},
        metadata={
            "partner": contract.partner,
            "contact": f"{contact.name} <{contact.email}>",
            "file_pattern": contract.file_pattern,
            "format": contract.format,
            "contract": dg.MetadataValue.path(str(city.folder / "feeds" / f"{contract.feed}.yaml")),
            "table": raw_table(contract.feed),
        },
        freshness_policy=freshness_policy(contract),
        check_specs=[
            dg.AssetCheckSpec(
                "files_accounted",
                asset=feed_asset_key(contract.feed),
                description="every file: rows read = accepted + rejected",
            ),
            dg.AssetCheckSpec(
                "no_rejected_files",
                asset=feed_asset_key(contract.feed),
                description="no delivery of this run was rejected whole",
            ),
        ],
    )
    def _feed(
        context: dg.AssetExecutionContext, deployment: Deployment, city: dg.ResourceParam[City]
    ):
        paths = deployment.paths
        deliveries = [d for d in scan_landing(paths.landing, city) if d.feed == contract.feed]
        with deployment.warehouse() as con:
            runner = FeedRunner(con, city, paths, context.run_id, report=context.log.warning)
            outcomes = runner.ingest(deliveries)
            unbalanced = con.execute(
                "SELECT original_name FROM meta.file_ledger WHERE feed = ? "
                "AND rows_read <> rows_accepted + rows_rejected",
                [contract.feed],
            ).fetchall()
            total = con.execute(f"SELECT count(*) FROM {raw_table(contract.feed)}").fetchone()[0]
        rejected = [f"{o.name}: {o.reason}" for o in outcomes if o.status == REJECTED]
        yield dg.MaterializeResult(metadata={**_summary(outcomes), "dagster/row_count": total})
        yield dg.AssetCheckResult(
            check_name="files_accounted",
            passed=not unbalanced,
            metadata={"unbalanced_files": [r[0] for r in unbalanced]},
        )
        yield dg.AssetCheckResult(
            check_name="no_rejected_files",
            passed=not rejected,
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(rejected) or None,
        )

    return _feed


def build_triage_asset(city: City) -> dg.AssetsDefinition:
    """Files that match no contract (or several) are moved aside and put in the ledger."""

    @dg.asset(
        key=TRIAGE_KEY,
        group_name=GROUP,
        kinds={"duckdb"},
        description="Landing-folder entries that match no feed contract, refused and recorded.",
    )
    def _triage(
        context: dg.AssetExecutionContext, deployment: Deployment, city: dg.ResourceParam[City]
    ):
        paths = deployment.paths
        strays = [d for d in scan_landing(paths.landing, city) if d.feed is None]
        with deployment.warehouse() as con:
            outcomes = FeedRunner(
                con, city, paths, context.run_id, report=context.log.warning
            ).ingest(strays)
        return dg.MaterializeResult(metadata=_summary(outcomes))

    return _triage


LEDGER_KEY = dg.AssetKey(["meta", "file_ledger"])


def build_ledger_asset(city: City) -> dg.AssetsDefinition:
    """The ledger as one asset downstream of every feed, so models that read it (and
    the backbone) see one node that is current once all feeds have been ingested.

    Once every feed is in, archived originals past their retention are purged here
    (cim.ingest.retention): every run keeps the archive within what the contracts allow.
    """

    @dg.asset(
        key=LEDGER_KEY,
        group_name=GROUP,
        kinds={"duckdb"},
        deps=[TRIAGE_KEY, *(feed_asset_key(c.feed) for c in city.contracts)],
        description="Every received file with its status, period and row counts "
        "(meta.file_ledger).",
    )
    def _ledger(
        context: dg.AssetExecutionContext, deployment: Deployment, city: dg.ResourceParam[City]
    ) -> dg.MaterializeResult:
        with deployment.warehouse() as con:
            purged = purge_archive(con, city, deployment.paths)
            for item in purged:
                context.log.info(f"purged {item.path.name}: {item.reason}")
            rows = con.execute(
                "SELECT status, count(*), coalesce(sum(rows_read), 0), "
                "coalesce(sum(rows_rejected), 0) "
                "FROM meta.file_ledger GROUP BY 1 ORDER BY 1"
            ).fetchall()
        metadata: dict[str, object] = {f"files_{status}": n for status, n, _, _ in rows}
        metadata["rows_read"] = sum(r[2] for r in rows)
        metadata["rows_rejected"] = sum(r[3] for r in rows)
        metadata["files_purged"] = len(purged)
        return dg.MaterializeResult(metadata=metadata)

    return _ledger


def build_ingestion_assets(city: City) -> list[dg.AssetsDefinition]:
    return [
        build_triage_asset(city),
        *(build_feed_asset(c, city) for c in city.contracts),
        build_ledger_asset(city),
    ]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=build_ingestion_assets(loaded_city()))
