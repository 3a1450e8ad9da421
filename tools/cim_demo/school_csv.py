"""Kind ``school_csv``: pupils and early school leavers per district and school year.

Pupil numbers follow the residents model (12-17 year olds on 1 January of the school
year's second calendar year), so the education file agrees with the population file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cim_demo.context import DATA, Context
from cim_demo.formats import write_csv
from cim_demo.timeline import school_year_period

KIND = "school_csv"


def generate(ctx: Context, feed_id: str, section: dict[str, Any]) -> None:
    contract = ctx.spec.contract(feed_id)
    res = ctx.residents
    districts = res.district_codes
    rates = np.array([float(section["leaver_rate"][d]) for d in districts])
    band = res.band_index(str(section["pupil_age_band"]))
    first, last = section["school_years"]
    for year in range(int(first), int(last) + 1):
        period = school_year_period(year)
        delivery = ctx.plan(feed_id, period)
        if delivery is None:
            continue
        gen = ctx.rng(feed_id, period.key, DATA)
        teens = res.by_district(year + 1)[:, band]
        pupils = gen.poisson(teens * float(section["pupils_per_resident_12_17"]))
        leavers = gen.binomial(pupils, rates)
        label = f"{year}-{year + 1}"
        columns = {
            "school_year": np.array([label] * len(districts), dtype=object),
            "district_code": np.array(districts, dtype=object),
            "pupils": pupils.astype(str).astype(object),
            "early_leavers": leavers.astype(str).astype(object),
        }
        invalid = ctx.spoil(feed_id, period, columns, len(districts))
        path = ctx.landing_path(section, period)
        write_csv(path, contract, columns)
        ctx.finish(delivery, KIND, path, len(districts), invalid)
