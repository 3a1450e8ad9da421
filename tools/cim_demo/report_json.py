"""Kind ``report_json``: a monthly JSON export of residents' reports (one record each).

Also carries the ``correction`` truth: the first delivery of the named month misses a share
of its records and a complete ``_v2`` file follows later, so re-delivery handling can be
tested against known row counts.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from cim_demo.context import ATTRS, DATA, Context, Delivery
from cim_demo.event_model import area_levels, seasonality
from cim_demo.formats import allowed_of, dialect, source_of
from cim_demo.timeline import month_period

KIND = "report_json"


def _draw(
    ctx: Context, feed_id: str, section: dict[str, Any], ordinal: int, contract: dict[str, Any]
) -> dict[str, Any]:
    """All records of one month, in time order; every column is a mutable array so the
    defect injection can overwrite cells in place."""
    categories = allowed_of(contract, "category")
    shares = np.array([float(section["category_shares"][c]) for c in categories])
    levels = area_levels(ctx.spec)
    season = seasonality(ctx.spec, feed_id, categories)[ordinal % 12]
    lam = (levels / levels.sum())[:, None] * (shares * season)[None, :]
    lam *= float(section["reports_per_month"]) / shares.sum()
    gen = ctx.rng(feed_id, ordinal, DATA)
    counts = gen.poisson(lam)
    cell = np.repeat(np.arange(counts.size), counts.ravel())
    n = cell.size
    period = month_period(ordinal)
    start = datetime(period.start.year, period.start.month, 1)
    seconds = np.sort(gen.integers(0, (period.end - period.start).days * 86400 + 86400, n))
    cell = cell[gen.permutation(n)]
    fmt = dialect(contract).get("timestamp_format", "%Y-%m-%dT%H:%M:%S")
    attrs = ctx.rng(feed_id, ordinal, ATTRS)
    channels = allowed_of(contract, "channel")
    ch_p = np.array([float(section["channel_shares"][c]) for c in channels])
    names, domains = section["email_names"], section["email_domains"]
    has_email = attrs.random(n) < float(section["email_share"])
    name_i, dom_i = attrs.integers(0, len(names), n), attrs.integers(0, len(domains), n)
    number = attrs.integers(1, 1000, n)
    year, month = period.fields["year"], period.fields["month"]
    return {
        "report_id": np.array(
            [f"{section['id_prefix']}-{year}{month:02d}-{k:05d}" for k in range(1, n + 1)],
            dtype=object,
        ),
        "reported_at": np.array(
            [(start + timedelta(seconds=int(s))).strftime(fmt) for s in seconds.tolist()],
            dtype=object,
        ),
        "category": np.array(categories, dtype=object)[cell % len(categories)],
        "area_code": np.array([a.code for a in ctx.spec.neighbourhoods], dtype=object)[
            cell // len(categories)
        ],
        "channel": np.array(channels, dtype=object)[
            attrs.choice(len(channels), size=n, p=ch_p / ch_p.sum())
        ],
        "reporter_email": np.array(
            [
                f"{names[i]}{k}@{domains[j]}" if e else None
                for i, j, k, e in zip(
                    name_i.tolist(),
                    dom_i.tolist(),
                    number.tolist(),
                    has_email.tolist(),
                    strict=True,
                )
            ],
            dtype=object,
        ),
    }


def _write(
    ctx: Context,
    feed_id: str,
    section: dict[str, Any],
    contract: dict[str, Any],
    delivery: Delivery,
    columns: dict[str, Any],
    file_name: str,
    version: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    """Inject defects per written version, so the incomplete first delivery and its
    correction each report their own exact invalid-row counts."""
    n = len(columns["report_id"])
    invalid = ctx.spoil(feed_id, delivery.period, columns, n)
    names = [c["name"] for c in contract["columns"] if c["name"] in columns]
    sources = [source_of(contract, name) for name in names]
    lists = [columns[name].tolist() for name in names]
    records = [dict(zip(sources, values, strict=True)) for values in zip(*lists, strict=True)]
    d = dialect(contract)
    gen = ctx.rng(feed_id, delivery.period.key, ATTRS, version)
    low, high = section["generated_minutes_before_delivery"]
    made = delivery.delivered_at - timedelta(minutes=int(gen.integers(low, high + 1)))
    head = section["export_header"]
    doc = {
        head["key"]: {
            head["source"]: section["source_label"],
            head["generated"]: made.strftime(d.get("timestamp_format", "%Y-%m-%dT%H:%M:%S")),
            head["period"]: delivery.period.label,
        },
        d.get("records_key", "records"): records,
    }
    path = ctx.landing_dir / file_name
    with path.open("w", encoding=d.get("encoding", "utf-8"), newline="\n") as fh:
        json.dump(doc, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    return ctx.finish(delivery, KIND, path, n, invalid, **extra)


def generate(ctx: Context, feed_id: str, section: dict[str, Any]) -> None:
    contract = ctx.spec.contract(feed_id)
    for ordinal in range(ctx.spec.first_month, ctx.spec.last_month + 1):
        period = month_period(ordinal)
        delivery = ctx.plan(feed_id, period)
        if delivery is None:
            continue
        columns = _draw(ctx, feed_id, section, ordinal, contract)
        name = section["file_name"].format(**period.fields)
        fix = ctx.truth_for("correction", feed_id, period)
        if fix is None:
            _write(ctx, feed_id, section, contract, delivery, columns, name)
            continue
        second = ctx.redeliver(delivery, int(fix["second_delivered_days_after_due"]))
        fixed_name = section["correction_file_name"].format(**period.fields)
        n = len(columns["report_id"])
        keep = np.sort(
            ctx.rng(feed_id, period.key, DATA, 1).choice(
                n, size=round(n * float(fix["first_version_share"])), replace=False
            )
        )
        partial = {k: v[keep] for k, v in columns.items()}
        later = second.delivered_at.date() <= ctx.spec.as_of
        _write(
            ctx,
            feed_id,
            section,
            contract,
            delivery,
            partial,
            name,
            superseded_by=fixed_name if later else None,
        )
        if later:
            _write(
                ctx,
                feed_id,
                section,
                contract,
                second,
                columns,
                fixed_name,
                version=1,
                corrects=name,
                late=False,
            )
