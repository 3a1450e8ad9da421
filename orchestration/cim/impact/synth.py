"""Synthetic control (SC) and synthetic difference-in-differences (SDID), as in synthdid.

A re-implementation in numpy of the estimators of Arkhangelsky, Athey, Hirshberg, Imbens
and Wager (2021), "Synthetic Difference-in-Differences", following the defaults of their R
package synthdid (`synthdid_estimate`, `sc_estimate`, `did_estimate` and
`vcov(method = "placebo")`), so that a city's figures can be checked against the package
and the paper (California Proposition 99: SDID -15.6, SC -19.6, DiD -27.3 packs).

The panel is an N x T matrix, control rows first and the treated rows last, pre periods
first and post periods last (synthdid's `panel.matrices` layout). Treatment starts at the
same period for every treated unit (block design).

How the weights are found (Algorithm 1 of the paper, with the package's defaults):

* noise level sigma = sample sd of the first differences over time of the control units'
  pre-period outcomes;
* unit weights omega: ridge-penalised fit, on the simplex, of the treated units' mean
  pre-period path by the controls' paths, with an intercept (paths centred over the pre
  periods), penalty zeta_omega = (N_treated * T_post)^(1/4) * sigma;
* time weights lambda: the same fit of the controls' post-period mean by their
  pre-period outcomes, with an intercept (centred over the controls), penalty
  zeta_lambda = 1e-6 * sigma;
* each fit is solved by Frank-Wolfe with exact line search: at most 100 steps from
  uniform weights, then weights at or below a quarter of the largest are set to zero, the
  rest renormalised, and Frank-Wolfe runs again from there for at most 10 000 steps,
  stopping once a step lowers the objective by less than (1e-5 * sigma)^2.

SC is the same with lambda = 0 (the post-period gap, not a difference in differences),
omega without an intercept and an infinitesimal penalty zeta_omega = 1e-6 * sigma. DiD
uses uniform omega and lambda. In all three the estimate is

    tau = (mean treated - omega' controls) over post periods
          - lambda' (mean treated - omega' controls) over pre periods.

The placebo standard error (Algorithm 4) reassigns the treatment to random controls; it is
the only one of the paper's variance estimates that works with a single treated unit,
which is the usual case for a city's intervention area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("sdid", "sc", "did")

# The package's defaults (synthdid_estimate's arguments).
_ETA_LAMBDA = 1e-6  # "infinitesimal" ridge on the time weights
_ETA_OMEGA_SC = 1e-6  # sc_estimate's ridge on the unit weights
_MIN_DECREASE = 1e-5  # stop when a step lowers the objective by less than (this * sigma)^2
_MAX_ITER = 10_000
_MAX_ITER_PRE_SPARSIFY = 100
_BATCH_BYTES = 64 * 2**20  # placebo problems held at once


@dataclass(frozen=True)
class SyntheticFit:
    """One SC / SDID / DiD fit; everything a caller needs to report and plot it.

    `synthetic_path` is the comparison the estimate is read against: per period,
    ``omega @ y[controls] + intercept``, where ``intercept`` is the lambda-weighted mean of
    the pre-period gap ``treated_path - omega @ y[controls]`` (synthdid_plot with
    overlay = 1). SDID and DiD compare changes, not levels, so the controls' level is
    shifted onto the treated one; with that shift the estimate is exactly the mean of
    ``treated_path - synthetic_path`` over the post periods. For SC lambda is zero, so the
    intercept is zero and the synthetic path is the plain weighted mean of the controls.
    """

    method: str  # "sdid" | "sc" | "did"
    estimate: float
    unit_weights: np.ndarray  # omega over the control rows, non-negative, sums to 1
    time_weights: np.ndarray  # lambda over the pre periods, sums to 1 (all zero for SC)
    intercept: float  # level shift added to the weighted controls (0 for SC)
    treated_path: np.ndarray  # mean outcome of the treated rows per period (length T)
    synthetic_path: np.ndarray  # omega-weighted control mean + intercept (length T)
    pre_rmse: float  # root mean square of treated_path - synthetic_path, pre periods
    gap_slope: float  # OLS slope per period of that gap over the pre periods (nan if T0 < 2)
    noise_level: float  # sigma; 0 means the weights could not be fitted (see fit_synthetic)
    zeta_omega: float  # ridge penalties actually used, reused by the placebo replications
    zeta_lambda: float


@dataclass(frozen=True)
class Placebo:
    """Placebo replications (Algorithm 4) and their standard error.

    `estimates` and `gap_slopes` are kept, replication by replication, so that a caller can
    compute randomisation p-values from the same draws as the se, e.g.
    ``(1 + sum(abs(estimates) >= abs(real))) / (replications + 1)``.
    """

    se: float  # sqrt((B - 1) / B) * sd(estimates), as synthdid's placebo_se
    estimates: np.ndarray  # the B placebo estimates
    gap_slopes: np.ndarray  # each replication's pre-period gap slope
    replications: int


def fit_synthetic(y: np.ndarray, n_treated: int, n_pre: int, method: str = "sdid") -> SyntheticFit:
    """Fit SDID (default), SC or DiD on an N x T panel with the treated rows last.

    When the control units' pre-period outcomes do not move at all (noise level 0: a
    constant or all-zero matrix, or a single pre period, which has no first differences),
    the penalties are zero and the weights are not identified; instead of dividing by zero
    the fit falls back to uniform weights (omega uniform; lambda uniform, or zero for SC)
    and reports noise_level 0 so that the caller's guard rail can refuse the design.
    """
    y, n_treated, n_pre = _validated(y, n_treated, n_pre, method)
    n_control = y.shape[0] - n_treated
    n_post = y.shape[1] - n_pre
    sigma = noise_level(y, n_treated, n_pre)
    # SC: an infinitesimal ridge; SDID (and DiD, where it is unused): (N1 T1)^(1/4) sigma
    eta_omega = _ETA_OMEGA_SC if method == "sc" else (n_treated * n_post) ** 0.25
    zeta_omega = eta_omega * sigma
    zeta_lambda = _ETA_LAMBDA * sigma
    return _fit(
        y,
        n_control,
        n_pre,
        method,
        sigma=sigma,
        zeta_omega=zeta_omega,
        zeta_lambda=zeta_lambda,
        min_decrease=_MIN_DECREASE * sigma,
        omega_start=None,
        lambda_start=None,
    )


def placebo(
    y: np.ndarray,
    n_treated: int,
    n_pre: int,
    method: str = "sdid",
    replications: int = 200,
    seed: int = 1,
) -> Placebo:
    """Placebo standard error: pretend random controls were treated, B times.

    Each replication draws a random order of the control rows, treats the last n_treated
    of them as treated and the others as controls (the real treated rows are left out),
    and re-fits the same estimator: weights re-fitted (SDID, SC), started from the real
    fit's weights and with the real fit's penalties and stopping rule, as synthdid's
    placebo_se does. Replications run one at a time, so memory holds one replication's
    matrices whatever B (plus two numbers per distinct draw).

    Raises ValueError when there are not more controls than treated units (some placebo
    control must be left) or when replications < 2 (no spread to measure).
    """
    y, n_treated, n_pre = _validated(y, n_treated, n_pre, method)
    if isinstance(replications, bool) or not isinstance(replications, (int, np.integer)):
        raise ValueError(f"replications must be an integer, got {replications!r}")
    if replications < 2:
        raise ValueError(f"replications must be at least 2, got {replications}")
    n_control = y.shape[0] - n_treated
    if n_control <= n_treated:
        raise ValueError(
            f"the placebo needs more control units than treated units: "
            f"{n_control} control(s) for {n_treated} treated"
        )
    real = fit_synthetic(y, n_treated, n_pre, method)
    controls = y[:n_control]
    n_placebo_control = n_control - n_treated
    rng = np.random.default_rng(seed)
    # A replication depends only on which controls play treated: the fit does not depend on
    # the order of the rows, so rows are taken in their original order and a set drawn again
    # (frequent with one treated unit: only n_control different sets) reuses its numbers.
    draws = []
    for _ in range(replications):
        order = rng.permutation(n_control)
        draws.append(tuple(np.sort(order[n_placebo_control:]).tolist()))
    distinct = list(dict.fromkeys(draws))
    found: dict[tuple[int, ...], tuple[float, float]] = {}
    # the distinct sets are fitted side by side (one Frank-Wolfe loop for a block of them),
    # in blocks of a fixed memory budget: flat memory whatever the replications
    per_set = 8 * 3 * (n_pre + 1) * (max(n_placebo_control, n_pre) + 1)
    block = max(1, _BATCH_BYTES // per_set)
    for start in range(0, len(distinct), block):
        sets = distinct[start : start + block]
        fits = _fit_batch(controls, sets, n_pre, method, real)
        found.update(zip(sets, fits, strict=True))
    estimates = np.array([found[d][0] for d in draws])
    slopes = np.array([found[d][1] for d in draws])
    se = float(np.sqrt((replications - 1) / replications) * np.std(estimates, ddof=1))
    return Placebo(se=se, estimates=estimates, gap_slopes=slopes, replications=replications)


def noise_level(y: np.ndarray, n_treated: int, n_pre: int) -> float:
    """Sample sd of the controls' period-to-period changes before treatment (sigma).

    It sets the scale of the penalties and of the stopping rule, so the weights do not
    depend on the unit of the outcome. 0 when there are fewer than two changes.
    """
    diffs = np.diff(y[: y.shape[0] - n_treated, :n_pre], axis=1).ravel()
    if diffs.size < 2:
        return 0.0
    return float(np.std(diffs, ddof=1))


def _fit(
    y: np.ndarray,
    n_control: int,
    n_pre: int,
    method: str,
    *,
    sigma: float,
    zeta_omega: float,
    zeta_lambda: float,
    min_decrease: float,
    omega_start: np.ndarray | None,
    lambda_start: np.ndarray | None,
) -> SyntheticFit:
    controls = y[:n_control]
    treated_path = y[n_control:].mean(axis=0)
    fitted = sigma > 0
    if method == "did" or not fitted:
        omega = np.full(n_control, 1.0 / n_control)
    else:
        # rows: pre periods; columns: controls, then the treated mean to be matched
        omega_problem = np.column_stack([controls[:, :n_pre].T, treated_path[:n_pre]])
        omega = _simplex_fit(
            omega_problem,
            zeta_omega,
            intercept=method == "sdid",
            start=omega_start,
            min_decrease=min_decrease,
        )
    if method == "sc":
        lam = np.zeros(n_pre)
    elif method == "did" or not fitted:
        lam = np.full(n_pre, 1.0 / n_pre)
    else:
        # rows: controls; columns: pre periods, then the post-period mean to be matched
        lambda_problem = np.column_stack([controls[:, :n_pre], controls[:, n_pre:].mean(axis=1)])
        lam = _simplex_fit(
            lambda_problem,
            zeta_lambda,
            intercept=True,
            start=lambda_start,
            min_decrease=min_decrease,
        )

    raw_gap = treated_path - omega @ controls
    estimate = float(raw_gap[n_pre:].mean() - lam @ raw_gap[:n_pre])
    intercept = float(lam @ raw_gap[:n_pre])
    synthetic_path = omega @ controls + intercept
    pre_gap = treated_path[:n_pre] - synthetic_path[:n_pre]
    return SyntheticFit(
        method=method,
        estimate=estimate,
        unit_weights=omega,
        time_weights=lam,
        intercept=intercept,
        treated_path=treated_path,
        synthetic_path=synthetic_path,
        pre_rmse=float(np.sqrt(np.mean(pre_gap**2))),
        gap_slope=_slope(pre_gap),
        noise_level=sigma,
        zeta_omega=zeta_omega,
        zeta_lambda=zeta_lambda,
    )


def _simplex_fit(
    problem: np.ndarray,
    zeta: float,
    *,
    intercept: bool,
    start: np.ndarray | None,
    min_decrease: float,
) -> np.ndarray:
    """Weights w on the simplex minimising zeta^2 |w|^2 + |A w - b|^2 / rows.

    `problem` is [A | b] (b the last column); one problem of ``_simplex_fit_batch``."""
    columns = problem.shape[1] - 1
    w = np.full(columns, 1.0 / columns) if start is None else np.asarray(start, float)
    return _simplex_fit_batch(problem[None], zeta, intercept, w[None], min_decrease)[0]


def _fit_batch(
    controls: np.ndarray, sets: list[tuple[int, ...]], n_pre: int, method: str, real: SyntheticFit
) -> list[tuple[float, float]]:
    """``_fit`` of each placebo set (the controls in ``set`` play treated), with the real
    fit's penalties, stopping rule and starting weights: (estimate, gap slope) per set.

    The same iterates as fitting them one by one (tests/test_impact_synth.py checks it),
    with one numpy loop for all of them instead of one per set."""
    n_control = controls.shape[0]
    chosen = np.zeros((len(sets), n_control), dtype=bool)
    for i, members in enumerate(sets):
        chosen[i, list(members)] = True
    # each row: the pseudo controls in their original order (as _fit gets them)
    pseudo_control = np.array([np.flatnonzero(~c) for c in chosen])
    pseudo_treated = np.array([np.flatnonzero(c) for c in chosen])
    ctrl = controls[pseudo_control]  # sets x pseudo controls x T
    treated_path = controls[pseudo_treated].mean(axis=1)  # sets x T
    min_decrease = _MIN_DECREASE * real.noise_level
    fitted = real.noise_level > 0
    n_sets, n_ctrl = ctrl.shape[0], ctrl.shape[1]
    if method == "did" or not fitted:
        omega = np.full((n_sets, n_ctrl), 1.0 / n_ctrl)
    else:
        problem = np.concatenate(
            [np.transpose(ctrl[:, :, :n_pre], (0, 2, 1)), treated_path[:, :n_pre, None]], axis=2
        )
        start = real.unit_weights[pseudo_control]
        start = np.array([_sum_normalise(w) for w in start])
        omega = _simplex_fit_batch(problem, real.zeta_omega, method == "sdid", start, min_decrease)
    if method == "sc":
        lam = np.zeros((n_sets, n_pre))
    elif method == "did" or not fitted:
        lam = np.full((n_sets, n_pre), 1.0 / n_pre)
    else:
        problem = np.concatenate(
            [ctrl[:, :, :n_pre], ctrl[:, :, n_pre:].mean(axis=2, keepdims=True)], axis=2
        )
        start = np.broadcast_to(real.time_weights, (n_sets, n_pre)).copy()
        lam = _simplex_fit_batch(problem, real.zeta_lambda, True, start, min_decrease)
    raw_gap = treated_path - np.einsum("sc,sct->st", omega, ctrl)
    estimate = raw_gap[:, n_pre:].mean(axis=1) - np.einsum("st,st->s", lam, raw_gap[:, :n_pre])
    intercept = np.einsum("st,st->s", lam, raw_gap[:, :n_pre])
    pre_gap = raw_gap[:, :n_pre] - intercept[:, None]
    return [(float(e), _slope(g)) for e, g in zip(estimate, pre_gap, strict=True)]


def _simplex_fit_batch(
    problem: np.ndarray, zeta: float, intercept: bool, start: np.ndarray, min_decrease: float
) -> np.ndarray:
    """Simplex weights of a stack of problems of one shape (sets x rows x columns).

    Two Frank-Wolfe rounds as synthdid: a short one, then a long one from its sparsified
    solution, which drops the many tiny weights the first round leaves (easier to read,
    and the package's published numbers). A free intercept is the same as centring every
    column."""
    if intercept:
        problem = problem - problem.mean(axis=1, keepdims=True)
    a, b = problem[:, :, :-1], problem[:, :, -1]
    w = _frank_wolfe_batch(a, b, zeta, start, min_decrease, _MAX_ITER_PRE_SPARSIFY)
    w = np.array([_sparsify(row) for row in w])
    return _frank_wolfe_batch(a, b, zeta, w, min_decrease, _MAX_ITER)


def _frank_wolfe_batch(
    a: np.ndarray,
    b: np.ndarray,
    zeta: float,
    w: np.ndarray,
    min_decrease: float,
    max_iter: int,
) -> np.ndarray:
    """Frank-Wolfe with exact line search (synthdid's sc.weight.fw and fw.step) on each
    problem of the stack; a problem that meets the stopping rule stops moving while the
    others go on.

    Minimises |A w - b|^2 + eta |w|^2 with eta = rows * zeta^2 over the simplex. Each step
    moves w toward the vertex with the smallest gradient by the exact minimising length.
    Stops after max_iter steps or once, from the third step on, the last step lowered
    the objective (divided by rows) by no more than min_decrease^2. The package usually
    runs all 10 000 steps, so the residual A w - b is updated in place rather than
    recomputed: the same iterates, several times faster in numpy.
    """
    n, rows = a.shape[0], a.shape[1]
    eta = rows * zeta**2
    tolerance = min_decrease**2
    index = np.arange(n)
    w = np.array(w, dtype=float)
    a_t = np.ascontiguousarray(np.transpose(a, (0, 2, 1)))  # one contiguous row per vertex
    residual = (a @ w[:, :, None])[:, :, 0] - b
    previous = np.full(n, np.inf)
    current = np.full(n, np.inf)
    active = np.ones(n, dtype=bool)
    for step_count in range(max_iter):
        if step_count >= 2:
            active &= previous - current > tolerance
            if not active.any():
                break
        half_grad = (a_t @ residual[:, :, None])[:, :, 0] + eta * w
        vertex = np.argmin(half_grad, axis=1)
        w_vertex = w[index, vertex]
        norm_w = np.einsum("sc,sc->s", w, w)
        moves = active & ~((w_vertex == 1.0) & (norm_w == 1.0))
        residual_change = a_t[index, vertex] - (residual + b)
        slope = half_grad[index, vertex] - np.einsum("sc,sc->s", half_grad, w)
        curvature = np.einsum("sr,sr->s", residual_change, residual_change) + eta * (
            norm_w - 2.0 * w_vertex + 1.0
        )
        moves &= curvature > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            length = np.where(moves, np.clip(-slope / curvature, 0.0, 1.0), 0.0)
        w *= (1.0 - length)[:, None]
        w[index, vertex] += length
        residual += length[:, None] * residual_change
        objective = (
            eta * np.einsum("sc,sc->s", w, w) + np.einsum("sr,sr->s", residual, residual)
        ) / rows
        previous = np.where(active, current, previous)
        current = np.where(active, objective, current)
    return w


def _sparsify(w: np.ndarray) -> np.ndarray:
    """Zero the weights at or below a quarter of the largest and renormalise."""
    out = np.where(w <= w.max() / 4, 0.0, w)
    return out / out.sum()


def _sum_normalise(w: np.ndarray) -> np.ndarray:
    """Weights rescaled to sum to 1; uniform when they are all zero (a starting point only)."""
    total = w.sum()
    if total != 0:
        return w / total
    return np.full(w.shape, 1.0 / w.size)


def _slope(gap: np.ndarray) -> float:
    """OLS slope of the gap on the period index 0, 1, ...: the pre-trend per period."""
    if gap.size < 2:
        return float("nan")
    t = np.arange(gap.size, dtype=float)
    t -= t.mean()
    return float((t @ (gap - gap.mean())) / (t @ t))


def _validated(y: object, n_treated: object, n_pre: object, method: object):
    """The panel as a float matrix and the two counts, or a ValueError saying what is wrong."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    try:
        matrix = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the panel must be a numeric N x T matrix: {exc}") from None
    if matrix.ndim != 2:
        raise ValueError(f"the panel must be a 2-D N x T matrix, got {matrix.ndim} dimension(s)")
    n_units, n_periods = matrix.shape
    for name, value in (("n_treated", n_treated), ("n_pre", n_pre)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if n_treated < 1:
        raise ValueError(f"there must be at least one treated unit, got n_treated={n_treated}")
    if n_treated >= n_units:
        raise ValueError(
            f"there must be at least one control unit: n_treated={n_treated} of {n_units} rows"
        )
    if n_pre < 1:
        raise ValueError(f"there must be at least one pre period, got n_pre={n_pre}")
    if n_pre >= n_periods:
        raise ValueError(
            f"there must be at least one post period: n_pre={n_pre} of {n_periods} periods"
        )
    if not np.all(np.isfinite(matrix)):
        bad = int(np.count_nonzero(~np.isfinite(matrix)))
        raise ValueError(f"the panel has {bad} non-finite value(s) (NaN or infinite)")
    return matrix, int(n_treated), int(n_pre)
