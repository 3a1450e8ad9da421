"""Weighted two-way fixed-effects least squares with cluster-robust errors.

The fit is the ordinary dummy-variable regression ``y ~ x + C(area) + C(period)`` weighted
by ``w`` (statsmodels ``WLS``, Stata ``regress [aw=w]``), computed by partialling the two
sets of fixed effects out (Frisch-Waugh-Lovell) so that a panel of thousands of areas needs
no dummy matrix. Coefficients, residuals and the cluster-robust covariance of ``x`` equal
the dummy regression's; the small-sample factor counts the dummies as that regression does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse, stats

_TOLERANCE = 1e-14
_MAX_SWEEPS = 10_000


@dataclass(frozen=True)
class Panel:
    """Integer codes of a long panel's areas and periods, with outcome and weights."""

    area: np.ndarray  # 0..n_areas-1
    period: np.ndarray  # 0..n_periods-1
    y: np.ndarray
    w: np.ndarray

    @property
    def n_areas(self) -> int:
        return int(self.area.max()) + 1

    @property
    def n_periods(self) -> int:
        return int(self.period.max()) + 1


@dataclass(frozen=True)
class Fit:
    coef: np.ndarray
    cov: np.ndarray  # cluster-robust (CR1), clusters = areas
    clusters: int
    nobs: int
    rank: int
    rank_nested: int  # without the area dummies, nested in the clusters

    @property
    def se_nested(self) -> np.ndarray:
        """The standard errors reghdfe and ``xtreg, fe`` report: their small-sample factor
        does not count fixed effects nested in the clusters (slightly smaller errors)."""
        n = self.nobs
        return self.se * np.sqrt((n - self.rank) / (n - self.rank_nested))

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0, None))

    def interval(self, i: int = 0, level: float = 0.95) -> tuple[float, float]:
        """t interval with clusters - 1 degrees of freedom (as statsmodels and Stata)."""
        half = stats.t.ppf(0.5 + level / 2, self.clusters - 1) * self.se[i]
        return float(self.coef[i] - half), float(self.coef[i] + half)

    def p_value(self, i: int = 0) -> float:
        if self.se[i] == 0:
            return math.nan
        t = self.coef[i] / self.se[i]
        return float(2 * stats.t.sf(abs(t), self.clusters - 1))


def _averager(groups: np.ndarray, w: np.ndarray, n: int):
    """Weighted group means as one sparse product (built once per demeaning)."""
    weights = sparse.csr_matrix((w, (groups, np.arange(len(groups)))), shape=(n, len(groups)))
    totals = np.asarray(weights.sum(axis=1))
    return lambda values: (weights @ values) / totals


def demean(panel: Panel, values: np.ndarray) -> np.ndarray:
    """Weighted residuals of ``values`` on area and period dummies.

    Alternating projections with geometric convergence (in one or two sweeps for a
    balanced panel with weights constant per area). The tolerance is tight so results
    agree with a dense solver."""
    x = np.array(values, dtype=float, copy=True)
    if x.ndim == 1:
        x = x[:, None]
    by_area = _averager(panel.area, panel.w, panel.n_areas)
    by_period = _averager(panel.period, panel.w, panel.n_periods)
    scale = max(1.0, float(np.abs(x).max())) if x.size else 1.0
    for _ in range(_MAX_SWEEPS):
        x -= by_area(x)[panel.area]
        step = by_period(x)[panel.period]
        x -= step
        if np.abs(step).max() <= _TOLERANCE * scale:
            return x
    raise ArithmeticError("fixed effects did not converge: is the panel connected?")


def fit(panel: Panel, x: np.ndarray) -> Fit:
    """Regress ``panel.y`` on ``x`` (one or more columns) and both sets of fixed effects."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    both = demean(panel, np.column_stack([x, panel.y]))
    xt, yt = both[:, :-1], both[:, -1]
    xw = xt * panel.w[:, None]
    bread = np.linalg.inv(xw.T @ xt)
    coef = bread @ (xw.T @ yt)
    resid = yt - xt @ coef
    scores = np.zeros((panel.n_areas, x.shape[1]))
    np.add.at(scores, panel.area, xw * resid[:, None])
    meat = scores.T @ scores
    n, g = len(panel.y), panel.n_areas
    rank = x.shape[1] + panel.n_areas + panel.n_periods - 1
    factor = g / (g - 1) * (n - 1) / (n - rank)
    nested = x.shape[1] + panel.n_periods
    return Fit(coef, factor * bread @ meat @ bread, g, n, rank, nested)
