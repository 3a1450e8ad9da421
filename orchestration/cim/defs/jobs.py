"""The jobs and the daily schedule.

One DuckDB file admits one writer: steps run one after another in one process.
"""

import dagster as dg

from cim.defs.ingestion.assets import GROUP
from cim.defs.resources import loaded_city
from cim.defs.selection import EVERYTHING

INGEST_JOB = "ingest_feeds"
PIPELINE_JOB = "pipeline"


@dg.definitions
def defs() -> dg.Definitions:
    ingest = dg.define_asset_job(
        INGEST_JOB,
        selection=dg.AssetSelection.groups(GROUP),
        executor_def=dg.in_process_executor,
        description="Ingest every file waiting in the landing folder.",
    )
    pipeline = dg.define_asset_job(
        PIPELINE_JOB,
        # a run of it may select a part: what changed and what depends on it (cim pipeline,
        # the landing sensor; cim.defs.selection)
        selection=EVERYTHING,
        executor_def=dg.in_process_executor,
        description="The whole pipeline once: ingest every feed, then everything downstream.",
    )
    # health is judged against today: refresh it daily even when nothing arrives
    daily = dg.ScheduleDefinition(
        name="daily_refresh",
        job=pipeline,
        cron_schedule="0 6 * * *",
        execution_timezone=loaded_city().settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return dg.Definitions(
        jobs=[ingest, pipeline], schedules=[daily], executor=dg.in_process_executor
    )
