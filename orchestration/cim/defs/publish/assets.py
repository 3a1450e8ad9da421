"""The publish step of write-audit-publish, as the last asset of the pipeline."""

import dagster as dg

from cim.defs.resources import Deployment
from cim.publish import publish, record_blocked

SNAPSHOT_KEY = dg.AssetKey(["published", "snapshot"])


def _run_checks(deployment: Deployment, run_id: str) -> list[tuple[str, str, str, bool, str]]:
    """This run's expectation outcomes (asset, expectation, severity, success, message)."""
    with deployment.warehouse() as con:
        if not con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE schema_name = 'meta' AND table_name = 'dq_results'"
        ).fetchone()[0]:
            return []
        return con.execute(
            "SELECT asset, expectation, severity, success, message FROM meta.dq_results "
            "WHERE run_id = ? ORDER BY asset, expectation",
            [run_id],
        ).fetchall()


def build_publish_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=SNAPSHOT_KEY,
        group_name="publish",
        kinds={"duckdb"},
        deps=upstream,
        description="A new versioned snapshot of the mart with the feed-health and quality "
        "tables, switched into CIM_HOME/published/current.duckdb when every blocking "
        "check of the run passed; otherwise the previous snapshot stays served.",
    )
    def _snapshot(context: dg.AssetExecutionContext, deployment: Deployment):
        paths = deployment.paths
        outcomes = _run_checks(deployment, context.run_id)
        # any failed ERROR expectation blocks publication
        blocked = [f"{a}: {e}: {m}" for a, e, s, ok, m in outcomes if s == "ERROR" and not ok]
        if blocked:
            record_blocked(paths, context.run_id, blocked)
            raise dg.Failure(
                description="Not published: blocking quality checks failed; the previous "
                "snapshot is still served.",
                metadata={
                    "blocking_failures": dg.MetadataValue.md("\n".join(f"- {b}" for b in blocked))
                },
            )
        summary = {
            "expectations": len(outcomes),
            "warnings_failed": sum(1 for _, _, s, ok, _ in outcomes if s == "WARN" and not ok),
            "errors_failed": 0,
        }
        manifest = publish(paths, context.run_id, summary)
        return dg.MaterializeResult(
            metadata={
                "snapshot_id": manifest["snapshot_id"],
                "files_included": len(manifest["files"]),
                "tables": dg.MetadataValue.json(manifest["tables"]),
                "path": dg.MetadataValue.path(str(paths.published / "current.duckdb")),
            }
        )

    return _snapshot
