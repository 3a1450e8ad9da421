"""A seeded simulator of staggered roll-outs whose true effects are known exactly.

Areas start in cohorts (or never); the outcome is area effect + period effect + noise, plus,
from an area's start, an effect that grows 1% a month: ``effect * 1.01 ** (period - start)``.
The true average effect on the treated (``truth``) is the ``w``-weighted mean of the
simulated effects over the treated rows, the estimand of ``cim.impact.staggered``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from cim.impact.twfe import Panel


@dataclass(frozen=True)
class Rollout:
    panel: Panel
    start: np.ndarray  # per row; np.inf = never treated
    effect: np.ndarray  # per row, the simulated effect (0 before the start)
    truth: float  # w-weighted mean effect over treated rows

    @property
    def treated(self) -> np.ndarray:
        return self.panel.period >= self.start

    def frame(self) -> pd.DataFrame:
        """The panel as pyfixest's did2s reads it (never-treated rows at rel_year -1, the
        reference, so that they get no event-time dummy)."""
        p = self.panel
        finite = np.isfinite(self.start)
        rel = np.where(finite, p.period - np.where(finite, self.start, 0), -1)
        return pd.DataFrame(
            {
                "area": p.area,
                "period": p.period,
                "y": p.y,
                "w": p.w,
                "treat": self.treated,
                "rel_year": rel.astype(int),
            }
        )


def simulate(
    seed: int,
    n_areas: int = 40,
    n_periods: int = 36,
    starts: tuple[float, ...] = (8, 16, 24),
    never_share: float = 0.25,
    effect: float = -1.0,
    growth: float = 0.01,
    noise: float = 1.0,
    weights: bool = False,
    missing: float = 0.0,
) -> Rollout:
    """``never_share`` of the areas are never treated; the others split evenly over the
    ``starts`` (period codes; a start >= ``n_periods`` starts after the panel ends).
    ``weights`` draws a weight per area; ``missing`` drops that share of the rows at random
    (an unbalanced panel; every area keeps its first row)."""
    rng = np.random.default_rng(seed)
    n_never = round(n_areas * never_share)
    cohort = np.concatenate(
        [
            np.full(n_never, np.inf),
            np.resize(np.asarray(starts, dtype=float), n_areas - n_never),
        ]
    )
    rng.shuffle(cohort)
    area = np.repeat(np.arange(n_areas), n_periods)
    period = np.tile(np.arange(n_periods), n_areas)
    start = cohort[area]
    # Later cohorts sit higher, so area effects and start times are correlated.
    area_fe = rng.normal(0, 1, n_areas) + 0.1 * np.where(np.isfinite(cohort), cohort, 30)
    period_fe = np.cumsum(rng.normal(0.05, 0.3, n_periods))
    treated = period >= start
    offset = np.where(treated, period - np.where(treated, start, 0), 0)
    eff = np.where(treated, effect * (1 + growth) ** offset, 0.0)
    y = area_fe[area] + period_fe[period] + eff + rng.normal(0, noise, len(area))
    w = rng.uniform(0.5, 2.0, n_areas)[area] if weights else np.ones(len(area))
    kept = (rng.uniform(size=len(area)) >= missing) | (period == 0)
    area, period, start, eff, y, w, treated = (
        v[kept] for v in (area, period, start, eff, y, w, treated)
    )
    truth = float(np.sum(w * eff * treated) / np.sum(w * treated))
    return Rollout(Panel(area, period, y, w), start, eff, truth)
