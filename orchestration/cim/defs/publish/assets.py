"""The publish step of write-audit-publish, as the last asset of the pipeline."""

import dagster as dg

from cim import settings
from cim.city import City
from cim.defs.dbt.assets import build_dbt_assets
from cim.defs.dbt.project import loaded_dbt_project
from cim.defs.impact.assets import build_impact_assets
from cim.defs.ingestion.assets import LEDGER_KEY
from cim.defs.resources import Deployment
from cim.publish import publish, record_blocked
from cim.publish.changes import current_inputs, mark_published
from cim.quality import ERROR, WARN, read_results

SNAPSHOT_KEY = dg.AssetKey(["published", "snapshot"])


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
    def _snapshot(
        context: dg.AssetExecutionContext, deployment: Deployment, city: dg.ResourceParam[City]
    ):
        paths = deployment.paths
        with deployment.warehouse() as con:
            outcomes = read_results(con, context.run_id)
            # what this snapshot is built from: the next run builds only what differs
            inputs = current_inputs(con, city, settings.as_of())
        # any failed ERROR expectation blocks publication
        blocked = [
            f"{o.asset}: {o.expectation}: {o.message}"
            for o in outcomes
            if o.severity == ERROR and not o.success
        ]
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
            "warnings_failed": sum(1 for o in outcomes if o.severity == WARN and not o.success),
            "errors_failed": 0,
        }
        manifest = publish(paths, context.run_id, summary, inputs=inputs.as_json())
        # the next run may build only what changed: this warehouse is the served one's source
        with deployment.warehouse() as con:
            mark_published(con, manifest["snapshot_id"])
        return dg.MaterializeResult(
            metadata={
                "snapshot_id": manifest["snapshot_id"],
                "files_included": len(manifest["files"]),
                "tables": dg.MetadataValue.json(manifest["tables"]),
                "path": dg.MetadataValue.path(str(paths.published / "current.duckdb")),
            }
        )

    return _snapshot


@dg.definitions
def defs() -> dg.Definitions:
    """Publication waits for every mart table (dbt's and the impact analysis') and the
    ledger, so a snapshot never mixes tables of two runs."""
    project = loaded_dbt_project()
    produced = [*build_dbt_assets(project).keys, *build_impact_assets(project).keys]
    marts = sorted((key for key in produced if key.path[0] == "marts"), key=str)
    return dg.Definitions(assets=[build_publish_asset([*marts, LEDGER_KEY])])
