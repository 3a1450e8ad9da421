"""Staggered roll-outs: Gardner's two-stage difference-in-differences (did2s), which is
the Borusyak-Jaravel-Spiess imputation estimator.

With areas that start at different periods, the two-way fixed-effects regression on a
treatment dummy (``cim.impact.twfe``) compares later starters with areas already treated
and gives negative weights to some effects: biased when effects grow or differ by cohort.
The imputation estimator never uses a treated observation as a comparison:

1. Stage 1 fits area and period effects (weighted by ``w``) on the untreated observations
   only: never-treated areas and the not-yet-treated periods of the others. The fitted
   ``area + period`` effect is the imputed y(0) of every row; ``ỹ = y - fitted``.
2. Stage 2 regresses ``ỹ`` (weighted by ``w``, no intercept) on the treatment dummy: the
   overall effect is the ``w``-weighted mean of ``ỹ`` over the treated observations. On
   event-time dummies instead (``offset = period - start``), each effect is the weighted
   mean of ``ỹ`` at that offset. Offsets ``>= 0`` are effects; offsets ``< 0`` are leads,
   the mean stage-1 residual ``offset`` periods before the start (not a difference to the
   period before: that is how did2s reports them). Offset -1 is the reference and gets no
   dummy, nor do never-treated areas: pyfixest's
   ``did2s(second_stage="~i(rel_year, ref=-1.0)")`` with never-treated rows coded at the
   reference, or R's ``i(rel_year, ref = c(-1, Inf))``. The dummies are mutually exclusive,
   so each estimate is the same whichever others are included.

Standard errors are Gardner's GMM correction for the estimated stage 1, clustered by area,
exactly as pyfixest 0.60's ``did2s`` (itself Kyle Butts' R ``did2s``) computes them: with
``X1`` the area and period dummies, ``X10`` those dummies on untreated rows only (zero on
treated rows), ``X2`` the stage-2 regressors, ``e1`` and ``e2`` the stage-1 and stage-2
residuals, and ``W`` the weights,

    V = X2'W X1 (X10'W X10)^-1
    s_g = (X2'W X2)^-1 (X2g'W e2g - V X10g'W e1g)      for each area g
    vcov = sum_g s_g s_g'

with no small-sample factor. Nothing here builds a dummy matrix: ``(X10'W X10)^-1`` is
applied by eliminating the area effects (a diagonal block) and solving the dense
periods x periods Schur complement, and every per-area sum is a sparse group sum, so memory
grows with the rows, not with rows x areas.

Intervals and p-values use a t distribution with ``n - k`` degrees of freedom (``n`` rows
used, ``k`` stage-2 coefficients), as pyfixest reports for did2s: in practice the normal
distribution. With few areas these intervals cover somewhat less than their level (about
91% for 95% at 30 areas, 95% at 60 in tests/test_impact_staggered.py's simulations).

The pre-trend test is a joint Wald test that every lead is zero, with the leads' block of
the same GMM covariance: ``W = b' pinv(V_leads) b`` over ``L`` leads. pyfixest's
``wald_test`` refers ``W`` to a chi-squared with ``L`` degrees of freedom
(``pretrend_chi2_p_value``, equal to pyfixest's); with a covariance estimated from ``G``
area clusters that rejects far too often (half the time at the 5% level with 14 leads and 30
areas). ``pretrend_p_value`` uses the Hotelling small-sample scaling instead,
``W (G - L) / (L (G - 1))`` against ``F(L, G - L)`` (3% rejections at 5% in the same
simulations); it is nan when there are no leads or ``L >= G``.

``start`` gives, per row, the period code from which that row's area is treated (the same
on every row of an area); ``np.inf`` means never treated. A code past the last period is an
area that starts after the panel ends: all its rows are untreated, and its leads count.
A code at or before the area's first observed period leaves the area no untreated period,
so its area effect cannot be imputed: such areas are dropped (``dropped_areas``, with a
reason each) and the estimate uses the others. A period with treated rows but no untreated
one has no period effect to impute with: that is a ``ValueError``, as is an untreated sample
split into parts that share no area and no period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, sparse, stats
from scipy.sparse import csgraph

from cim.impact.twfe import Panel

NEVER = np.inf  # the ``start`` of a never-treated area
REFERENCE_OFFSET = -1  # the lead without a dummy


@dataclass(frozen=True)
class EventEffect:
    offset: int  # period - start: >= 0 effects, < 0 leads (pre-trend)
    effect: float
    se: float
    lower: float
    upper: float
    n_obs: int


@dataclass(frozen=True)
class StaggeredFit:
    estimate: float  # the w-weighted mean effect over the treated observations
    se: float
    lower: float
    upper: float
    p_value: float
    clusters: int  # areas used
    n_treated_obs: int
    cohorts: dict[int, int]  # start period code -> areas used (never-treated not listed)
    events: list[EventEffect]  # by offset; the reference offset -1 is not listed
    pretrend_p_value: float  # leads = 0, Wald with Hotelling's F (nan: no leads or L >= G)
    pretrend_chi2_p_value: float  # the same Wald statistic against chi2(L), as pyfixest
    dropped_areas: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    level: float = 0.95
    df: int = 0  # degrees of freedom of the overall effect's t interval


class _UntreatedGram:
    """``(X10'W X10)^-1`` applied to right-hand sides, without a dummy matrix.

    The normal equations of area effects ``a`` and period effects ``l`` on the untreated
    rows are ``D_A a + C l = r_A`` and ``C' a + D_T l = r_T``, with ``C`` the areas x periods
    sums of weights (sparse) and ``D_A``, ``D_T`` its row and column sums. Eliminating ``a``
    leaves the periods x periods system ``(D_T - C' D_A^-1 C) l = r_T - C' D_A^-1 r_A``,
    solved with one period's effect pinned at zero (the dummies have one redundant
    direction; fitted values and the GMM term do not depend on which one is dropped)."""

    def __init__(self, area: np.ndarray, period: np.ndarray, w: np.ndarray, n_a: int, n_t: int):
        self.cells = sparse.csr_matrix((w, (area, period)), shape=(n_a, n_t))
        d_a = np.asarray(self.cells.sum(axis=1)).ravel()
        d_t = np.asarray(self.cells.sum(axis=0)).ravel()
        self.inv_a = np.divide(1.0, d_a, out=np.zeros_like(d_a), where=d_a > 0)
        active = np.flatnonzero(d_t > 0)
        self.free = active[active != active[np.argmax(d_t[active])]]
        scaled = sparse.diags(self.inv_a) @ self.cells
        schur = np.diag(d_t) - (self.cells.T @ scaled).toarray()
        self.factor = linalg.cho_factor(schur[np.ix_(self.free, self.free)])
        self.n_t = n_t

    def solve(self, r_a: np.ndarray, r_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Area and period effects (columns of ``r_a``, ``r_t`` are separate systems)."""
        r_a = r_a.reshape(len(self.inv_a), -1)
        r_t = r_t.reshape(self.n_t, -1)
        rhs = r_t - self.cells.T @ (self.inv_a[:, None] * r_a)
        l_eff = np.zeros_like(r_t, dtype=float)
        l_eff[self.free] = linalg.cho_solve(self.factor, rhs[self.free])
        a_eff = self.inv_a[:, None] * (r_a - self.cells @ l_eff)
        return a_eff, l_eff


def _group_sums(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape) -> np.ndarray:
    return sparse.csr_matrix((values, (rows, cols)), shape=shape).toarray()


def _stage_two(
    cell: np.ndarray,
    n_k: int,
    e1: np.ndarray,
    untreated: np.ndarray,
    area: np.ndarray,
    period: np.ndarray,
    w: np.ndarray,
    gram: _UntreatedGram,
    n_a: int,
    n_t: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients, GMM covariance and row counts of ``ỹ`` on mutually exclusive dummies
    (``cell`` = the dummy of each row, -1 for none)."""
    on = cell >= 0
    k, a, p, wk = cell[on], area[on], period[on], w[on]
    sw = np.bincount(k, weights=wk, minlength=n_k)  # X2'W X2, diagonal
    coef = np.bincount(k, weights=wk * e1[on], minlength=n_k) / sw
    e2 = e1[on] - coef[k]
    own = _group_sums(a, k, wk * e2, (n_a, n_k))  # X2g'W e2g
    # V X10g'W e1g = sum over g's untreated rows of w e1 (gamma_area + gamma_period), with
    # gamma the solution of X10'W X10 gamma = X1'W X2 (one system per dummy).
    gamma_a, gamma_t = gram.solve(
        _group_sums(a, k, wk, (n_a, n_k)), _group_sums(p, k, wk, (n_t, n_k))
    )
    u = untreated
    first = sparse.csr_matrix((w[u] * e1[u], (area[u], period[u])), shape=(n_a, n_t))
    m_a = np.asarray(first.sum(axis=1)).ravel()
    scores = (own - (m_a[:, None] * gamma_a + first @ gamma_t)) / sw
    return coef, scores.T @ scores, np.bincount(k, minlength=n_k)


def _check_inputs(panel: Panel, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(panel.y)
    start = np.asarray(start, dtype=float)
    if start.shape != (n,):
        raise ValueError(f"start needs one value per row ({n}), got shape {start.shape}")
    if np.isnan(start).any():
        raise ValueError("start has NaN: use np.inf for areas that are never treated")
    finite = np.isfinite(start)
    if (finite & (start != np.round(start))).any() or np.isneginf(start).any():
        raise ValueError("start must be integer period codes, or np.inf for never treated")
    if not (np.isfinite(panel.y).all() and np.isfinite(panel.w).all() and (panel.w > 0).all()):
        raise ValueError("y must be finite and weights finite and positive")
    n_a = panel.n_areas
    low = np.full(n_a, np.inf)
    high = np.full(n_a, -np.inf)
    np.minimum.at(low, panel.area, start)
    np.maximum.at(high, panel.area, start)
    seen = np.bincount(panel.area, minlength=n_a) > 0
    mixed = np.flatnonzero(seen & (low != high))
    if len(mixed):
        raise ValueError(
            f"start differs between rows of the same area (areas {_some(mixed)}): "
            "an area starts once"
        )
    return start, low


def _some(codes: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(c)) for c in codes[:limit])
    return shown + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


def _t_interval(coef, se, df: int, level: float):
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return coef - half, coef + half


def fit_staggered(panel: Panel, start: np.ndarray, level: float = 0.95) -> StaggeredFit:
    """The imputation (did2s) effect of a staggered start on ``panel.y`` (module docstring).

    ``start``: per row, the period code from which the row's area is treated; ``np.inf``
    for never treated."""
    start, area_start = _check_inputs(panel, start)
    n_a, n_t = panel.n_areas, panel.n_periods
    treated = panel.period >= start
    untreated_rows = np.bincount(panel.area, weights=~treated, minlength=n_a)
    rows = np.bincount(panel.area, minlength=n_a)
    dropped = np.flatnonzero((rows > 0) & (untreated_rows == 0))
    reasons = [
        f"area {int(g)}: treated from period {int(area_start[g])}, in all of its "
        f"{int(rows[g])} observed periods: no untreated period to estimate its area "
        "effect, so its effects cannot be imputed and it is left out"
        for g in dropped
    ]
    keep = ~np.isin(panel.area, dropped)
    area, period, y, w = panel.area[keep], panel.period[keep], panel.y[keep], panel.w[keep]
    start, treated = start[keep], treated[keep]
    untreated = ~treated
    if not treated.any():
        raise ValueError("no treated observation: nothing to estimate")

    in_period = np.bincount(period[untreated], minlength=n_t)
    orphan = np.flatnonzero((np.bincount(period[treated], minlength=n_t) > 0) & (in_period == 0))
    if len(orphan):
        raise ValueError(
            f"periods {_some(orphan)} have treated observations but no untreated one (every "
            "area has started): their period effect cannot be estimated, so y(0) cannot be "
            "imputed there. End the panel before the last cohort starts, or keep a "
            "never-treated comparison group."
        )
    _check_connected(area[untreated], period[untreated], n_a, n_t)

    gram = _UntreatedGram(area[untreated], period[untreated], w[untreated], n_a, n_t)
    wy = (w * y)[untreated]
    a_eff, l_eff = gram.solve(
        np.bincount(area[untreated], weights=wy, minlength=n_a),
        np.bincount(period[untreated], weights=wy, minlength=n_t),
    )
    e1 = y - a_eff[area, 0] - l_eff[period, 0]

    args = (e1, untreated, area, period, w, gram, n_a, n_t)
    n = len(y)
    att, att_cov, _ = _stage_two(np.where(treated, 0, -1), 1, *args)
    att_se = math.sqrt(max(att_cov[0, 0], 0.0))
    df = n - 1
    lower, upper = _t_interval(att[0], att_se, df, level)
    p_value = 2 * stats.t.sf(abs(att[0]) / att_se, df) if att_se > 0 else math.nan

    events, wald, n_leads = _events(start, period, args, level)
    clusters = len(np.unique(area))
    pretrend = pretrend_chi2 = math.nan
    if n_leads:
        pretrend_chi2 = float(stats.chi2.sf(wald, n_leads))
    if 0 < n_leads < clusters:
        scaled = wald * (clusters - n_leads) / (n_leads * (clusters - 1))
        pretrend = float(stats.f.sf(scaled, n_leads, clusters - n_leads))

    starts = area_start[np.unique(area)]
    codes, counts = np.unique(starts[np.isfinite(starts)], return_counts=True)
    return StaggeredFit(
        estimate=float(att[0]),
        se=att_se,
        lower=float(lower),
        upper=float(upper),
        p_value=float(p_value),
        clusters=clusters,
        n_treated_obs=int(treated.sum()),
        cohorts={int(c): int(m) for c, m in zip(codes, counts, strict=True)},
        events=events,
        pretrend_p_value=pretrend,
        pretrend_chi2_p_value=pretrend_chi2,
        dropped_areas=[int(g) for g in dropped],
        reasons=reasons,
        level=level,
        df=df,
    )


def _events(start, period, args, level) -> tuple[list[EventEffect], float, int]:
    """Event-time effects, and the Wald statistic of the leads with their number."""
    finite = np.isfinite(start)
    offset = np.where(finite, period - np.where(finite, start, 0), 0)
    has = finite & (offset != REFERENCE_OFFSET)
    offsets, cell = np.unique(offset[has], return_inverse=True)
    cells = np.full(len(start), -1)
    cells[has] = cell
    coef, cov, counts = _stage_two(cells, len(offsets), *args)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    df = len(start) - len(offsets)
    lower, upper = _t_interval(coef, se, df, level)
    events = [
        EventEffect(int(o), float(c), float(s), float(lo), float(hi), int(m))
        for o, c, s, lo, hi, m in zip(offsets, coef, se, lower, upper, counts, strict=True)
    ]
    leads = offsets < 0
    if not leads.any():
        return events, math.nan, 0
    b = coef[leads]
    wald = float(b @ np.linalg.pinv(cov[np.ix_(leads, leads)]) @ b)
    return events, wald, int(leads.sum())


def _check_connected(area: np.ndarray, period: np.ndarray, n_a: int, n_t: int) -> None:
    """Area and period effects of the untreated rows are comparable only within one
    connected set of areas and periods (linked by an untreated observation)."""
    graph = sparse.coo_matrix(
        (np.ones(len(area)), (area, n_a + period)), shape=(n_a + n_t, n_a + n_t)
    )
    _, label = csgraph.connected_components(graph, directed=False)
    nodes = np.concatenate([np.unique(area), n_a + np.unique(period)])
    parts = np.unique(label[nodes])
    if len(parts) > 1:
        raise ValueError(
            f"the untreated observations fall into {len(parts)} groups of areas and periods "
            "that share no observation: area and period effects are not comparable across "
            "them, so y(0) cannot be imputed"
        )
