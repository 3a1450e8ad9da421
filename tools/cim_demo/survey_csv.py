"""Kind ``survey_csv``: resident-survey microdata, one row per respondent, with weights.

Respondents are allocated equally over districts and, within a district, over age bands by
response propensity (the young answer less). Weights post-stratify each district x age
band cell to the residents model, and are rounded so that the written weights sum *exactly*
to the adult population on 1 January of the wave year.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cim_demo.context import DATA, Context
from cim_demo.formats import allowed_of, dialect, write_csv
from cim_demo.timeline import year_period

KIND = "survey_csv"
_PLACES = 4  # decimals of the weight column


def _largest_remainder(total: int, shares: np.ndarray) -> np.ndarray:
    """Integer allocation that sums to ``total`` exactly (Hamilton's method)."""
    raw = total * shares / shares.sum()
    out = np.floor(raw).astype(np.int64)
    out[np.argsort(-(raw - out), kind="stable")[: total - out.sum()]] += 1
    return out


def _fixed_share(gen: np.random.Generator, cell: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Exactly round(n x share) ones per cell, at random rows. With ~330 respondents per
    district, independent draws would bury the declared shares (and the change after the
    action) in sampling noise; fixing the count per weighting cell makes the *weighted*
    district share equal the declared one up to rounding."""
    out = np.zeros(cell.size, dtype=int)
    for c in np.unique(cell).tolist():
        rows = np.flatnonzero(cell == c)
        out[gen.choice(rows, size=round(rows.size * float(share[c])), replace=False)] = 1
    return out


def _age_range(band: str) -> tuple[int, int]:
    """Ages from band labels (``25-44``, ``65+``) so birth years stay inside their band."""
    if band.endswith("+"):
        return int(band[:-1]), 90
    low, high = band.split("-")
    return int(low), int(high)


def _unsafe_share(ctx: Context, feed_id: str, district: str, year: int) -> float:
    """Declared share, plus the truth\'s change in the action\'s district from its wave."""
    truth = ctx.spec.truths["survey_unsafe"]
    share = float(truth["share"][district])
    if truth["feed"] == feed_id and truth["district"] == district and year >= truth["from_wave"]:
        share += float(truth["change"])
    return share


def _wave(
    ctx: Context, feed_id: str, section: dict[str, Any], contract: dict[str, Any], year: int
) -> dict[str, Any]:
    """One wave as columns, in random row order so rows do not reveal the strata."""
    res = ctx.residents
    bands = allowed_of(contract, "age_band")
    pop = res.by_district(year)[:, [res.band_index(b) for b in bands]]
    districts = res.district_codes
    per_district = _largest_remainder(int(section["respondents"]), np.ones(len(districts)))
    response = np.array([float(section["response_shares"][b]) for b in bands])
    gen = ctx.rng(feed_id, year, DATA)
    cells = [
        (d, b, max(2, int(k)))
        for d, n_d in enumerate(per_district)
        for b, k in enumerate(_largest_remainder(int(n_d), response))
    ]
    d_idx = np.concatenate([np.full(k, d) for d, _, k in cells])
    b_idx = np.concatenate([np.full(k, b) for _, b, k in cells])
    raw = np.concatenate([np.full(k, pop[d, b] / k) for d, b, k in cells]) * 10**_PLACES
    weight = np.floor(raw).astype(np.int64)
    short = int(pop.sum()) * 10**_PLACES - int(weight.sum())
    weight[np.argsort(-(raw - weight), kind="stable")[:short]] += 1
    n = weight.size
    ranges = np.array([_age_range(b) for b in bands])
    age = gen.integers(ranges[b_idx, 0], ranges[b_idx, 1], endpoint=True)
    born = year - age - (gen.random(n) < 0.5)
    p_unsafe = [_unsafe_share(ctx, feed_id, c, year) for c in districts]
    unsafe = _fixed_share(gen, d_idx * len(bands) + b_idx, np.repeat(p_unsafe, len(bands)))
    avoid_p = np.array(section["avoid_given_unsafe"], dtype=float)[unsafe]
    avoids = (gen.random(n) < avoid_p).astype(int)
    means = np.array([float(section["cohesion_mean"][c]) for c in districts])[d_idx]
    latent = gen.normal(means - 0.3 * unsafe, 0.7)
    items = np.clip(np.rint(latent[:, None] + gen.normal(0, 0.6, (n, 5))), 1, 5).astype(int)
    t_base, t_slope = section["trust_neighbours"]
    trusts_n = (gen.random(n) < np.clip(t_base + t_slope * (latent - 3), 0.02, 0.98)).astype(int)
    p_base, p_delta = section["trust_police"]
    trusts_p = (gen.random(n) < np.clip(p_base + p_delta * unsafe, 0.02, 0.98)).astype(int)
    ids = gen.choice(900_000, size=n, replace=False) + 100_000
    order = gen.permutation(n)
    dec = dialect(contract).get("decimal", ".")
    text = [f"{w // 10**_PLACES}{dec}{w % 10**_PLACES:0{_PLACES}d}" for w in weight.tolist()]
    columns = {
        "respondent_id": [f"{section['id_prefix']}{year}-{i}" for i in ids.tolist()],
        "birth_year": born.astype(str).tolist(),
        "district_code": [districts[d] for d in d_idx.tolist()],
        "age_band": [bands[b] for b in b_idx.tolist()],
        "weight": text,
        "feels_unsafe": unsafe.astype(str).tolist(),
        "avoids_places": avoids.astype(str).tolist(),
        **{f"cohesion_{k + 1}": items[:, k].astype(str).tolist() for k in range(5)},
        "trusts_neighbours": trusts_n.astype(str).tolist(),
        "trusts_police": trusts_p.astype(str).tolist(),
    }
    return {k: np.array(v, dtype=object)[order] for k, v in columns.items()}


def generate(ctx: Context, feed_id: str, section: dict[str, Any]) -> None:
    contract = ctx.spec.contract(feed_id)
    for year in section["waves"]:
        period = year_period(int(year))
        delivery = ctx.plan(feed_id, period)
        if delivery is None:
            continue
        columns = _wave(ctx, feed_id, section, contract, int(year))
        n = len(columns["respondent_id"])
        invalid = ctx.spoil(feed_id, period, columns, n)
        path = ctx.landing_path(section, period)
        write_csv(path, contract, columns)
        ctx.finish(
            delivery,
            KIND,
            path,
            n,
            invalid,
            weight_total=int(
                ctx.residents.by_district(int(year))[
                    :, [ctx.residents.band_index(b) for b in allowed_of(contract, "age_band")]
                ].sum()
            ),
        )
