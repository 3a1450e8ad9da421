"""The impact marts, computed in Python on the mart dbt builds and published with it.

Their tables and columns are declared as the dbt source ``impact``
(dbt_project/models/marts/impact/_impact__sources.yml, read by ``cim.impact.schema``).
Right after writing them, the asset runs that source's dbt tests on the fresh tables
(``dbt test --select source:impact``); each test is an asset check of its table, blocking
publication when it fails (severity error), as the mart's own dbt tests do.
"""

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
)

from cim import settings
from cim.city import City
from cim.defs.dbt.project import loaded_dbt_project, warehouse_env
from cim.defs.resources import Deployment
from cim.impact.schema import SOURCE, TABLES, Table
from cim.impact.tables import analyse, write

# what the analysis reads; dbt builds them before this step
_READS = [
    ["marts", "fct_activities"],
    ["marts", "dim_indicator"],
    ["marts", "dim_area"],
    ["intermediate", "int_indicator_values"],
    ["intermediate", "int_periods"],
]
# source tests as checks of the tables they test (on the mart's dbt assets they are not)
_TRANSLATOR = DagsterDbtTranslator(DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))


def _spec(table: Table) -> dg.AssetSpec:
    columns = [
        dg.TableColumn(
            c.name,
            c.data_type,
            description=c.description,
            constraints=dg.TableColumnConstraints(nullable=not c.not_null),
        )
        for c in table.columns
    ]
    return dg.AssetSpec(
        key=list(table.asset_key),
        group_name="impact",
        kinds={"duckdb", "python"},
        deps=[dg.AssetKey(k) for k in _READS],
        metadata={"dagster/column_schema": dg.TableSchema(columns=columns)},
        description=table.description,
    )


def _manifest(project: DbtProject) -> dict[str, Any]:
    return json.loads(project.manifest_path.read_text(encoding="utf-8"))


def _check_specs(manifest: Mapping[str, Any], specs: list[dg.AssetSpec]) -> list[dg.AssetCheckSpec]:
    """One check per dbt test of the ``impact`` source, on the asset of its table."""
    by_key = {spec.key: spec for spec in specs}
    checks = []
    for source_id, source in manifest["sources"].items():
        if source["source_name"] != SOURCE:
            continue
        key = _TRANSLATOR.get_asset_spec(manifest, source_id, None).key
        if key not in by_key:
            raise ValueError(f"dbt source {source_id} names asset {key}, not an impact asset")
        for test_id in manifest["child_map"].get(source_id, []):
            if test_id.startswith("test."):
                check = _TRANSLATOR.get_asset_check_spec(by_key[key], manifest, test_id, None)
                if check is not None:
                    checks.append(check)
    if not checks:
        raise ValueError(
            f"the dbt manifest has no tests of the source {SOURCE!r}: parse the dbt project "
            "(cim.defs.dbt.project) before building the impact assets"
        )
    return checks


def run_impact_source_tests(
    dbt: DbtCliResource,
    warehouse: Path,
    manifest: Mapping[str, Any],
    checks: list[dg.AssetCheckSpec],
    log,
) -> Iterator[dg.AssetCheckResult]:
    """``dbt test --select source:impact`` on the tables of ``warehouse``: one result per
    check (a test dbt could not run, a compilation error say, fails its check)."""
    with warehouse_env(warehouse):
        invocation = dbt.cli(
            ["test", "--select", f"source:{SOURCE}"],
            manifest=manifest,
            dagster_dbt_translator=_TRANSLATOR,
            raise_on_error=False,
        )
    expected = {check.key for check in checks}
    seen = set()
    for event in invocation.stream_raw_events():
        for result in event.to_default_asset_events(manifest, _TRANSLATOR):
            if isinstance(result, dg.AssetCheckEvaluation) and result.asset_check_key in expected:
                seen.add(result.asset_check_key)
                yield dg.AssetCheckResult(
                    asset_key=result.asset_key,
                    check_name=result.check_name,
                    passed=result.passed,
                    severity=result.severity,
                    metadata=result.metadata,
                )
    if missing := expected - seen:
        log.error(
            f"dbt test --select source:{SOURCE} did not run {len(missing)} test(s): "
            f"{invocation.get_error()}"
        )
        for key in sorted(missing, key=lambda k: k.to_user_string()):
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=False,
                description="dbt did not run this test; see the step's log",
            )


@functools.cache  # one definition per prepared project, however many modules ask
def build_impact_assets(project: DbtProject) -> dg.AssetsDefinition:
    """The impact assets; ``project`` is the dbt project prepared for the city (its
    manifest names the source tests that become checks)."""
    manifest = _manifest(project)
    specs = [_spec(t) for t in TABLES.values()]
    checks = _check_specs(manifest, specs)

    @dg.multi_asset(specs=specs, check_specs=checks, name="action_impact")
    def _impact(
        context: dg.AssetExecutionContext,
        deployment: Deployment,
        city: dg.ResourceParam[City],
        dbt: DbtCliResource,
    ):
        as_of = settings.as_of()
        with deployment.warehouse() as con:
            frames = analyse(con, city, as_of)
            write(con, frames)
        impact = frames["fct_action_impact"]
        estimated = impact[impact["result"] == "estimated"]
        context.log.info(
            f"{len(impact)} action x indicator pairs, {len(estimated)} estimated, as of {as_of}"
        )
        for table, frame in frames.items():
            yield dg.MaterializeResult(
                asset_key=list(TABLES[table].asset_key),
                metadata={"dagster/row_count": len(frame), "as_of": str(as_of)},
            )
        # the connection is closed: dbt opens the warehouse itself
        yield from run_impact_source_tests(
            dbt, deployment.paths.warehouse, manifest, checks, context.log
        )

    return _impact


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[build_impact_assets(loaded_dbt_project())])
