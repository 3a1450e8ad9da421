"""SC, SDID and DiD against the synthdid R package and the paper, on California's Prop 99.

Reference figures: synthdid_estimate / sc_estimate / did_estimate with default options give
-15.604 / -19.620 / -27.349 packs per capita; Arkhangelsky et al. (2021), Table 1, report
-15.6 (se 8.4), -19.6 (se 9.9) and -27.3 (se 17.7).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from cim.impact.synth import fit_synthetic, noise_level, placebo

DATA = Path(__file__).parent / "data" / "california_prop99.csv"

R_PACKAGE = {"sdid": -15.604, "sc": -19.620, "did": -27.349}
PAPER = {"sdid": -15.6, "sc": -19.6, "did": -27.3}


def prop99() -> tuple[np.ndarray, list[str], int]:
    """Matrix as synthdid's panel.matrices: controls by name, California last; 1970-1988 pre."""
    with DATA.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    years = sorted({int(r["Year"]) for r in rows})
    treated = {r["State"] for r in rows if r["treated"] == "1"}
    states = sorted({r["State"] for r in rows}, key=lambda s: (s in treated, s))
    value = {(r["State"], int(r["Year"])): float(r["PacksPerCapita"]) for r in rows}
    y = np.array([[value[s, t] for t in years] for s in states])
    start = min(int(r["Year"]) for r in rows if r["treated"] == "1")
    return y, states, years.index(start)


@pytest.fixture(scope="module")
def california():
    return prop99()


def test_the_panel_is_the_packages(california):
    y, states, n_pre = california
    assert y.shape == (39, 31)
    assert states[-1] == "California"
    assert n_pre == 19  # 1970-1988


@pytest.mark.parametrize("method", ["sdid", "sc", "did"])
def test_prop99_estimates_match_the_r_package_and_the_paper(california, method):
    y, _, n_pre = california
    fit = fit_synthetic(y, 1, n_pre, method)
    assert fit.method == method
    assert abs(fit.estimate - R_PACKAGE[method]) < 0.01
    assert abs(fit.estimate - PAPER[method]) < 0.5


def test_sdid_weights_are_the_packages(california):
    """The package's time weights put all mass on 1986-1988 (0.366, 0.206, 0.427)."""
    y, states, n_pre = california
    fit = fit_synthetic(y, 1, n_pre, "sdid")
    lam = dict(zip(range(1970, 1989), fit.time_weights, strict=True))
    assert {year for year, w in lam.items() if w > 0} == {1986, 1987, 1988}
    assert lam[1986] == pytest.approx(0.366, abs=0.002)
    assert lam[1988] == pytest.approx(0.427, abs=0.002)
    top = states[int(np.argmax(fit.unit_weights))]
    assert top == "Nevada"


def test_sc_weights_are_the_classic_donors(california):
    """Utah, Montana, Nevada, Connecticut, New Hampshire carry the synthetic California."""
    y, states, n_pre = california
    fit = fit_synthetic(y, 1, n_pre, "sc")
    weights = dict(zip(states, fit.unit_weights, strict=False))
    assert weights["Utah"] == pytest.approx(0.396, abs=0.003)
    assert weights["Montana"] == pytest.approx(0.232, abs=0.003)
    assert weights["Nevada"] == pytest.approx(0.205, abs=0.003)
    assert weights["Connecticut"] == pytest.approx(0.104, abs=0.003)


@pytest.mark.parametrize("method", ["sdid", "sc", "did"])
def test_weights_are_on_the_simplex(california, method):
    y, _, n_pre = california
    fit = fit_synthetic(y, 1, n_pre, method)
    assert fit.unit_weights.shape == (38,)
    assert fit.time_weights.shape == (n_pre,)
    assert np.all(fit.unit_weights >= 0)
    assert fit.unit_weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(fit.time_weights >= 0)
    if method != "sc":
        assert fit.time_weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_sc_has_no_time_weights_and_no_intercept(california):
    y, _, n_pre = california
    fit = fit_synthetic(y, 1, n_pre, "sc")
    assert np.all(fit.time_weights == 0)
    assert fit.intercept == 0
    np.testing.assert_allclose(fit.synthetic_path, fit.unit_weights @ y[:-1])


@pytest.mark.parametrize("method", ["sdid", "sc", "did"])
def test_estimate_is_the_post_gap_to_the_synthetic_path(california, method):
    """The synthetic path is drawn so that the estimate reads off it."""
    y, _, n_pre = california
    fit = fit_synthetic(y, 1, n_pre, method)
    np.testing.assert_allclose(fit.treated_path, y[-1])
    gap = fit.treated_path - fit.synthetic_path
    assert gap[n_pre:].mean() == pytest.approx(fit.estimate, abs=1e-9)
    assert fit.time_weights @ gap[:n_pre] == pytest.approx(0.0, abs=1e-9)


def test_sc_pre_period_fit_is_close(california):
    y, _, n_pre = california
    sc = fit_synthetic(y, 1, n_pre, "sc")
    did = fit_synthetic(y, 1, n_pre, "did")
    assert sc.pre_rmse < 3.0
    assert did.pre_rmse > 2 * sc.pre_rmse  # the uniform comparison trends apart
    assert abs(sc.gap_slope) < 0.5
    assert did.gap_slope < -1.0  # California fell faster than the average state before 1989


def random_walks(seed: int, n_control: int, n_periods: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(n_control, n_periods))
    return np.cumsum(steps, axis=1) * 3 + rng.normal(size=(n_control, 1)) * 20


def test_sc_recovers_the_effect_on_a_copy_of_a_control():
    walks = random_walks(7, 12, 14)
    treated = walks[3].copy()
    treated[10:] += 4.0
    fit = fit_synthetic(np.vstack([walks, treated]), 1, 10, "sc")
    assert fit.estimate == pytest.approx(4.0, abs=1e-6)
    assert fit.unit_weights[3] == pytest.approx(1.0, abs=1e-6)
    assert fit.pre_rmse < 1e-6


def test_sdid_recovers_the_effect_on_a_shifted_copy_of_a_control():
    """Controls whose post periods repeat their last pre period plus common shocks.

    Then the time weights fit exactly (all on the last pre period) and the SDID estimate
    is exact whatever the unit weights, here for a copy of a control shifted by +10 with
    an effect of 4 (SC, with no intercept, is thrown off by the shift).
    """
    rng = np.random.default_rng(7)
    base = random_walks(8, 12, 10)
    shocks = rng.normal(size=4) * 5
    controls = np.hstack([base, base[:, -1:] + shocks])
    treated = controls[3] + 10.0
    treated[10:] += 4.0
    y = np.vstack([controls, treated])
    sdid = fit_synthetic(y, 1, 10, "sdid")
    assert sdid.estimate == pytest.approx(4.0, abs=1e-9)
    assert sdid.time_weights[-1] == pytest.approx(1.0, abs=1e-9)
    assert abs(fit_synthetic(y, 1, 10, "sc").estimate - 4.0) > 0.1


def test_several_treated_units_are_averaged():
    walks = random_walks(3, 10, 12)
    treated = walks[:2] + np.array([[1.0], [3.0]])
    treated[:, 8:] += 2.5
    y = np.vstack([walks, treated])
    fit = fit_synthetic(y, 2, 8, "did")
    np.testing.assert_allclose(fit.treated_path, treated.mean(axis=0))
    expected = (treated.mean(axis=0) - walks.mean(axis=0)) @ np.r_[
        np.full(8, -1 / 8), np.full(4, 1 / 4)
    ]
    assert fit.estimate == pytest.approx(expected, abs=1e-12)


def test_noise_level_is_the_sd_of_control_pre_period_changes(california):
    y, _, n_pre = california
    expected = np.std(np.diff(y[:-1, :n_pre], axis=1), ddof=1)
    assert noise_level(y, 1, n_pre) == pytest.approx(expected)


@pytest.mark.parametrize("method", ["sdid", "sc", "did"])
def test_constant_controls_fall_back_to_uniform_weights(method):
    for controls in (np.zeros((5, 8)), np.full((5, 8), 7.0)):
        treated = np.r_[np.full(5, 2.0), np.full(3, 5.0)]
        fit = fit_synthetic(np.vstack([controls, treated]), 1, 5, method)
        assert fit.noise_level == 0
        np.testing.assert_allclose(fit.unit_weights, np.full(5, 0.2))
        assert np.all(np.isfinite(fit.synthetic_path))
        if method == "sc":
            assert fit.estimate == pytest.approx(5.0 - controls[0, 0])
        else:
            assert fit.estimate == pytest.approx(3.0)


@pytest.fixture(scope="module")
def sdid_placebo(california):
    y, _, n_pre = california
    return placebo(y, 1, n_pre, "sdid", replications=200, seed=1)


def test_placebo_se_for_sdid_is_near_the_papers(sdid_placebo):
    assert 5 < sdid_placebo.se < 13  # paper 8.4; with one treated unit only 38 values exist
    assert sdid_placebo.replications == 200
    assert sdid_placebo.estimates.shape == (200,)
    assert sdid_placebo.gap_slopes.shape == (200,)
    expected = np.sqrt(199 / 200) * np.std(sdid_placebo.estimates, ddof=1)
    assert sdid_placebo.se == pytest.approx(expected)


def test_placebo_p_value_from_the_same_draws(sdid_placebo):
    real = -15.604
    larger = np.count_nonzero(np.abs(sdid_placebo.estimates) >= abs(real))
    p_value = (1 + larger) / (sdid_placebo.replications + 1)
    assert 0.01 < p_value < 0.5


def test_placebo_is_reproducible_with_a_seed(california):
    y, _, n_pre = california
    first = placebo(y, 1, n_pre, "sc", replications=6, seed=5)
    again = placebo(y, 1, n_pre, "sc", replications=6, seed=5)
    other = placebo(y, 1, n_pre, "sc", replications=6, seed=6)
    np.testing.assert_array_equal(first.estimates, again.estimates)
    np.testing.assert_array_equal(first.gap_slopes, again.gap_slopes)
    assert first.se == again.se
    assert not np.array_equal(first.estimates, other.estimates)


def test_placebo_se_for_did_is_near_the_papers(california):
    y, _, n_pre = california
    result = placebo(y, 1, n_pre, "did", replications=200, seed=1)
    assert 12 < result.se < 22  # paper 17.7


def test_placebo_replication_is_a_fit_on_the_controls_only():
    """With one treated unit a draw is a choice of pseudo-treated control: re-fit by hand."""
    walks = random_walks(11, 6, 9)
    treated = walks[0] + 1.0
    y = np.vstack([walks, treated])
    result = placebo(y, 1, 6, "did", replications=30, seed=2)
    by_hand = {
        round(
            fit_synthetic(np.vstack([np.delete(walks, j, axis=0), walks[j]]), 1, 6, "did").estimate,
            9,
        )
        for j in range(6)
    }
    assert {round(e, 9) for e in result.estimates} <= by_hand


def test_placebo_refuses_when_controls_do_not_outnumber_treated():
    walks = random_walks(1, 4, 6)
    for n_treated in (2, 3):
        with pytest.raises(ValueError, match="more control units than treated"):
            placebo(walks, n_treated, 4, "sdid")
    with pytest.raises(ValueError, match="replications"):
        placebo(walks, 1, 4, "sdid", replications=1)


@pytest.mark.parametrize(
    ("y", "n_treated", "n_pre", "method", "message"),
    [
        (np.ones(10), 1, 3, "sdid", "2-D"),
        (np.ones((3, 4, 2)), 1, 3, "sdid", "2-D"),
        (np.ones((4, 6)), 1, 0, "sdid", "at least one pre period"),
        (np.ones((4, 6)), 1, 6, "sdid", "at least one post period"),
        (np.ones((4, 6)), 4, 3, "sdid", "at least one control"),
        (np.ones((4, 6)), 0, 3, "sdid", "at least one treated"),
        (np.ones((4, 6)), 1.5, 3, "sdid", "n_treated must be an integer"),
        (np.ones((4, 6)), 1, True, "sdid", "n_pre must be an integer"),
        (np.ones((4, 6)), 1, 3, "lasso", "method must be one of"),
        (np.array([[1.0, np.nan], [2.0, 3.0], [1.0, 1.0]]), 1, 1, "sdid", "non-finite"),
        (np.array([[1.0, np.inf], [2.0, 3.0], [1.0, 1.0]]), 1, 1, "sc", "non-finite"),
        ([["a", "b"], ["c", "d"]], 1, 1, "sdid", "numeric"),
    ],
)
def test_invalid_inputs_are_refused(y, n_treated, n_pre, method, message):
    with pytest.raises(ValueError, match=message):
        fit_synthetic(y, n_treated, n_pre, method)


@pytest.mark.parametrize("method", ["sdid", "sc", "did"])
def test_placebo_sets_fitted_side_by_side_equal_one_by_one(method):
    """The placebo fits a block of sets in one Frank-Wolfe loop: the same weights and
    estimates as ``_fit`` on each set alone, from the same start and penalties."""
    from cim.impact.synth import _fit, _fit_batch

    walks = random_walks(5, 12, 14)
    y = np.vstack([walks, walks[:2].mean(axis=0) + 0.5])
    real = fit_synthetic(y, 1, 9, method)
    controls = y[:12]
    sets = [(0, 3), (1, 7), (4, 11), (2, 5)]
    batch = _fit_batch(controls, sets, 9, method, real)
    for members, (estimate, slope) in zip(sets, batch, strict=True):
        rest = [i for i in range(12) if i not in members]
        alone = _fit(
            controls[rest + list(members)],
            len(rest),
            9,
            method,
            sigma=real.noise_level,
            zeta_omega=real.zeta_omega,
            zeta_lambda=real.zeta_lambda,
            min_decrease=1e-5 * real.noise_level,
            omega_start=real.unit_weights[rest] / real.unit_weights[rest].sum(),
            lambda_start=real.time_weights,
        )
        assert estimate == pytest.approx(alone.estimate, abs=1e-9)
        assert slope == pytest.approx(alone.gap_slope, abs=1e-9)
