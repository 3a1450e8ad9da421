"""Kind ``registry_csv``: full snapshots of the action registry (``actions:`` in demo.yaml).

Snapshots have no due date (the contract's cadence is "on change"), so each one names its
own delivery moment in demo.yaml, in the city's local time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from cim_demo.context import Context, Delivery
from cim_demo.formats import dialect, inject_invalid, write_csv
from cim_demo.timeline import Period, stream_key

KIND = "registry_csv"


def _date(value: Any, fmt: str) -> str:
    """Dates in the contract\'s format; an open-ended action has an empty end date."""
    return date.fromisoformat(str(value)).strftime(fmt) if value else ""


def generate(ctx: Context, feed_id: str, section: dict[str, Any]) -> None:
    contract = ctx.spec.contract(feed_id)
    d = dialect(contract)
    fmt, sep = d.get("date_format", "%Y-%m-%d"), d.get("list_separator", "|")
    by_id = {a["action_id"]: a for a in ctx.spec.actions}
    for snap in section["snapshots"]:
        moment = datetime.fromisoformat(str(snap["delivered_at"])).replace(tzinfo=ctx.tz)
        if moment.date() > ctx.spec.as_of:
            ctx.not_yet_delivered.append({"feed": feed_id, "period": moment.date().isoformat()})
            continue
        day = moment.date()
        period = Period(day.isoformat(), day, day, {"date": day.isoformat()}, day.toordinal())
        actions = [by_id[a] for a in snap["actions"]]
        columns = {
            "action_id": [a["action_id"] for a in actions],
            "partner_id": [a["partner"] for a in actions],
            "action_name": [a["name"] for a in actions],
            "goal_id": [a["goal"] for a in actions],
            "target_areas": [sep.join(a["target_areas"]) for a in actions],
            "comparison_areas": [sep.join(a.get("comparison_areas") or []) for a in actions],
            "start_date": [_date(a["start"], fmt) for a in actions],
            "end_date": [_date(a.get("end"), fmt) for a in actions],
            "description": [a.get("description", "") for a in actions],
        }
        invalid = inject_invalid(
            columns,
            len(actions),
            ctx.invalid_items(feed_id, period),
            ctx.rng(feed_id, stream_key(period.label)),
        )
        path = ctx.landing_dir / snap["file_name"].format(**period.fields)
        write_csv(path, contract, columns)
        ctx.finish(
            Delivery(feed_id, period, None, moment),
            KIND,
            path,
            len(actions),
            invalid,
            actions=list(snap["actions"]),
        )
