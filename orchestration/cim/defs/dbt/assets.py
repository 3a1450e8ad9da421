"""The dbt models as Dagster assets, downstream of the ingestion assets they read."""

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from cim import settings
from cim.defs.dbt.project import loaded_dbt_project, warehouse_env
from cim.defs.resources import Deployment


class Translator(DagsterDbtTranslator):
    """Groups follow the dbt folders (staging, intermediate, marts)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "marts"


def build_args() -> list[str]:
    """``dbt build``, judged on today, or on ``CIM_AS_OF`` / the demo's own date
    (``settings.judgement_day``)."""
    as_of = settings.as_of_override()
    return ["build", *(["--vars", json.dumps({"as_of": as_of})] if as_of else [])]


@functools.cache  # one definition per prepared project, however many modules ask
def build_dbt_assets(project: DbtProject) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=Translator(),
        name="indicator_mart",
        # the impact tables are written after the mart; their asset tests them (cim.defs.impact)
        exclude="source:impact+",
    )
    def _mart(context: dg.AssetExecutionContext, dbt: DbtCliResource, deployment: Deployment):
        day, source = settings.judgement_day(
            deployment.paths.home, settings.city_dir(), dt.date.today()
        )
        context.log.info(f"feed health and checks judged on {day} ({source})")
        with warehouse_env(deployment.paths.warehouse):
            invocation = dbt.cli(build_args(), context=context)
        yield from invocation.stream()

    return _mart


@dg.definitions
def defs() -> dg.Definitions:
    project = loaded_dbt_project()
    return dg.Definitions(assets=[build_dbt_assets(project)])
