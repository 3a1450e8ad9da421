"""Weighted displacement difference (Wheeler & Ratcliffe 2018) for place-based actions.

Did the problem move next door? Counts before (0) and after (1) in the treated zone T, a
displacement zone D around it and comparison areas C over equally long windows:

    WDD = (T1 - T0) - s_T (C1 - C0) + (D1 - D0) - s_D (C1 - C0)

A negative WDD is a net fall after counting any rise next door. Wheeler & Ratcliffe
compare raw counts of zones of similar size; the comparison areas here are usually larger
or smaller than each zone, so their change is scaled to the zone's pre-period count
(s_T = T0 / C0, s_D = D0 / C0). The variance treats counts as Poisson and the scales as
fixed, as the original test does with its counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class Counts:
    before: float
    after: float


@dataclass(frozen=True)
class Displacement:
    wdd: float
    wdd_se: float
    wdd_lower: float
    wdd_upper: float
    displacement: float  # change in the displacement zone beyond the comparison's
    displacement_lower: float
    displacement_upper: float


def weighted_displacement_difference(
    treated: Counts, displacement: Counts, comparison: Counts, level: float = 0.95
) -> Displacement | None:
    """None when a zone has no events before the start (nothing to scale by)."""
    if min(treated.before, displacement.before, comparison.before) <= 0:
        return None
    z = stats.norm.ppf(0.5 + level / 2)
    change_c = comparison.after - comparison.before
    scale_t = treated.before / comparison.before
    scale_d = displacement.before / comparison.before
    in_zone = displacement.after - displacement.before - scale_d * change_c
    wdd = treated.after - treated.before - scale_t * change_c + in_zone
    var_c = comparison.before + comparison.after
    se = math.sqrt(
        treated.before
        + treated.after
        + displacement.before
        + displacement.after
        + (scale_t + scale_d) ** 2 * var_c
    )
    se_zone = math.sqrt(displacement.before + displacement.after + scale_d**2 * var_c)
    return Displacement(
        wdd=wdd,
        wdd_se=se,
        wdd_lower=wdd - z * se,
        wdd_upper=wdd + z * se,
        displacement=in_zone,
        displacement_lower=in_zone - z * se_zone,
        displacement_upper=in_zone + z * se_zone,
    )
