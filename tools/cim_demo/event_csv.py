"""Kind ``event_csv``: one row per incident, one file per *registration* month.

Streams month by month: incidents are drawn per occurrence month, those registered in a
later month wait in a small buffer, and each registration month is written as soon as it is
complete. Memory stays flat whatever the total (10 million rows take the same RAM as 100k).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import numpy as np

from cim_demo.context import ATTRS, DATA, Context
from cim_demo.event_model import Batch, IncidentModel
from cim_demo.formats import allowed_of, amounts, dialect, write_csv
from cim_demo.timeline import month_ordinal, month_period, month_start

KIND = "event_csv"


class _Tables:
    """Lookup tables built once per run so every per-row value is an array index, not a
    Python call: this is what makes 10 million rows affordable."""

    def __init__(self, model: IncidentModel, section: dict[str, Any], contract: dict[str, Any]):
        d = dialect(contract)
        self.decimal, self.thousands = d.get("decimal", "."), d.get("thousands")
        first = month_start(model.first)
        self.base = first.toordinal()
        last = month_start(model.last + 1) + timedelta(days=model.long_days[1])
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        fmt = d.get("date_format", "%Y-%m-%d")
        self.day_text = np.array([day.strftime(fmt) for day in days], dtype=object)
        self.day_month = np.array([month_ordinal(day) for day in days])
        self.codes = np.array(model.codes, dtype=object)
        self.categories = np.array(model.categories, dtype=object)
        places = allowed_of(contract, "place_type")
        self.places = np.array(places, dtype=object)
        probs = np.array(
            [
                [float(section["place_types"][c].get(p, 0.0)) for p in places]
                for c in model.categories
            ]
        )
        self.place_cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
        dmg = section["damage"]
        self.damage_share = np.array([float(dmg["share"][c]) for c in model.categories])
        self.damage_mu, self.damage_sd = float(dmg["log_mean"]), float(dmg["log_sd"])
        self.names = np.array(
            [f"{f} {s}" for f in section["first_names"] for s in section["last_names"]],
            dtype=object,
        )


def _national_numbers(gen: np.random.Generator, n: int) -> list[str]:
    """Fake national-number-like strings (YY.MM.DD-NNN.CC). The two check digits are chosen
    to be wrong for both century variants, so no value can be a real person's number."""
    yy, mm, dd = gen.integers(40, 100, n), gen.integers(1, 13, n), gen.integers(1, 29, n)
    seq = gen.integers(1, 999, n)
    body = yy * 10_000_000 + mm * 100_000 + dd * 1000 + seq
    valid_old, valid_new = 97 - body % 97, 97 - (2_000_000_000 + body) % 97
    check = gen.integers(0, 100, n)
    for _ in range(3):
        clash = (check == valid_old) | (check == valid_new)
        check[clash] = (check[clash] + 1) % 100
    return [
        f"{a:02d}.{b:02d}.{c:02d}-{s:03d}.{k:02d}"
        for a, b, c, s, k in zip(
            yy.tolist(), mm.tolist(), dd.tolist(), seq.tolist(), check.tolist(), strict=True
        )
    ]


def _columns(
    rows: Batch,
    t: _Tables,
    section: dict[str, Any],
    year: int,
    first_number: int,
    gen: np.random.Generator,
) -> dict[str, Any]:
    """Per-row attributes of one registration month, vectorised; ``gen`` is that month\'s own
    stream so a month\'s contents do not depend on how many rows other months had."""
    n = rows.area.size
    prefix, digits = section["id_prefix"], int(section["id_digits"])
    ids = [f"{prefix}/{year}/{k:0{digits}d}" for k in range(first_number, first_number + n)]
    u = gen.random(n)
    place = np.minimum((u[:, None] > t.place_cum[rows.cat]).sum(axis=1), len(t.places) - 1)
    area = t.codes[rows.area]
    area[gen.random(n) < float(section["blank_area_share"])] = ""
    damage = np.full(n, "", dtype=object)
    has_damage = gen.random(n) < t.damage_share[rows.cat]
    cents = np.rint(np.exp(gen.normal(t.damage_mu, t.damage_sd, n)) * 100).astype(np.int64)
    damage[has_damage] = amounts(cents[has_damage], t.decimal, t.thousands)
    victim = np.full(n, "", dtype=object)
    has_victim = gen.random(n) < float(section["victim_share"])
    victim[has_victim] = t.names[gen.integers(0, t.names.size, int(has_victim.sum()))]
    suspect = np.full(n, "", dtype=object)
    has_suspect = gen.random(n) < float(section["suspect_share"])
    suspect[has_suspect] = _national_numbers(gen, int(has_suspect.sum()))
    return {
        "incident_id": ids,
        "occurred_on": t.day_text[rows.occurred - t.base],
        "registered_on": t.day_text[rows.registered - t.base],
        "offence_category": t.categories[rows.cat],
        "place_type": t.places[place],
        "area_code": area,
        "damage_eur": damage,
        "victim_name": victim,
        "suspect_national_number": suspect,
    }


def generate(ctx: Context, feed_id: str, section: dict[str, Any]) -> None:
    contract = ctx.spec.contract(feed_id)
    model = IncidentModel(ctx.spec, feed_id, section, contract, ctx.incidents)
    tables = _Tables(model, section, contract)
    first = ctx.spec.first_month
    pending: dict[int, list[Batch]] = defaultdict(list)
    next_number: dict[int, int] = defaultdict(lambda: 1)
    for ordinal in range(model.first, model.last + 1):
        batch = model.draw(ordinal, ctx.rng(feed_id, ordinal, DATA))
        reg_month = tables.day_month[batch.registered - tables.base]
        for month in np.unique(reg_month).tolist():
            if first <= month <= model.last:
                pending[month].append(batch.select(reg_month == month))
        if ordinal < first:
            continue
        rows = Batch.concat(pending.pop(ordinal, []))
        period = month_period(ordinal)
        year = period.fields["year"]
        gen = ctx.rng(feed_id, period.key, ATTRS)
        order = np.argsort(rows.registered[perm := gen.permutation(rows.area.size)], kind="stable")
        rows = rows.select(perm[order])
        number = next_number[year]
        next_number[year] += rows.area.size
        delivery = ctx.plan(feed_id, period)
        if delivery is None:
            continue
        columns = _columns(rows, tables, section, year, number, gen)
        n = rows.area.size
        invalid = ctx.spoil(feed_id, period, columns, n)
        path = ctx.landing_path(section, period)
        write_csv(path, contract, columns, line_terminator=section.get("line_terminator", "\n"))
        blank = int((np.asarray(columns["area_code"], dtype=object) == "").sum())
        ctx.finish(delivery, KIND, path, n, invalid, blank_area_rows=blank)
