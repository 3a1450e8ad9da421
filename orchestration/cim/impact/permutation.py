"""Placebo-in-space inference: the action moved to other areas, many times over.

With a handful of areas a cluster-robust interval is too narrow (its theory needs many
clusters, and above all many treated ones). Randomisation inference needs none: if the
action did nothing, calling any other set of the same size "treated" would give estimates
like ours. The interval is every constant effect d the test does not reject once d is
taken out of the treated areas' post periods; because least squares is linear in the
outcome, each placebo estimate at d is ``a - d * b`` and the interval has exact endpoints.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from cim.impact.twfe import Panel, demean


def assignments(n_areas: int, treated: list[int], limit: int, seed: int) -> np.ndarray:
    """Sets of ``len(treated)`` areas (rows of a boolean matrix), the real one first.

    Every set when there are at most ``limit``; else ``limit`` distinct random ones."""
    k, total = len(treated), math.comb(n_areas, len(treated))
    real = np.zeros(n_areas, dtype=bool)
    real[treated] = True
    if total <= limit:
        sets = [np.isin(np.arange(n_areas), c) for c in itertools.combinations(range(n_areas), k)]
        others = [s for s in sets if not np.array_equal(s, real)]
        return np.array([real, *others])
    gen = np.random.default_rng(seed)
    seen, rows = {tuple(np.flatnonzero(real))}, [real]
    while len(rows) < limit:
        pick = tuple(sorted(gen.choice(n_areas, size=k, replace=False)))
        if pick not in seen:
            seen.add(pick)
            rows.append(np.isin(np.arange(n_areas), pick))
    return np.array(rows)


# bytes of placebo regressors held at once: the blocks shrink as the panel grows, so the
# memory stays flat whatever the number of areas and sets
_BLOCK_BYTES = 128 * 2**20


def placebo_slopes(
    panel: Panel,
    sets: np.ndarray,
    columns: np.ndarray,
    multiplier: np.ndarray,
    targets: np.ndarray,
) -> np.ndarray:
    """Slope of each column of ``targets`` on each placebo regressor, both fixed effects
    partialled out: shape (sets, targets).

    The regressor of set ``s`` is ``sets[s, columns] * multiplier`` (``columns``: each
    row's area in ``sets``; ``multiplier``: the post or trend indicator of each row). It is
    built for one block of sets at a time, never for all of them."""
    out = np.empty((len(sets), targets.shape[1]))
    block = max(1, min(512, _BLOCK_BYTES // (8 * max(1, len(columns)))))
    for start in range(0, len(sets), block):
        chunk = sets[start : start + block]
        xt = demean(panel, chunk[:, columns].T * multiplier[:, None])
        xw = xt * panel.w[:, None]
        norm = (xw * xt).sum(axis=0)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + len(chunk)] = np.where(
                norm > 1e-12, (xw.T @ targets) / norm, np.nan
            )
    return out


def p_value(a: np.ndarray, estimate: float) -> float:
    """Share of placebo estimates at least as far from zero as the real one (placebo sets
    the fixed effects absorb, NaN, are left out)."""
    a = a[np.isfinite(a)]
    return float(np.mean(np.abs(a) >= abs(estimate) * (1 - 1e-12)))


def _p_at(points: np.ndarray, a: np.ndarray, b: np.ndarray, estimate: float) -> np.ndarray:
    out = np.empty(len(points))
    for start in range(0, len(points), 256):
        d = points[start : start + 256, None]
        real = np.abs(estimate - d)
        out[start : start + 256] = np.mean(np.abs(a - d * b) >= real * (1 - 1e-12) - 1e-15, 1)
    return out


def interval(a: np.ndarray, b: np.ndarray, estimate: float, alpha: float) -> tuple[float, float]:
    """Test-inversion interval for a constant additive effect.

    ``a``/``b``: placebo estimates on the outcome and on the real treatment indicator (the
    real assignment has a = estimate, b = 1). The p-value is piecewise constant between
    the roots of (a - d b)^2 = (estimate - d)^2, so testing the roots and the midpoints
    between them finds the endpoints exactly. Infinite when the data cannot bound it."""
    quad, lin, const = b**2 - 1, -2 * (a * b - estimate), a**2 - estimate**2
    roots = []
    flat = np.abs(quad) < 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        roots.append(np.where(flat & (np.abs(lin) > 1e-15), -const / lin, np.nan))
        disc = lin**2 - 4 * quad * const
        sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
        roots.append(np.where(~flat, (-lin - sq) / (2 * quad), np.nan))
        roots.append(np.where(~flat, (-lin + sq) / (2 * quad), np.nan))
    found = np.concatenate(roots)
    found = np.unique(np.append(found[np.isfinite(found)], estimate))
    spread = max(1.0, float(np.abs(found).max()))
    points = np.concatenate(
        [found, (found[1:] + found[:-1]) / 2, [found[0] - spread, found[-1] + spread]]
    )
    accepted = points[_p_at(points, a, b, estimate) > alpha]
    lower = -math.inf if found[0] - spread in accepted else float(accepted.min())
    upper = math.inf if found[-1] + spread in accepted else float(accepted.max())
    return lower, upper
