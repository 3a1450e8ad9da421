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


def _averagers(panel: Panel):
    return (
        _averager(panel.area, panel.w, panel.n_areas),
        _averager(panel.period, panel.w, panel.n_periods),
    )


def _project(panel: Panel, x: np.ndarray, averagers) -> tuple[np.ndarray, np.ndarray]:
    """Demean ``x`` (rows x columns, C order) in place; returns the area and period effects
    taken out, so that the input equals ``x + area_fx[area] + period_fx[period]``.

    Alternating projections with geometric convergence (in one or two sweeps for a
    balanced panel with weights constant per area). The tolerance is tight so results
    agree with a dense solver. One scratch array of the size of ``x`` is all it adds."""
    by_area, by_period = averagers
    area_fx = np.zeros((panel.n_areas, x.shape[1]))
    period_fx = np.zeros((panel.n_periods, x.shape[1]))
    if not x.size:
        return area_fx, period_fx
    scale = max(1.0, float(np.abs(x).max()))
    step = np.empty_like(x)
    for _ in range(_MAX_SWEEPS):
        means = by_area(x)
        area_fx += means
        x -= np.take(means, panel.area, axis=0, out=step, mode="clip")
        means = by_period(x)
        period_fx += means
        x -= np.take(means, panel.period, axis=0, out=step, mode="clip")
        if np.abs(step, out=step).max() <= _TOLERANCE * scale:
            return area_fx, period_fx
    raise ArithmeticError("fixed effects did not converge: is the panel connected?")


def demean(panel: Panel, values: np.ndarray) -> np.ndarray:
    """Weighted residuals of ``values`` on area and period dummies."""
    x = np.array(values, dtype=float, copy=True, order="C")
    if x.ndim == 1:
        x = x[:, None]
    _project(panel, x, _averagers(panel))
    return x


# bytes of one block of demeaned regressors: the fit holds two arrays of this size (the
# block and its scratch) whatever the number of rows and regressors
_BLOCK_BYTES = 64 * 2**20


def _regressors(x) -> np.ndarray | sparse.csc_array:
    if sparse.issparse(x):
        return sparse.csc_array(x, dtype=float)
    x = np.asarray(x, dtype=float)
    return x[:, None] if x.ndim == 1 else x


def fit(panel: Panel, x) -> Fit:
    """Regress ``panel.y`` on ``x`` (one or more columns, dense or scipy.sparse) and both
    sets of fixed effects.

    With M the weighted within projection, Frisch-Waugh-Lovell gives X~'W y~ = X~'W y,
    X~'W X~ = X'W X~ and residuals M(y - X b), so ``x`` is demeaned in column blocks of
    a fixed memory budget, never whole. The cluster scores need X~ = X - area effects -
    period effects of X: the effects each block's demeaning took out are kept (areas and
    periods by regressors, small), so one pass over the blocks does."""
    x = _regressors(x)
    n, k = x.shape
    averagers = _averagers(panel)
    w = np.asarray(panel.w, dtype=float)
    yt = np.array(panel.y, dtype=float)[:, None]
    _project(panel, yt, averagers)
    yt = yt[:, 0]
    wy = w * yt
    gram, xty = np.empty((k, k)), np.empty(k)
    area_fx, period_fx = np.empty((panel.n_areas, k)), np.empty((panel.n_periods, k))
    width = max(1, _BLOCK_BYTES // (8 * max(1, n)))
    for first in range(0, k, width):
        cols = slice(first, min(k, first + width))
        block = x[:, cols]
        xt = block.toarray(order="C") if sparse.issparse(block) else np.array(block, order="C")
        area_fx[:, cols], period_fx[:, cols] = _project(panel, xt, averagers)
        xty[cols] = xt.T @ wy
        xt *= w[:, None]
        gram[:, cols] = x.T @ xt  # X'W X~ of the block's columns
        del xt, block
    bread = np.linalg.inv((gram + gram.T) / 2)
    coef = bread @ xty
    resid = demean(panel, panel.y - x @ coef)[:, 0]
    # scores of area g: sum over its rows of w r X~ = w r (X - area_fx[g] - period_fx[t])
    g, t = panel.n_areas, panel.n_periods
    wr = w * resid
    by_area = sparse.csr_array((wr, (panel.area, np.arange(n))), shape=(g, n))
    raw = by_area @ x
    raw = raw.toarray() if sparse.issparse(raw) else raw
    cells = sparse.csr_array((wr, (panel.area, panel.period)), shape=(g, t))
    totals = np.asarray(by_area.sum(axis=1)).ravel()
    scores = raw - totals[:, None] * area_fx - cells @ period_fx
    meat = scores.T @ scores
    rank = k + g + t - 1
    factor = g / (g - 1) * (n - 1) / (n - rank)
    nested = k + t
    return Fit(coef, factor * bread @ meat @ bread, g, n, rank, nested)
