"""The dbt models as Dagster assets, downstream of the ingestion assets they read."""

import json
import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from cim.defs.dbt.project import DBT_EXECUTABLE, warehouse_env
from cim.defs.resources import Deployment


class _Translator(DagsterDbtTranslator):
    """Groups follow the dbt folders (staging, intermediate, marts)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "marts"


def _vars() -> list[str]:
    """CIM_AS_OF replays feed health on a given day (tests, demos); default: today."""
    as_of = os.environ.get("CIM_AS_OF")
    return ["--vars", json.dumps({"as_of": as_of})] if as_of else []


def build_dbt_assets(project: DbtProject) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=_Translator(),
        name="indicator_mart",
        # the impact tables are written after the mart; their asset tests them (cim.defs.impact)
        exclude="source:impact+",
    )
    def _mart(context: dg.AssetExecutionContext, deployment: Deployment):
        warehouse_env(deployment.paths.warehouse)
        dbt = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
        yield from dbt.cli(["build", *_vars()], context=context).stream()

    return _mart
