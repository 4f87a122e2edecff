"""Klein–Nishina and Breit–Wheeler cross sections and event kinematics (methods/astro/cross_sections.py).

Property tests: no pairs below the Breit–Wheeler threshold; cross sections non-negative and bounded; the BW peak
near s ≈ 2 at ≈ 0.2556 σ_T; KN → Thomson at low energy; energy-momentum conserved in every sampled Compton and
pair-creation event.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.astro import cross_sections as xs
from methods.astro.constants import R_E_CM, SIGMA_T_CM2

energies = st.floats(min_value=1e-8, max_value=1e8, allow_nan=False, allow_infinity=False)
cosines = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(e1=energies, e2=energies, cos_theta=cosines)
def test_no_pairs_below_threshold_and_cross_section_non_negative(e1, e2, cos_theta):
    s = float(xs.pair_invariant(e1, e2, cos_theta))
    sigma = float(xs.sigma_bw_photons(e1, e2, cos_theta))
    assert sigma >= 0.0
    assert sigma <= 0.2557 * SIGMA_T_CM2
    if s <= 1.0:
        assert sigma == 0.0
    # symmetric in the photons and a function of s only
    assert float(xs.sigma_bw_photons(e2, e1, cos_theta)) == pytest.approx(sigma, rel=1e-12, abs=0)


def test_collinear_photons_never_make_pairs():
    assert np.all(xs.sigma_bw_photons(np.geomspace(1, 1e9, 50), 1e3, 1.0) == 0.0)


def test_breit_wheeler_peak_and_reference_values():
    s = np.linspace(1.0, 4.0, 300_001)
    sigma = xs.sigma_bw(s) / SIGMA_T_CM2
    assert 1.9 < s[sigma.argmax()] < 2.05
    assert sigma.max() == pytest.approx(0.2556, abs=5e-4)  # σ_max ≈ 0.2556 σ_T at s ≈ 1.968
    # Gould & Schréder 1967 shape: values of σ/σ_T (research card, computed from the closed form)
    for s_value, expected in [(1.5, 0.2350), (3.0, 0.2301), (5.0, 0.1750), (10.0, 0.1102), (100.0, 0.01890)]:
        assert float(xs.sigma_bw(s_value) / SIGMA_T_CM2) == pytest.approx(expected, rel=2e-3)
    # increasing up to the peak, decreasing after it
    peak = sigma.argmax()
    assert np.all(np.diff(sigma[1 : peak + 1]) >= 0) and np.all(np.diff(sigma[peak:]) <= 0)


def test_breit_wheeler_asymptotes():
    beta = np.array([1e-4, 1e-3])
    s = 1.0 / (1.0 - beta**2)
    assert np.allclose(xs.sigma_bw(s) / (SIGMA_T_CM2 * beta), 3.0 / 8.0, rtol=1e-3)  # σ ∝ β at threshold
    s = np.array([1e3, 1e4, 1e6])
    high = 3.0 / 8.0 * SIGMA_T_CM2 / s * (np.log(4.0 * s) - 1.0)
    assert np.allclose(xs.sigma_bw(s), high, rtol=1e-2)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(min_value=0.0, max_value=1e6, allow_nan=False))
def test_klein_nishina_positive_and_below_thomson(x):
    sigma = float(xs.sigma_kn(x))
    assert 0.0 < sigma <= SIGMA_T_CM2 * (1 + 1e-12)


def test_klein_nishina_thomson_limit_and_monotone():
    x = np.geomspace(1e-9, 1e-2, 200)
    assert np.all(np.abs(xs.sigma_kn(x) / SIGMA_T_CM2 - (1.0 - 2.0 * x)) < 6.0 * x**2 + 1e-15)
    grid = np.geomspace(1e-6, 1e4, 2000)
    assert np.all(np.diff(xs.sigma_kn(grid)) < 0)
    # series and closed form agree where they meet
    edge = xs.X_SERIES
    assert float(xs.sigma_kn(edge * (1 - 1e-9))) == pytest.approx(float(xs.sigma_kn(edge)), rel=1e-7, abs=0)
    for x_value, expected in [(0.1, 0.84134), (1.0, 0.43073), (10.0, 0.12276), (100.0, 0.02151)]:
        assert float(xs.sigma_kn(x_value) / SIGMA_T_CM2) == pytest.approx(expected, rel=1e-4)
    assert SIGMA_T_CM2 == pytest.approx(8 * np.pi / 3 * R_E_CM**2, rel=1e-9, abs=0)


@pytest.mark.parametrize("x", [1e-3, 0.3, 5.0, 300.0])
def test_differential_integrates_to_total(x):
    mu = np.linspace(-1.0, 1.0, 200_001)
    total = 2 * np.pi * np.trapezoid(xs.dsigma_kn_domega(x, mu), mu)
    assert total == pytest.approx(float(xs.sigma_kn(x)), rel=1e-6, abs=0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="x must be"):
        xs.sigma_kn(-1.0)
    with pytest.raises(ValueError, match="s must be"):
        xs.sigma_bw(np.nan)


def _photon(energy, direction):
    direction = np.asarray(direction, dtype=float)
    direction = direction / np.linalg.norm(direction, axis=-1, keepdims=True)
    return np.column_stack([energy, energy[:, None] * direction])


def test_compton_event_conserves_energy_and_momentum():
    rng = np.random.default_rng(0)
    n = 2000
    gamma = 10 ** rng.uniform(0, 5, n)
    p = np.sqrt(gamma**2 - 1)
    lepton = np.column_stack([gamma, p[:, None] * _photon(np.ones(n), rng.normal(size=(n, 3)))[:, 1:]])
    photon = _photon(10 ** rng.uniform(-4, 0, n), rng.normal(size=(n, 3)))
    lepton_out, photon_out = xs.compton_event(lepton, photon, rng)
    assert np.all(np.abs(lepton_out + photon_out - lepton - photon) <= 1e-10 * (gamma + photon[:, 0])[:, None])
    # recoil lepton on its mass shell (E² − p² cancels ~ε E² of float precision: checked where E <= 10³)
    low = (gamma < 1e3) & (lepton_out[:, 0] < 1e3)
    assert low.sum() > 500
    np.testing.assert_allclose(xs.minkowski_square(lepton_out[low]), 1.0, rtol=1e-6)
    assert np.all(photon_out[:, 0] > 0)
    # rest-frame kinematics: ε' between the back-scatter minimum and ε
    x = np.array([0.01, 1.0, 100.0])
    assert np.all(xs.compton_energy_ratio(x, 1.0) == 1.0)
    assert np.allclose(xs.compton_energy_ratio(x, -1.0), 1.0 / (1.0 + 2.0 * x))


def test_pair_event_conserves_four_momentum():
    rng = np.random.default_rng(1)
    n = 2000
    e1 = 10 ** rng.uniform(0, 4, n)
    e2 = 10 ** rng.uniform(-3, 0, n)
    cos_theta = -np.ones(n)
    keep = xs.pair_invariant(e1, e2, cos_theta) > 1.0
    k1 = _photon(e1[keep], np.tile([0.0, 0.0, 1.0], (keep.sum(), 1)))
    k2 = _photon(e2[keep], np.tile([0.0, 0.0, -1.0], (keep.sum(), 1)))
    electron, positron = xs.breit_wheeler_event(k1, k2, rng)
    total = k1 + k2
    assert np.all(np.abs(electron + positron - total) <= 1e-10 * total[:, :1])
    np.testing.assert_allclose(xs.minkowski_square(electron), 1.0, rtol=1e-6)
    assert np.all(electron[:, 0] >= 1.0) and np.all(positron[:, 0] >= 1.0)
    with pytest.raises(ValueError, match="below the threshold"):
        xs.breit_wheeler_event(_photon(np.array([1.0]), [[0, 0, 1.0]]), _photon(np.array([0.1]), [[0, 0, -1.0]]), rng)
