"""Kind ``participation_csv``: monthly sessions and participants per area and action.

Rows exist only for the registered actions of the feed's own partner (``actions:`` in
demo.yaml, matched on the contract's ``partner``), in their target areas, from their start
month to their end month. Participant counts below the threshold are written as the
contract's suppression marker; session counts are activities, not people, and stay exact.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from cim_demo.context import DATA, Context
from cim_demo.formats import write_csv
from cim_demo.timeline import month_period, stream_key

KIND = "participation_csv"


def _active(action: dict[str, Any], start: date, end: date) -> bool:
    """An action reports for every month it overlaps, including its first partial month."""
    first = date.fromisoformat(str(action["start"]))
    last = date.fromisoformat(str(action["end"])) if action.get("end") else None
    return first <= end and (last is None or last >= start)


def _suppress(values: np.ndarray, below: int, marker: str) -> np.ndarray:
    """Partners hide small counts of people themselves (disclosure control), as text."""
    out = values.astype(str).astype(object)
    out[values < below] = marker
    return out


def generate(ctx: Context, feed_id: str, section: dict[str, Any]) -> None:
    contract = ctx.spec.contract(feed_id)
    actions = [a for a in ctx.spec.actions if a["partner"] == contract["partner"]]
    marker = (contract.get("suppressed_markers") or ["<5"])[0]
    below = int(section["suppress_below"])
    factors = np.array(section.get("month_factors") or [1.0] * 12, dtype=float)
    means, shares = {}, {}
    for action in actions:
        gen = ctx.rng(feed_id, stream_key(action["action_id"]), DATA)
        k = len(action["target_areas"])
        means[action["action_id"]] = gen.uniform(*section["participants_mean"], size=k)
        shares[action["action_id"]] = gen.uniform(*section["share_aged_12_24"], size=k)
    for ordinal in range(ctx.spec.first_month, ctx.spec.last_month + 1):
        period = month_period(ordinal)
        delivery = ctx.plan(feed_id, period)
        if delivery is None:
            continue
        gen = ctx.rng(feed_id, period.key, DATA)
        factor = factors[ordinal % 12]
        rows: list[tuple[str, str, int, int, int]] = []
        for action in actions:
            if not _active(action, period.start, period.end):
                continue
            aid = action["action_id"]
            k = len(action["target_areas"])
            sessions = np.rint(
                gen.integers(*section["sessions"], size=k, endpoint=True) * factor
            ).astype(int)
            people = gen.poisson(means[aid] * factor)
            young = gen.binomial(people, shares[aid])
            rows.extend(
                zip(
                    action["target_areas"],
                    [aid] * k,
                    sessions.tolist(),
                    people.tolist(),
                    young.tolist(),
                    strict=True,
                )
            )
        rows.sort()
        if not rows:
            continue
        area, aid, sessions, people, young = (
            np.array(c, dtype=object) for c in zip(*rows, strict=True)
        )
        columns = {
            "neighbourhood_code": area,
            "action_id": aid,
            "sessions": sessions.astype(str),
            "participants": _suppress(people.astype(int), below, marker),
            "participants_aged_12_24": _suppress(young.astype(int), below, marker),
        }
        invalid = ctx.spoil(feed_id, period, columns, len(rows))
        path = ctx.landing_path(section, period)
        write_csv(path, contract, columns)
        ctx.finish(
            delivery,
            KIND,
            path,
            len(rows),
            invalid,
            suppressed_cells=int(
                sum(
                    (c == marker).sum()
                    for c in (columns["participants"], columns["participants_aged_12_24"])
                )
            ),
        )
