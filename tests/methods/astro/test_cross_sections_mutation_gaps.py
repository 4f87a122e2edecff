"""Gaps in the cross-section tests found by a mutation audit of methods/astro/cross_sections.py.

Closed here:
- the Klein–Nishina series (x < X_SERIES) and the closed form near the switch are checked to 1e-9 against
  50-digit values of the closed form; the older comparisons of two cross sections [cm²] with ``pytest.approx``
  kept its default abs = 1e-12 and so could not fail (σ ~ 1e-25 cm²);
- dσ/dΩ integrates to σ_KN as a ratio (same reason), and its shape is pinned by its Thomson limit;
- the KN angle sampler draws from dσ/dΩ (moments against quadrature), the Compton event's azimuth is uniform,
  and pair directions are isotropic in the centre-of-momentum frame;
- the photon-photon invariant at the Breit–Wheeler threshold, and `boost` without a given γ.
"""

from __future__ import annotations

import numpy as np
import pytest

from methods.astro import cross_sections as xs
from methods.astro.constants import R_E_CM, SIGMA_T_CM2

# σ_KN/σ_T from the closed form (Rybicki & Lightman 1979, eq. 7.5) evaluated with mpmath at 50 digits
KN_REFERENCE = {
    1e-4: 0.99980005198670327, 1e-3: 0.99800518673260818, 3e-3: 0.99404644352878875,
    0.0099: 0.98069705377632449, 0.0101: 0.9803170811446828, 0.02: 0.96197859205864844,
    0.05: 0.91152002756680991, 0.3: 0.66267729990560778, 3.0: 0.2549176863105755, 1e3: 0.0030338190758380512,
}


def test_klein_nishina_matches_high_precision_values_on_both_sides_of_the_series_switch():
    x = np.array(list(KN_REFERENCE))
    ratio = xs.sigma_kn(x) / SIGMA_T_CM2
    # the 4-term series leaves ~8e-9 at x = 0.01 (next term ~ x^5); everything else is at float precision
    np.testing.assert_allclose(ratio, list(KN_REFERENCE.values()), rtol=1e-8, atol=0)
    assert SIGMA_T_CM2 / (8 * np.pi / 3 * R_E_CM**2) == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("x", [1e-3, 0.3, 5.0, 300.0])
def test_differential_integrates_to_total_as_a_ratio(x):
    mu = np.linspace(-1.0, 1.0, 200_001)
    total = 2 * np.pi * np.trapezoid(xs.dsigma_kn_domega(x, mu), mu)
    assert total / float(xs.sigma_kn(x)) == pytest.approx(1.0, rel=1e-6)


def test_differential_thomson_limit():
    # x → 0: dσ/dΩ = (r_e²/2)(1 + cos²ψ) (Thomson; Rybicki & Lightman eq. 3.40 unpolarised)
    mu = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    ratio = xs.dsigma_kn_domega(1e-9, mu) / (0.5 * R_E_CM**2 * (1 + mu**2))
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-8)
    # x = 1, backward: ε'/ε = 1/3, so dσ/dΩ = (r_e²/2)(1/9)(1/3 + 3) = (r_e²/2)(10/27)
    assert float(xs.dsigma_kn_domega(1.0, -1.0)) / (0.5 * R_E_CM**2) == pytest.approx(10 / 27, rel=1e-12)


# moments of cos ψ under the KN angular distribution, by mpmath quadrature of dσ/dΩ at 30 digits
@pytest.mark.parametrize(("x", "mean", "second"), [(1e-6, 0.0, 0.4), (1.0, 0.291406421559, 0.443750457492),
                                                   (10.0, 0.507631723572, 0.547404380561)])
def test_kn_angle_sampler_reproduces_the_differential_cross_section(x, mean, second):
    n = 40_000
    mu = xs.sample_kn_cos_psi(np.full(n, x), np.random.default_rng(3))
    assert np.all((mu >= -1) & (mu <= 1))
    # standard errors: sqrt(var / n) <= 0.0032 for the mean, about the same for the second moment
    assert mu.mean() == pytest.approx(mean, abs=0.015)
    assert np.mean(mu**2) == pytest.approx(second, abs=0.015)
    assert np.mean(mu < 0) > 0.15  # back-scattering happens at every x here


def test_compton_event_azimuth_is_uniform():
    """Lepton at rest, photon along +z: the scattered photon's transverse momentum averages to zero (symmetry)."""
    n = 40_000
    rng = np.random.default_rng(4)
    lepton = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    photon = np.tile([0.5, 0.0, 0.0, 0.5], (n, 1))
    _, scattered = xs.compton_event(lepton, photon, rng)
    transverse = scattered[:, 1:3] / scattered[:, :1]
    spread = transverse.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(transverse.mean(axis=0)) < 5 * spread)
    # rest-frame Compton formula fixes the energy from the angle: ε' = ε / (1 + ε(1 − cos ψ))
    cos_psi = scattered[:, 3] / scattered[:, 0]
    np.testing.assert_allclose(scattered[:, 0], 0.5 / (1 + 0.5 * (1 - cos_psi)), rtol=1e-9)


def test_pair_directions_are_isotropic_in_the_centre_of_momentum_frame():
    n = 40_000
    rng = np.random.default_rng(5)
    k1 = np.tile([2.0, 0.0, 0.0, 2.0], (n, 1))  # head-on, equal energies: the lab is the CM frame, s = 4
    k2 = np.tile([2.0, 0.0, 0.0, -2.0], (n, 1))
    electron, _ = xs.breit_wheeler_event(k1, k2, rng)
    np.testing.assert_allclose(electron[:, 0], 2.0, rtol=1e-12)  # each lepton gets √s m_e c²
    direction = electron[:, 1:] / np.linalg.norm(electron[:, 1:], axis=1, keepdims=True)
    # isotropic: every component has mean 0 and second moment 1/3
    assert np.all(np.abs(direction.mean(axis=0)) < 5 * np.sqrt(1 / 3 / n))
    np.testing.assert_allclose(np.mean(direction**2, axis=0), 1 / 3, atol=0.01)


def test_pair_invariant_at_the_breit_wheeler_threshold():
    # two head-on photons of m_e c² each are exactly at threshold: E₁E₂(1 − cos θ) = 2 (m_e c²)²
    assert float(xs.pair_invariant(1.0, 1.0, -1.0)) == 1.0
    assert float(xs.pair_invariant(4.0, 1.0, 0.0)) == 2.0  # at right angles the threshold doubles
    assert float(xs.sigma_bw_photons(1.0, 0.99, -1.0)) == 0.0
    assert float(xs.sigma_bw_photons(2.0, 1.0, -1.0)) / SIGMA_T_CM2 == pytest.approx(0.25558447359823538, rel=1e-9)


def test_boost_into_the_rest_frame_without_a_given_gamma():
    p = np.array([[np.sqrt(26.0), 3.0, 0.0, 4.0]])  # m = 1, |p| = 5
    rest = xs.boost(p, p[:, 1:] / p[:, :1])
    np.testing.assert_allclose(rest[0], [1.0, 0.0, 0.0, 0.0], atol=1e-12)
