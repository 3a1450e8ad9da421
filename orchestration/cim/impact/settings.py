"""The windows and guard rails of the impact analysis, declared once.

One model serves the city's ``impact:`` section in city.yaml (``cim.city.config``), the
estimator (``estimate_impact(panel, settings)``) and the overrides of ``cim impact``
(one ``--flag`` per field the estimator reads). docs/impact.md explains each of them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cim.strict import Strict

# The intervals are 95% ones: the columns of the impact marts say so (``*_95``).
LEVEL = 0.95
# Placebo sets needed for the placebo test to reject at all. The test is two-sided on
# absolute values (is the real estimate among the most extreme?), so its smallest p-value
# is 1 / sets: 20 sets reach p = 0.05, fewer never reject and bound no interval.
MIN_PLACEBO_SETS = round(1 / (1 - LEVEL))

Method = Literal["auto", "did", "staggered", "sc", "sdid"]


class ImpactSettings(Strict):
    """Windows and guard rails of the impact analysis (docs/impact.md)."""

    # Fields that choose a warehouse action's areas and windows; on a given panel
    # (``estimate_impact``, ``cim impact panel.csv``) they play no part.
    DESIGN_ONLY: ClassVar[frozenset[str]] = frozenset(
        {"pre_years", "post_years", "comparison_areas_per_treated"}
    )

    method: Method = Field(
        "auto",
        description="estimator: auto (the rule of docs/impact.md), did (two-way fixed "
        "effects), staggered (imputation, not-yet-treated comparisons), sc (synthetic "
        "control) or sdid (synthetic difference-in-differences)",
    )
    pre_years: int = Field(2, ge=1, description="years before the start in the window, at most")
    post_years: int = Field(2, ge=1, description="years after the start in the window, at most")
    min_pre_periods: int = Field(
        3,
        ge=2,
        description="periods before the start every treated area needs (for an action of "
        "the warehouse also at least one year of periods)",
    )
    min_post_periods: int = Field(1, ge=1, description="periods after the start needed")
    min_treated_areas: int = Field(1, ge=1, description="treated areas with data needed")
    min_comparison_areas: int = Field(3, ge=1, description="comparison areas with data needed")
    comparison_areas_per_treated: int = Field(
        2, ge=1, description="matched comparison areas per treated area"
    )
    min_clusters: int = Field(
        20,
        ge=2,
        description="areas needed for a cluster-robust interval; fewer: placebo in space",
    )
    min_treated_clusters: int = Field(
        10,
        ge=1,
        description="treated areas needed for a cluster-robust interval; fewer: placebo in space",
    )
    max_placebo_sets: int = Field(
        2000,
        ge=MIN_PLACEBO_SETS,
        description="placebo assignments at most (all of them when fewer, else a seeded sample)",
    )
    min_donor_areas: int = Field(
        10,
        ge=2,
        description="comparison areas beyond the treated count needed for the synthetic "
        "methods: each placebo replication fits its weights on this many",
    )
    placebo_replications: int = Field(
        200,
        ge=MIN_PLACEBO_SETS,
        description="placebo replications of the synthetic estimators' standard error",
    )
    placebo_always: bool = Field(
        False,
        description="compute placebo sets even where the cluster-robust interval is the "
        "headline (slower; the placebo figures are then shown beside it)",
    )
    pretrend_alpha: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="a pre-trend test p-value below this fails the guard rail",
    )
    event_bin: int | None = Field(
        None,
        ge=1,
        description="periods per event-study bin (default: quarters for monthly data, else 1)",
    )
    seed: int = Field(1, description="seed of the random sample of placebo sets")

    def replace(self, **changes: object) -> ImpactSettings:
        """A copy with ``changes``, validated like city.yaml (``model_copy`` is not)."""
        return type(self).model_validate(self.model_dump() | changes)
