"""Inverse-Compton emission (methods/astro/inverse_compton.py) against naima's ``InverseCompton``.

A power-law electron population (index 2.5, 1 GeV – 100 TeV) on a 3×10⁴ K blackbody: the scattered spectrum from
0.1 GeV (Thomson regime) to 30 TeV (deep Klein–Nishina, 4εγ up to ~10³) agrees with naima within 1%. naima
(Khangulyan, Aharonian & Kelner 2014) is run with 10,000 electron-energy nodes per decade: with its default 300,
its own spectrum is ~20% low above 3 TeV, where photons come from a thin shell of electrons just above E₁.
"""

from __future__ import annotations

import numpy as np
import pytest

from methods.astro.constants import C_CM_S, ERG_PER_KEV, K_B_KEV_K, ME_C2_KEV, SIGMA_T_CM2
from methods.astro.cross_sections import sigma_kn
from methods.astro.inverse_compton import blackbody_photon_density, jones_kernel, lepton_spectrum, population_spectrum

TOLERANCE = 0.01  # relative, every photon energy
TEMPERATURE_K = 3e4
INDEX = 2.5
AMPLITUDE_PER_EV = 1e36  # electrons per eV at 1 TeV
E_MIN_EV, E_MAX_EV = 1e9, 1e14


def _soft_field():
    kt_erg = K_B_KEV_K * TEMPERATURE_K * ERG_PER_KEV
    eps = np.geomspace(1e-3, 10**2.5, 300) * kt_erg
    return eps, blackbody_photon_density(eps, TEMPERATURE_K)


def test_agrees_with_naima_inverse_compton():
    naima = pytest.importorskip("naima", reason="naima (extra 'astro') is not installed")
    import astropy.units as u

    mc2_ev = ME_C2_KEV * 1e3
    eps, density = _soft_field()
    photon_ev = np.geomspace(1e8, 10**13.5, 12)

    def electrons_per_gamma(gamma):
        return AMPLITUDE_PER_EV * (gamma * mc2_ev / 1e12) ** -INDEX * mc2_ev

    ours = population_spectrum(photon_ev * 1e-3 * ERG_PER_KEV, electrons_per_gamma, E_MIN_EV / mc2_ev,
                               E_MAX_EV / mc2_ev, eps, density) * ERG_PER_KEV * 1e-3  # per eV
    energy_density = float(np.trapezoid(density * eps, eps))
    model = naima.models.InverseCompton(
        naima.models.PowerLaw(AMPLITUDE_PER_EV / u.eV, 1 * u.TeV, INDEX),
        seed_photon_fields=[["bb", TEMPERATURE_K * u.K, energy_density * u.erg / u.cm**3]],
        Eemin=E_MIN_EV * u.eV, Eemax=E_MAX_EV * u.eV, nEed=10_000)
    reference = model.flux(photon_ev * u.eV, distance=0).to(1 / (u.s * u.eV)).value
    np.testing.assert_allclose(ours, reference, rtol=TOLERANCE)


def test_blackbody_energy_density_is_a_t4():
    eps, density = _soft_field()
    a_rad = 7.565733e-15  # radiation constant [erg cm⁻³ K⁻⁴] (CODATA 2022)
    assert np.trapezoid(density * eps, eps) == pytest.approx(a_rad * TEMPERATURE_K**4, rel=1e-3)


@pytest.mark.parametrize(("gamma", "eps"), [(1e3, 1e-6), (1e5, 1e-5), (1e7, 1e-5)])
def test_kernel_integrates_to_the_klein_nishina_rate(gamma, eps):
    """∫ dE₁ of the Jones kernel = c <(1 − βμ) σ_KN(γε(1 − βμ))> over an isotropic field, Thomson to deep KN."""
    big = 4 * eps * gamma
    e1 = np.geomspace(gamma * big / (1 + big) * 1e-12, gamma * big / (1 + big) * (1 - 1e-12), 200_001)
    total = np.trapezoid(jones_kernel(e1, gamma, eps), e1)
    mu = np.linspace(-1, 1, 200_001)
    beta = np.sqrt(1 - 1 / gamma**2)
    rate = C_CM_S * np.trapezoid((1 - beta * mu) / 2 * sigma_kn(gamma * eps * (1 - beta * mu)), mu)
    assert total == pytest.approx(rate, rel=1e-3, abs=0)


def test_thomson_power():
    """P = (4/3) σ_T c γ² U in the Thomson regime."""
    gamma = 30.0
    eps, density = _soft_field()
    e1 = np.geomspace(eps[0] * 1e-2, 4.5 * gamma**2 * eps[-1], 3000)
    spectrum = lepton_spectrum(e1, gamma, eps, density)
    power = np.trapezoid(spectrum * e1, e1)
    energy_density = np.trapezoid(density * eps, eps)
    assert power == pytest.approx(4 / 3 * SIGMA_T_CM2 * C_CM_S * gamma**2 * energy_density, rel=2e-2)
    assert np.all(spectrum >= 0)
