"""Shared state of one generator run: random streams, delivery planning and the manifest.

Kinds (one module per kind of partner file) ask the context *whether and when* a period is
delivered and hand back each written file; the generic truths (late, missing and malformed
deliveries) are applied here so no kind has to know about them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from cim_demo.formats import inject_invalid
from cim_demo.residents import Residents
from cim_demo.spec import DemoSpec
from cim_demo.timeline import Period, due_date, office_moment, rng, stream_key

# Sub-stream tags: data, injected defects and delivery moments of one period never share
# random numbers, so changing one of them does not shift the others.
DATA, DEFECTS, DELIVERY, ATTRS = 0, 1, 2, 3


@dataclass(frozen=True)
class Delivery:
    feed: str
    period: Period
    due: date | None
    delivered_at: datetime


class Context:
    def __init__(self, spec: DemoSpec, landing_dir: Path, incidents: int | None = None):
        self.spec = spec
        self.landing_dir = landing_dir
        self.incidents = incidents
        self.tz = ZoneInfo(spec.timezone)
        self.records: list[dict[str, Any]] = []
        self.missing: list[dict[str, str]] = []
        self.not_yet_delivered: list[dict[str, str]] = []
        self._residents: Residents | None = None

    @property
    def residents(self):
        """Built on first use: several kinds share one residents model per run."""
        if self._residents is None:
            self._residents = Residents(self.spec)
        return self._residents

    def rng(self, feed_id: str, *keys: int) -> np.random.Generator:
        return rng(self.spec.seed, stream_key(feed_id), *keys)

    def truth_for(self, name: str, feed_id: str, period: Period) -> dict[str, Any] | None:
        truth = self.spec.truths.get(name)
        if truth and truth["feed"] == feed_id and str(truth["period"]) == period.label:
            return truth
        return None

    def invalid_items(self, feed_id: str, period: Period) -> list[dict[str, Any]]:
        items = self.spec.truths.get("invalid_rows", {}).get(feed_id, [])
        return [i for i in items if str(i["period"]) == period.label]

    def plan(self, feed_id: str, period: Period) -> Delivery | None:
        """When the partner delivers this period, or None if it never does (by now)."""
        if self.truth_for("missing_delivery", feed_id, period):
            self.missing.append({"feed": feed_id, "period": period.label})
            return None
        contract = self.spec.contract(feed_id)
        due = due_date(contract, period)
        if due is None:
            raise ValueError(f"{feed_id}: no due date in contract; deliver it explicitly")
        gen = self.rng(feed_id, period.key, DELIVERY)
        late = self.truth_for("late_delivery", feed_id, period)
        if late:
            day = due + timedelta(days=int(late["days_late"]))
        else:
            low, high = self.spec.demo["delivery"]["days_before_due"]
            day = due - timedelta(days=int(gen.integers(low, high + 1)))
        moment = office_moment(day, gen, self.spec.demo["delivery"]["office_hours"], self.tz)
        if moment.date() > self.spec.as_of:
            self.not_yet_delivered.append({"feed": feed_id, "period": period.label})
            return None
        return Delivery(feed_id, period, due, moment)

    def redeliver(self, delivery: Delivery, days_after_due: int) -> Delivery:
        """A second delivery of the same period (a correction), on a later office day."""
        gen = self.rng(delivery.feed, delivery.period.key, DELIVERY, 1)
        day = (delivery.due or delivery.delivered_at.date()) + timedelta(days=days_after_due)
        hours = self.spec.demo["delivery"]["office_hours"]
        return Delivery(
            delivery.feed, delivery.period, delivery.due, office_moment(day, gen, hours, self.tz)
        )

    def spoil(
        self, feed_id: str, period: Period, columns: dict[str, Any], rows: int
    ) -> list[dict[str, Any]]:
        """Overwrite the rows demo.yaml declares invalid for this delivery; what was done."""
        items = self.invalid_items(feed_id, period)
        return inject_invalid(columns, rows, items, self.rng(feed_id, period.key, DEFECTS))

    def landing_path(self, section: dict[str, Any], period: Period) -> Path:
        """Where a delivery lands: the feed's file name template filled for the period."""
        return self.landing_dir / section["file_name"].format(**period.fields)

    def finish(
        self,
        delivery: Delivery,
        kind: str,
        path: Path,
        rows: int,
        invalid: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Apply the malformed-file truth, stamp the mtime and record the file."""
        invalid = invalid or []
        malformed = self.truth_for("malformed", delivery.feed, delivery.period)
        if malformed:
            data = path.read_bytes()
            path.write_bytes(data[: int(len(data) * float(malformed["keep_fraction"]))])
        stamp = delivery.delivered_at.timestamp()
        os.utime(path, (stamp, stamp))
        sla = self.spec.contract(delivery.feed).get("sla") or {}
        days_late = (
            max(0, (delivery.delivered_at.date() - delivery.due).days) if delivery.due else 0
        )
        record = {
            "file": path.name,
            "feed": delivery.feed,
            "kind": kind,
            "period": delivery.period.label,
            "due_date": delivery.due.isoformat() if delivery.due else None,
            "grace_days": sla.get("grace_days"),
            "delivered_at": delivery.delivered_at.isoformat(),
            "mtime": int(stamp),
            "days_late": days_late,
            "late": bool(delivery.due and days_late > int(sla.get("grace_days", 0))),
            "rows": rows,
            "invalid_rows": sum(i["rows"] for i in invalid),
            "invalid": invalid,
            "skipped_rows": 0,
            "malformed": bool(malformed),
            "superseded_by": None,
            "corrects": None,
            "bytes": path.stat().st_size,
        }
        record.update(extra)
        self.records.append(record)
        return record
