"""Start an ingestion run when files land, only for the feeds that received something."""

import hashlib
import json

import dagster as dg

from cim.city import City
from cim.defs.ingestion.assets import TRIAGE_KEY, feed_asset_key
from cim.defs.jobs import INGEST_JOB
from cim.defs.resources import Deployment
from cim.ingest.files import scan_landing


def _signature(name: str, file_signature: tuple[int, int, int]) -> str:
    size, mtime_ns, inode = file_signature
    return f"{name}|{size}|{mtime_ns}|{inode}"


def pending_runs(city: City, landing, seen: set[str]) -> tuple[list[dg.AssetKey], set[str]]:
    """Asset keys to refresh for files not seen before, and the new set of signatures.

    A file counts as new when its name, size, modification time or identity changed, so
    a corrected file under the same name starts a run too. A file still being written is
    left out of the signatures: it starts a run once it has settled.
    """
    current, keys = set(), set()
    for delivery in scan_landing(landing, city):
        if delivery.settling:
            continue
        signature = _signature(delivery.name, delivery.signature)
        current.add(signature)
        if signature not in seen:
            keys.add(
                feed_asset_key(delivery.feed)
                if delivery.feed and not delivery.refusal
                else TRIAGE_KEY
            )
            if delivery.feed and delivery.refusal:
                keys.add(feed_asset_key(delivery.feed))
    return sorted(keys, key=lambda k: k.to_user_string()), current


def build_landing_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_folder_sensor",
        job_name=INGEST_JOB,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches CIM_HOME/landing and ingests new or changed files.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext,
        deployment: Deployment,
        city: dg.ResourceParam[City],
    ):
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        keys, current = pending_runs(city, deployment.paths.landing, seen)
        context.update_cursor(json.dumps(sorted(current)))
        if not keys:
            return dg.SkipReason("no new files in the landing folder")
        run_key = hashlib.sha256("\n".join(sorted(current - seen)).encode()).hexdigest()[:16]
        return dg.RunRequest(run_key=run_key, asset_selection=keys, tags={"cim/trigger": "landing"})

    return _sensor


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[build_landing_sensor()])
