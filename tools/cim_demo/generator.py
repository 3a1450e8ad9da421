"""Entry point: run every feed's kind, then write the manifest of what was delivered.

The manifest lives outside the landing folder (the platform must not ingest it) and is the
answer key for ingestion tests: per file the data rows, the rows made invalid on purpose and
why, and which file is late, malformed, superseded or a correction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cim.settings import DEMO_DATE_FILE

from cim_demo import (
    complaints_xlsx,
    event_csv,
    participation_csv,
    population_csv,
    registry_csv,
    report_json,
    school_csv,
    survey_csv,
)
from cim_demo.context import Context
from cim_demo.spec import load_demo_spec

KINDS: dict[str, Callable[[Context, str, dict[str, Any]], None]] = {
    module.KIND: module.generate
    for module in (
        population_csv,
        event_csv,
        report_json,
        complaints_xlsx,
        participation_csv,
        survey_csv,
        school_csv,
        registry_csv,
    )
}


def _feed_totals(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per-feed sums; ``*_current`` count only files an ingestion should end up keeping
    (not malformed, not superseded by a correction)."""
    totals: dict[str, dict[str, int]] = {}
    for r in records:
        t = totals.setdefault(
            r["feed"],
            dict.fromkeys(
                (
                    "files",
                    "rows",
                    "invalid_rows",
                    "skipped_rows",
                    "malformed_files",
                    "superseded_files",
                    "late_files",
                    "rows_current",
                    "invalid_rows_current",
                ),
                0,
            ),
        )
        t["files"] += 1
        t["malformed_files"] += r["malformed"]
        t["superseded_files"] += r["superseded_by"] is not None
        t["late_files"] += r["late"]
        if r["malformed"]:
            continue
        t["rows"] += r["rows"]
        t["invalid_rows"] += r["invalid_rows"]
        t["skipped_rows"] += r["skipped_rows"]
        if r["superseded_by"] is None:
            t["rows_current"] += r["rows"]
            t["invalid_rows_current"] += r["invalid_rows"]
    return totals


def _realised(ctx: Context) -> dict[str, Any]:
    """Where each declared truth ended up; raises if one could not be realised, so the
    manifest never promises a truth the files do not contain."""
    truths, records = ctx.spec.truths, ctx.records
    out: dict[str, Any] = {}

    def find(truth: dict[str, Any], **cond: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in records
            if r["feed"] == truth["feed"]
            and r["period"] == str(truth["period"])
            and all(r.get(k) == v for k, v in cond.items())
        ]

    if "late_delivery" in truths:
        hit = find(truths["late_delivery"], late=True)
        if not hit:
            raise RuntimeError("late_delivery truth not realised")
        out["late_delivery"] = {
            k: hit[0][k] for k in ("file", "due_date", "grace_days", "delivered_at", "days_late")
        }
    if "missing_delivery" in truths:
        truth = truths["missing_delivery"]
        if (
            find(truth)
            or {"feed": truth["feed"], "period": str(truth["period"])} not in ctx.missing
        ):
            raise RuntimeError("missing_delivery truth not realised")
        out["missing_delivery"] = dict(truth)
    if "correction" in truths:
        first = [r for r in find(truths["correction"]) if r["superseded_by"]]
        second = [r for r in find(truths["correction"]) if r["corrects"]]
        if not (first and second):
            raise RuntimeError("correction truth not realised")
        out["correction"] = {
            "original": first[0]["file"],
            "original_rows": first[0]["rows"],
            "correction": second[0]["file"],
            "correction_rows": second[0]["rows"],
        }
    if "malformed" in truths:
        hit = find(truths["malformed"], malformed=True)
        if not hit:
            raise RuntimeError("malformed truth not realised")
        out["malformed"] = {"file": hit[0]["file"]}
    out["invalid_rows"] = {
        feed: sum(r["invalid_rows"] for r in records if r["feed"] == feed)
        for feed in truths.get("invalid_rows", {})
    }
    out["action_effects"] = truths.get("action_effects", [])
    return out


def generate_demo_city(
    city_dir: Path,
    landing_dir: Path,
    *,
    incidents: int | None = None,
    manifest_path: Path | None = None,
) -> dict[str, Any]:
    """Write every demo delivery into ``landing_dir`` (mtime = delivery moment) and a JSON
    manifest next to it. ``incidents`` overrides the expected number of incident rows."""
    started = time.perf_counter()
    spec = load_demo_spec(city_dir)
    landing_dir = Path(landing_dir)
    landing_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(spec, landing_dir, incidents)
    for feed_id, section in spec.feeds.items():
        KINDS[section["kind"]](ctx, feed_id, section)
    records = sorted(ctx.records, key=lambda r: (r["feed"], r["mtime"], r["file"]))
    manifest = {
        "generator": "cim_demo",
        "city": spec.city.get("id"),
        "seed": spec.seed,
        "as_of": spec.as_of.isoformat(),
        "period": dict(spec.demo["period"]),
        "incidents_requested": incidents,
        "files": records,
        "feeds": _feed_totals(records),
        "missing": ctx.missing,
        "not_yet_delivered": ctx.not_yet_delivered,
        "truths": _realised(ctx),
    }
    manifest_path = Path(manifest_path or landing_dir.parent / "demo_manifest.json")
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    # The deployment that receives these files is judged on the demo's own "today" (see
    # cim.settings.judgement_day): its deliveries end there, whatever the real date.
    demo_date = landing_dir.parent / DEMO_DATE_FILE
    demo_date.write_text(
        json.dumps(
            {
                "city": manifest["city"],
                "as_of": manifest["as_of"],
                "written_by": "cim-demo",
                "why": "judge this demo city on the day its simulated deliveries end",
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    feeds = manifest["feeds"]
    return {
        "landing_dir": str(landing_dir),
        "manifest": str(manifest_path),
        "demo_date": str(demo_date),
        "files": {feed: t["files"] for feed, t in feeds.items()},
        "rows": {feed: t["rows"] for feed, t in feeds.items()},
        "seconds": round(time.perf_counter() - started, 2),
    }
