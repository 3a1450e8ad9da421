"""The windows and guard rails of the impact analysis, declared once.

One model serves the city's ``impact:`` section in city.yaml (``cim.city.config``), the
estimator (``estimate_impact(panel, settings)``) and the overrides of ``cim impact``
(one ``--flag`` per field the estimator reads). docs/impact.md explains each of them.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from cim.strict import Strict

# Placebo sets needed for a 95% placebo-in-space interval to exist at all: with fewer,
# the observed assignment can never fall in the outer 2.5% on each side.
MIN_PLACEBO_SETS = 40


class ImpactSettings(Strict):
    """Windows and guard rails of the impact analysis (docs/impact.md)."""

    # Fields that choose a warehouse action's areas and windows; on a given panel
    # (``estimate_impact``, ``cim impact panel.csv``) they play no part.
    DESIGN_ONLY: ClassVar[frozenset[str]] = frozenset(
        {"pre_years", "post_years", "comparison_areas_per_treated"}
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
