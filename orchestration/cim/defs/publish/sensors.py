"""Say why a run did not publish, also for runs started by the UI, a schedule or a sensor.

A failed step (a dbt test, a crash) skips the publish step, so nothing else would
write down why the dashboard still shows the previous snapshot.
"""

import dagster as dg

from cim.defs.resources import Deployment
from cim.publish import record_blocked


def build_failure_sensor() -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="record_failed_runs",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Writes each failed run and its failed steps to published/publish_log.jsonl.",
    )
    def _record(context: dg.RunFailureSensorContext, deployment: Deployment) -> None:
        steps = [event.step_key for event in context.get_step_failure_events()]
        reasons = [f"step failed: {step}" for step in steps] or [
            _root_cause(context.failure_event) or context.failure_event.message or ""
        ]
        record_blocked(deployment.paths, context.dagster_run.run_id, reasons)

    return _record


def _root_cause(event: dg.DagsterEvent) -> str | None:
    """The first line of the innermost error: e.g. why the run could not start (another
    run held CIM_HOME), where the run failure itself only says a resource failed."""
    error = getattr(event.event_specific_data, "error", None)
    while error is not None and error.cause is not None:
        error = error.cause
    lines = error.message.strip().splitlines() if error is not None else []
    return lines[0] if lines else None


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[build_failure_sensor()])
