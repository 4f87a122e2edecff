"""Gaps in the rate-table tests found by a mutation audit of methods/astro/field.py and inverse_compton.py.

The older tests checked the tables only for finiteness, scaling and the ms range of the final answer, so the
Breit–Wheeler s-integral, the absorption rate's normalisation, the bin integrals, the pair threshold and the
inverse-Compton power could all be changed without a failure. Closed here, each against an independent value:
- Φ(y) = ∫₁^y s σ_γγ(s) ds against mpmath quadrature of the closed-form cross section;
- κ(E) against the direct angle integral c ∫dε n(ε) ∫dμ (1 − μ)/2 σ_γγ(s(E, ε, μ)) (research card, 1.5.3);
- the lowest pair threshold (m_e c²)²/ε_max, the bin centres, the bin emission and absorption against a fine grid;
- the lepton's inverse-Compton power against the Thomson limit (4/3) σ_T c γ² U;
- the counterpart photon density against a quadrature of the burst spectrum;
- a fault the audit found (fixed in field.py): at small radii (γ_e ≳ 10³) the bin integrals and the IC power
  missed the Klein–Nishina pile-up just below E = γ_e (top-bin emission 48 % low, IC power 56 % low at 1e7 cm).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.integrate import quad

from methods.astro.constants import C_CM_S, ERG_PER_KEV, FOUR_PI, ME_C2_ERG, ME_C2_KEV, SIGMA_T_CM2
from methods.astro.counterpart import nominal
from methods.astro.cross_sections import sigma_bw, sigma_kn
from methods.astro.field import SOFT_POINTS, build_tables, bw_absorption_per_s, s_weighted_integral
from methods.astro.inverse_compton import jones_kernel
from methods.astro.wave import lepton_gamma, strength_parameter

RADIUS_CM = 1e9
GAMMA = 231.0  # ≈ γ_e of a 4e38 erg/s, 1.4 GHz FRB at 1e9 cm
BINS = 16

# Φ(y)/σ_T by mpmath quadrature (30 digits) of s σ_γγ(s)/σ_T, σ_γγ of Gould & Schréder 1967, eq. 4
PHI_REFERENCE = {1.5: 0.11026390400551997, 3.0: 0.93957406995639414, 10.0: 7.537070262058283,
                 1e3: 2370.0041233362043, 1e6: 4950714.4199211529, 1e9: 7541085157.5855501}


def test_s_weighted_integral_matches_quadrature():
    y = np.array(list(PHI_REFERENCE))
    ratio = s_weighted_integral(y) / SIGMA_T_CM2 / np.array(list(PHI_REFERENCE.values()))
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-4)
    assert np.all(s_weighted_integral(np.array([0.5, 1.0])) == 0.0)


def test_absorption_rate_matches_the_angle_integral():
    eps = np.geomspace(1e-3, 1e-1, 40)  # m_e c²
    density = np.exp(-eps / 0.05) / eps  # cm⁻³ per unit ε
    energy = np.array([30.0, 100.0, 1000.0])
    mu = np.linspace(-1.0, 1.0, 20_001)
    inner = np.array([[np.trapezoid((1 - mu) / 2 * sigma_bw(e * x * (1 - mu) / 2), mu) for x in eps] for e in energy])
    reference = C_CM_S * np.trapezoid(inner * density[None, :], eps, axis=1)
    np.testing.assert_allclose(bw_absorption_per_s(energy, eps, density), reference, rtol=1e-4)


@pytest.fixture(scope="module")
def setting():
    burst = nominal("konus", 1e40)
    tables = build_tables(burst, RADIUS_CM, GAMMA, bins=BINS)
    eps_kev = np.geomspace(burst.e_min_kev, burst.e_max_kev, SOFT_POINTS)
    eps = eps_kev / ME_C2_KEV
    density = burst.density_per_kev(eps_kev, RADIUS_CM) * ME_C2_KEV
    return burst, tables, eps, density


def test_threshold_and_bin_centres(setting):
    burst, tables, _, _ = setting
    # head-on on the hardest counterpart photon (1000 keV): E_th = (m_e c²)² / ε (research card, 1.5.3)
    assert tables.info["threshold_low_kev"] == pytest.approx(510.99895069**2 / 1000.0, rel=1e-9)
    assert tables.info["max_photon_kev"] == pytest.approx(GAMMA * 510.99895069, rel=1e-9)
    assert tables.bins == BINS
    # geometric centres of BINS equal logarithmic bins between the threshold and γ
    low = 510.99895069 / 1000.0
    ratio = (GAMMA / low) ** (1.0 / BINS)
    np.testing.assert_allclose(tables.energy_mec2, low * ratio ** (np.arange(BINS) + 0.5), rtol=1e-9)
    with pytest.raises(ValueError, match="bins"):
        build_tables(burst, RADIUS_CM, GAMMA, bins=1)


def _reference_nodes(low, high, top, count=400):
    """Fine nodes for [low, high] <= top: log-spaced in E and in top − E (the Klein–Nishina pile-up below E = γ)."""
    near = max(top - high, 1e-13 * top)
    nodes = np.union1d(np.geomspace(low, high, count), top - np.geomspace(top - low, near, count))
    return nodes[(nodes >= low) & (nodes <= high)]


def _fine(tables, eps, density, gamma, bins):
    edges = np.geomspace(tables.info["threshold_low_kev"] / ME_C2_KEV, gamma, bins + 1)
    emission, absorption = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        e1 = _reference_nodes(a, b, gamma)
        spectrum = np.trapezoid(jones_kernel(e1[:, None], gamma, eps[None, :]) * density[None, :], eps, axis=1)
        kappa = bw_absorption_per_s(e1, eps, density)
        emission.append(np.trapezoid(spectrum, e1))
        absorption.append(np.trapezoid(spectrum * kappa, e1) / emission[-1])
    return np.array(emission), np.array(absorption)


def test_bin_rates_match_a_fine_grid(setting):
    _, tables, eps, density = setting
    emission, absorption = _fine(tables, eps, density, GAMMA, BINS)
    np.testing.assert_allclose(tables.emission_per_s, emission, rtol=5e-3)
    # κ rises from 0 at the pair threshold, which the tables' nodes resolve to ~10 % in the lowest bins
    np.testing.assert_allclose(tables.absorption_per_s[6:], absorption[6:], rtol=2e-3)
    np.testing.assert_allclose(tables.absorption_per_s[:6], absorption[:6], rtol=0.12)


@pytest.mark.parametrize("radius", [1e6, 1e7])
def test_klein_nishina_pile_up_below_gamma_is_integrated(radius):
    """At r = 1e7 cm (γ_e ≈ 2.3e4, 4γ_e ε up to ~2e5) the scattered spectrum piles up within ~1e-5 γ_e below
    E = γ_e. Fault found by this audit: nodes log-spaced in E only missed it, and the top bin's emission
    (~95 % of all above-threshold emission here) came out 48 % low, the lepton's IC power 56 % low (at 1e6 cm,
    the kind's smallest radius, γ_e ≈ 2.3e5, the pile-up is ten times thinner still)."""
    gamma = float(lepton_gamma(strength_parameter(4e38, 1.4e9, radius)))
    burst = nominal("konus", 1e40)
    tables = build_tables(burst, radius, gamma, bins=BINS)
    eps_kev = np.geomspace(burst.e_min_kev, burst.e_max_kev, SOFT_POINTS)
    eps = eps_kev / ME_C2_KEV
    density = burst.density_per_kev(eps_kev, radius) * ME_C2_KEV
    e1 = _reference_nodes(eps[0] * 1e-2, gamma, gamma, count=3000)
    spectrum = np.trapezoid(jones_kernel(e1[:, None], gamma, eps[None, :]) * density[None, :], eps, axis=1)
    # the reference grid is fine enough: its total scattering rate is the angle-averaged KN rate
    # c ∫dε n(ε) ∫dμ (1 − βμ)/2 σ_KN(γε(1 − βμ))
    mu = np.linspace(-1.0, 1.0, 4001)
    beta = np.sqrt(1 - 1 / gamma**2)
    per_eps = [np.trapezoid((1 - beta * mu) / 2 * sigma_kn(gamma * x * (1 - beta * mu)), mu) for x in eps]
    rate = C_CM_S * np.trapezoid(density * np.array(per_eps), eps)
    assert np.trapezoid(spectrum, e1) / rate == pytest.approx(1.0, rel=1e-4)
    power = np.trapezoid(spectrum * e1, e1) * ME_C2_ERG
    assert tables.ic_power_erg_s / power == pytest.approx(1.0, rel=5e-3)
    top = e1 >= np.geomspace(tables.info["threshold_low_kev"] / ME_C2_KEV, gamma, BINS + 1)[-2]
    assert tables.emission_per_s[-1] / np.trapezoid(spectrum[top], e1[top]) == pytest.approx(1.0, rel=1e-2)


def test_soft_photon_density_matches_quadrature(setting):
    burst, tables, _, _ = setting
    # n = Ṅ / (4π r² c) with Ṅ = ∫ dṄ/dE dE over 1–1000 keV, the normalisation from the 20–200 keV energy output
    def band_energy(e):
        return e * burst.shape(np.array(e))

    norm = burst.luminosity_erg_s / (quad(band_energy, 20.0, 200.0)[0] * ERG_PER_KEV)
    photons = quad(lambda e: burst.shape(np.array(e)), 1.0, 1000.0, points=[10.0, 100.0], limit=200)[0] * norm
    assert tables.soft_density_cm3 / (photons / (FOUR_PI * RADIUS_CM**2 * C_CM_S)) == pytest.approx(1.0, rel=2e-3)


def test_inverse_compton_power_thomson_limit():
    # a soft burst (≤ 0.01 keV): γ ε ≤ 4e-4 m_e c², deep in the Thomson regime: P = (4/3) σ_T c γ² U
    # (Rybicki & Lightman eq. 7.16a); the first KN correction, −(63/10) γ⟨ε²⟩/⟨ε⟩, is ~1e-3 here
    gamma = 20.0
    burst = replace(nominal("konus", 1e40), e_min_kev=1e-4, e_max_kev=0.01)
    tables = build_tables(burst, RADIUS_CM, gamma)
    assert tables.no_cascade  # nothing reaches the pair threshold, the power is still computed
    eps_kev = np.geomspace(1e-4, 0.01, 4001)
    u_erg = np.trapezoid(eps_kev * burst.density_per_kev(eps_kev, RADIUS_CM), eps_kev) * ERG_PER_KEV
    thomson = 4 / 3 * SIGMA_T_CM2 * C_CM_S * gamma**2 * u_erg
    assert tables.ic_power_erg_s / thomson == pytest.approx(1.0, rel=4e-3)
