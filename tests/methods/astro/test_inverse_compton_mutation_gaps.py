"""Gaps in the tests of `methods.astro.inverse_compton` found by a mutation audit.

Closed here:
- the Jones kernel is zero below its range 1/(4γ²) <= q (for γ ≫ 1, scattered energies E₁ below about ε): the
  older tests integrated it over that region, where it adds only ~1/γ² of the rate, so dropping the bound went
  through;
- the blackbody density refuses a zero or NaN temperature (it returned zeros);
- a population whose γ range is empty (γ_min = γ_max) emits nothing (not an error from an empty log-spaced γ grid);
- the population spectrum deep in the Klein–Nishina regime (4εγ ~ 4 × 10⁵, beyond the naima comparison's ~10³),
  where a photon E₁ comes from leptons γ − E₁ >= ~1/(4ε), against scipy quadrature in ln(γ − E₁): a γ grid
  starting at 10⁻³ E₁ above E₁ (not 10⁻⁹) lost 30-50 %.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from methods.astro.constants import ME_C2_ERG
from methods.astro.inverse_compton import blackbody_photon_density, jones_kernel, population_spectrum


def test_kernel_is_zero_below_its_lower_range_and_positive_above():
    # γ = 100, ε = 1e-6 (m_e c²): Γ = 4εγ = 4e-4 and q = E₁ / (Γ (γ − E₁)); the range starts at q = 1/(4γ²) = 2.5e-5
    gamma, eps = 100.0, 1e-6
    # E₁ = 0.5e-6: q = 0.5e-6 / (4e-4 × (100 − 0.5e-6)) = 1.25e-5 (below); E₁ = 2e-6: q = 5e-5 (inside)
    below, inside = jones_kernel(np.array([0.5e-6, 2e-6]), gamma, eps)
    assert below == 0.0 and inside > 0.0


@pytest.mark.parametrize("temperature_k", [0.0, -5.0, math.nan])
def test_blackbody_refuses_a_non_positive_temperature(temperature_k):
    with pytest.raises(ValueError, match="temperature_k"):
        blackbody_photon_density(np.array([1e-12]), temperature_k)


def test_population_with_an_empty_gamma_range_emits_nothing():
    eps = np.geomspace(1e-12, 1e-9, 50)
    density = blackbody_photon_density(eps, 3e4)
    out = population_spectrum(np.array([1e-6, 1e-4]) * ME_C2_ERG, lambda g: np.ones_like(g), 1e3, 1e3, eps, density)
    assert np.array_equal(out, [0.0, 0.0])


@pytest.mark.parametrize("e1", [1e4, 1e5, 1e6])
def test_population_spectrum_deep_in_the_klein_nishina_regime(e1):
    # two soft-photon energies 1 and 1.001 m_e c², density 1 per unit ε (trapezoid over ε, as lepton_spectrum does),
    # leptons dN/dγ = γ⁻² on [1e3, 1e7]; the reference integrates over u = ln(γ − E₁) through the shell's edge at
    # γ − E₁ = (√(E₁² + E₁/ε) − E₁)/2 ≈ 1/(4ε) = 0.25
    eps = np.array([1.0, 1.001])
    weights = np.array([0.5, 0.5]) * (eps[1] - eps[0])  # trapezoid over ε [m_e c²]

    def integrand(u):
        gamma = e1 + math.exp(u)
        return math.exp(u) * gamma**-2 * float(np.sum(weights * jones_kernel(e1, gamma, eps)))

    reference = quad(integrand, math.log(0.2), math.log(1e7 - e1), points=[math.log(0.2498), math.log(0.25)],
                     limit=400, epsrel=1e-10)[0] / ME_C2_ERG  # per erg of E₁
    ours = population_spectrum(np.array([e1 * ME_C2_ERG]), lambda g: g**-2.0, 1e3, 1e7, eps * ME_C2_ERG,
                               np.full(2, 1.0 / ME_C2_ERG))[0]  # [cm⁻³ erg⁻¹]
    assert ours == pytest.approx(reference, rel=2e-3, abs=0)
