"""The impact marts, computed in Python on the mart dbt builds and published with it."""

import dagster as dg

from cim import settings
from cim.defs.resources import Deployment
from cim.impact.schema import TABLES
from cim.impact.tables import analyse, write

# what the analysis reads; dbt builds them before this step
_READS = [
    ["marts", "fct_activities"],
    ["marts", "dim_indicator"],
    ["marts", "dim_area"],
    ["intermediate", "int_indicator_values"],
    ["intermediate", "int_periods"],
]
_DESCRIPTIONS = {
    "fct_action_impact": "Per action and linked indicator: comparison areas, windows, "
    "difference-in-differences with its interval, guard rails, Maryland level and "
    "displacement (docs/impact.md).",
    "fct_action_event_study": "Per action and indicator: effect by bin of periods since "
    "the start, against the bin before it (the pre-trend check).",
    "fct_action_trends": "Treated, comparison and displacement areas over the windows, "
    "small groups suppressed: the Impact page's chart.",
}


def _spec(table: str) -> dg.AssetSpec:
    columns = [
        dg.TableColumn(name, kind.lower(), description=text) for name, kind, text in TABLES[table]
    ]
    return dg.AssetSpec(
        key=["marts", table],
        group_name="impact",
        kinds={"duckdb", "python"},
        deps=[dg.AssetKey(k) for k in _READS],
        metadata={"dagster/column_schema": dg.TableSchema(columns=columns)},
        description=_DESCRIPTIONS[table],
    )


def build_impact_assets() -> dg.AssetsDefinition:
    @dg.multi_asset(specs=[_spec(t) for t in TABLES], name="action_impact")
    def _impact(context: dg.AssetExecutionContext, deployment: Deployment):
        as_of = settings.as_of()
        with deployment.warehouse() as con:
            frames = analyse(con, deployment.city(), as_of)
            write(con, frames)
        impact = frames["fct_action_impact"]
        estimated = impact[impact["result"] == "estimated"]
        context.log.info(
            f"{len(impact)} action x indicator pairs, {len(estimated)} estimated, as of {as_of}"
        )
        for table, frame in frames.items():
            yield dg.MaterializeResult(
                asset_key=["marts", table],
                metadata={"dagster/row_count": len(frame), "as_of": str(as_of)},
            )

    return _impact
