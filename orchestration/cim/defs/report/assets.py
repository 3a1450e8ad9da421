"""A report per goal of the agenda, in the city's default language, from the served
snapshot: CIM_HOME/published/reports/<snapshot_id>/<goal>-<lang>.pdf.

The daily pipeline leaves it out (a council meets quarterly, and a report per daily
snapshot would pile up); the quarterly schedule writes it from the snapshot served then.
"""

import dagster as dg

from cim.city import City
from cim.defs.publish.assets import SNAPSHOT_KEY
from cim.defs.resources import Deployment, loaded_city
from cim.publish import current_manifest
from cim.report import build_report, public_stories, write_report

REPORTS_KEY = dg.AssetKey(["published", "reports"])
REPORTS_GROUP = "report"
REPORTS_SCHEDULE = "quarterly_reports"


def report_file(paths, snapshot_id: str, goal: str, lang: str):
    return paths.published / "reports" / snapshot_id / f"{goal}-{lang}.pdf"


@dg.asset(
    key=REPORTS_KEY,
    group_name=REPORTS_GROUP,
    kinds={"pdf"},
    deps=[SNAPSHOT_KEY],
    description="The council report (PDF) of every goal of the agenda in the city's default "
    "language, from the served snapshot, in CIM_HOME/published/reports/<snapshot_id>/.",
)
def reports(
    context: dg.AssetExecutionContext, deployment: Deployment, city: dg.ResourceParam[City]
) -> dg.MaterializeResult:
    paths = deployment.paths
    manifest = current_manifest(paths)
    if manifest is None:
        raise dg.Failure(description="Nothing is published yet: run the pipeline first.")
    lang = city.settings.languages[0]
    stories = public_stories(paths)
    written = [
        write_report(
            report_file(paths, manifest["snapshot_id"], goal.id, lang),
            build_report(paths, goal=goal.id, lang=lang, stories=stories),
        )
        for goal in city.agenda.goals
    ]
    for file in written:
        context.log.info(f"report written: {file}")
    return dg.MaterializeResult(
        metadata={
            "snapshot_id": manifest["snapshot_id"],
            "language": lang,
            "reports": dg.MetadataValue.json([str(f) for f in written]),
        }
    )


@dg.definitions
def defs() -> dg.Definitions:
    # the first day of each quarter, after the daily refresh (06:00) has published
    quarterly = dg.ScheduleDefinition(
        name=REPORTS_SCHEDULE,
        target=dg.AssetSelection.assets(REPORTS_KEY),
        cron_schedule="0 8 1 1,4,7,10 *",
        execution_timezone=loaded_city().settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return dg.Definitions(assets=[reports], schedules=[quarterly])
