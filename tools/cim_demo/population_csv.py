"""Kind ``population_csv``: residents per neighbourhood and age band on 1 January.

Written like a statistics-office export that went through a spreadsheet: codes lost their
leading zero and counts of 1,000 or more carry the dialect's thousands separator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cim_demo.context import Context
from cim_demo.formats import allowed_of, dialect, integers, write_csv
from cim_demo.timeline import year_period

KIND = "population_csv"


def generate(ctx: Context, feed_id: str, section: dict[str, Any]) -> None:
    contract = ctx.spec.contract(feed_id)
    thousands = dialect(contract).get("thousands")
    res = ctx.residents
    bands = allowed_of(contract, "age_band")
    missing = set(bands) - set(res.bands)
    if missing:
        raise ValueError(f"{feed_id}: residents model lacks age bands {sorted(missing)}")
    band_idx = np.array([res.band_index(b) for b in bands])
    codes = np.array(res.codes, dtype=object)
    if section.get("strip_leading_zeros"):
        codes = np.array([c.lstrip("0") for c in res.codes], dtype=object)
    first, last = section["years"]
    for year in range(int(first), int(last) + 1):
        period = year_period(year)
        delivery = ctx.plan(feed_id, period)
        if delivery is None:
            continue
        counts = res.counts(year)[:, band_idx]
        dwellings = res.dwellings(year)[:, band_idx]
        n_areas, n_bands = counts.shape
        columns = {
            "area_code": np.repeat(codes, n_bands),
            "age_band": np.tile(np.array(bands, dtype=object), n_areas),
            "residents": integers(counts.ravel(), thousands),
            "dwellings": integers(dwellings.ravel(), thousands),
        }
        n = n_areas * n_bands
        invalid = ctx.spoil(feed_id, period, columns, n)
        path = ctx.landing_path(section, period)
        write_csv(path, contract, columns, line_terminator=section.get("line_terminator", "\n"))
        ctx.finish(delivery, KIND, path, n, invalid)
