"""Dagster code location of Collective Impact Monitor.

The city (CIM_CITY) and the data folder (CIM_HOME) come from the environment, so the
same code serves any city: its assets are generated from that city's contracts.
"""

from __future__ import annotations

import dagster as dg

from cim import settings
from cim.city import load_city
from cim.defs.agenda.assets import build_city_config_asset
from cim.defs.dbt.assets import build_dbt_assets
from cim.defs.dbt.project import prepare
from cim.defs.health.assets import build_health_assets
from cim.defs.impact.assets import build_impact_assets
from cim.defs.ingestion.assets import GROUP, LEDGER_KEY, build_ingestion_assets
from cim.defs.ingestion.sensors import build_landing_sensor
from cim.defs.publish.assets import build_publish_asset
from cim.defs.publish.sensors import build_failure_sensor
from cim.defs.quality.checks import build_quality_checks
from cim.defs.resources import Deployment


def build_definitions() -> dg.Definitions:
    city = load_city(settings.city_dir())
    deployment = Deployment.from_env()
    dbt_project = prepare(city, deployment.paths.warehouse)
    # One DuckDB file admits one writer: steps run one after another in one process.
    ingest_job = dg.define_asset_job(
        "ingest_feeds",
        selection=dg.AssetSelection.groups(GROUP),
        executor_def=dg.in_process_executor,
        description="Ingest every file waiting in the landing folder.",
    )
    pipeline_job = dg.define_asset_job(
        "pipeline",
        selection=dg.AssetSelection.all(),
        executor_def=dg.in_process_executor,
        description="The whole pipeline once: ingest every feed, then everything downstream.",
    )
    mart = build_dbt_assets(dbt_project)
    overdue_check, reminders = build_health_assets(city)
    impact = build_impact_assets()
    published_from = [key for key in [*mart.keys, *impact.keys] if key.path[0] == "marts"]
    return dg.Definitions(
        assets=[
            *build_ingestion_assets(city),
            build_city_config_asset(city),
            mart,
            impact,
            reminders,
            build_publish_asset([*published_from, LEDGER_KEY]),
        ],
        asset_checks=[overdue_check, *build_quality_checks(city)],
        jobs=[ingest_job, pipeline_job],
        sensors=[build_landing_sensor(city, ingest_job), build_failure_sensor()],
        schedules=[
            # health is judged against today: refresh it daily even when nothing arrives
            dg.ScheduleDefinition(
                name="daily_refresh",
                job=pipeline_job,
                cron_schedule="0 6 * * *",
                execution_timezone=city.settings.timezone,
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
        resources={"deployment": deployment},
        executor=dg.in_process_executor,
    )


defs = build_definitions()
