"""Gaps in the counterpart and wave tests found by a mutation audit of methods/astro/counterpart.py and wave.py.

Closed here:
- the published fits, flux and distance are what the cited papers report (research card, table 1.4), including
  which side of an asymmetric error is which;
- `Measured.sample` puts the published 1σ bars at the 16th and 84th percentiles and the value at the median;
- sampled luminosities L = 4π d² F follow the distribution of the product (quadrature over flux and distance);
- the photon density is the emitted rate spread over 4π r² c (energy conservation through the sphere), and the
  spectrum includes its end points;
- the lepton Lorentz factor is the phase average of a linearly polarised quiver, γ² = 1 + a₀² ⟨sin² φ⟩.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from methods.astro import counterpart as cp
from methods.astro.constants import C_CM_S, ERG_PER_KEV
from methods.astro.wave import lepton_gamma, strength_parameter


def test_published_fits_flux_and_distance():
    hxmt, konus, integral = cp.nominal("hxmt"), cp.FITS["konus"], cp.FITS["integral"]
    # Insight-HXMT X-ray peaks (Ge et al. 2023): photon index Γ ≈ 1.4, E_cut ≈ 60 keV
    assert hxmt.alpha == -1.4 and hxmt.cutoff_kev == pytest.approx(60.0, rel=1e-12)
    # Konus-Wind (Ridnaia et al. 2021): α = −0.52 (+0.57 / −0.50), E_p = 82 (+12 / −9) keV
    assert (konus.alpha.value, konus.alpha.minus, konus.alpha.plus) == (-0.52, 0.50, 0.57)
    assert (konus.peak_kev.value, konus.peak_kev.minus, konus.peak_kev.plus) == (82.0, 9.0, 12.0)
    # INTEGRAL/IBIS (Mereghetti et al. 2020): Γ = 0.7 (+0.4 / −0.2), so α = −Γ = −0.7 (−0.4 / +0.2); E_p = 65 ± 5 keV
    assert (integral.alpha.value, integral.alpha.minus, integral.alpha.plus) == (-0.7, 0.4, 0.2)
    assert (integral.peak_kev.value, integral.peak_kev.minus, integral.peak_kev.plus) == (65.0, 5.0, 5.0)
    # 16-ms peak flux (9.10 ± 2.29) × 10⁻⁶ erg cm⁻² s⁻¹ in 20–200 keV; distance 4.4 (+2.8 / −1.3) kpc
    flux, distance = cp.PEAK_FLUX_ERG_CM2_S, cp.DISTANCE_KPC
    assert (flux.value, flux.minus, flux.plus) == (9.10e-6, 2.29e-6, 2.29e-6)
    assert (distance.value, distance.minus, distance.plus) == (4.4, 1.3, 2.8)
    assert cp.BAND_KEV == (20.0, 200.0) and (cp.E_MIN_KEV, cp.E_MAX_KEV) == (1.0, 1000.0)


def test_split_normal_puts_the_error_bars_at_the_16th_and_84th_percentiles():
    draws = cp.Measured(10.0, 1.0, 4.0).sample(np.random.default_rng(1), 40_000)
    # standard errors of these quantiles: ~0.01 (median side), ~0.02-0.04 (tails)
    assert np.median(draws) == pytest.approx(10.0, abs=0.05)
    assert np.percentile(draws, 100 * norm.cdf(-1)) == pytest.approx(9.0, abs=0.05)
    assert np.percentile(draws, 100 * norm.cdf(1)) == pytest.approx(14.0, abs=0.15)
    bounded = cp.Measured(0.0, 1.0, 1.0).sample(np.random.default_rng(2), 2000, low=-0.5, high=0.3)
    assert np.all((bounded > -0.5) & (bounded < 0.3))
    # Konus α = −0.52 (−0.50): the fit's draws are cut only at the physical bound −1.95 (and +1.95), so the share
    # below −1.5 is [Φ(−0.98/0.50) − Φ(−1.43/0.50)] / [1 − Φ(−1.43/0.50) − Φ(−2.47/0.57)]
    n = 4000
    alpha = np.array([c.alpha for c in cp.sample("konus", n, np.random.default_rng(5))])
    share = (norm.cdf(-0.98 / 0.50) - norm.cdf(-1.43 / 0.50)) / (1 - norm.cdf(-1.43 / 0.50) - norm.cdf(-2.47 / 0.57))
    assert np.mean(alpha < -1.5) == pytest.approx(share, abs=4 * np.sqrt(share * (1 - share) / n))
    assert alpha.min() > -1.95


def test_sampled_luminosity_follows_the_product_of_flux_and_distance():
    """P(4π d² F <= k L₀) for the split-normal distance and the normal flux, both truncated at 0, by quadrature."""
    d0, d_minus, d_plus = 4.4, 1.3, 2.8
    f0, f_sigma = 9.10e-6, 2.29e-6

    def distance_pdf(d):  # half the mass on each side, each a half-normal of its own σ
        s = d_minus if d < d0 else d_plus
        return norm.pdf((d - d0) / s) / s

    d_norm = quad(distance_pdf, 0.0, 60.0, points=[d0])[0]
    f_norm = norm.sf(0.0, f0, f_sigma)

    def below(k):
        def integrand(d):
            return distance_pdf(d) * (norm.cdf(k * f0 * d0**2 / d**2, f0, f_sigma) - norm.cdf(0.0, f0, f_sigma))

        return quad(integrand, 0.0, 60.0, points=[d0], limit=200)[0] / (d_norm * f_norm)

    n = 4000
    lum = np.array([c.luminosity_erg_s for c in cp.sample("konus", n, np.random.default_rng(3))])
    l0 = cp.luminosity_erg_s(f0, d0)
    for k in (0.5, 1.0, 2.0):
        p = below(k)
        assert np.mean(lum <= k * l0) == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n)), k
    fixed = cp.sample("konus", 5, np.random.default_rng(4), luminosity=3e40)
    assert all(c.luminosity_erg_s == 3e40 for c in fixed)


def test_photon_density_carries_the_band_luminosity_through_the_sphere():
    burst = cp.nominal("integral", 1e40)
    radius = 3e8
    band = np.geomspace(20.0, 200.0, 20_001)
    # energy density u times c times 4π r² is the luminosity crossing the sphere
    u = np.trapezoid(band * burst.density_per_kev(band, radius), band) * ERG_PER_KEV
    assert u * C_CM_S * 4 * np.pi * radius**2 / 1e40 == pytest.approx(1.0, rel=1e-6)
    rate = burst.photon_rate_per_kev(np.array([burst.e_min_kev, burst.e_max_kev, 0.999, 1000.001]))
    assert rate[0] > 0 and rate[1] > 0 and rate[2] == 0 and rate[3] == 0  # closed interval [1, 1000] keV
    with pytest.raises(ValueError, match="e_max_kev"):
        cp.Counterpart(alpha=-0.5, peak_kev=80.0, luminosity_erg_s=1e40, e_min_kev=5.0, e_max_kev=5.0)


def test_lepton_gamma_is_the_phase_average_of_a_linear_quiver():
    # p_⊥ = a₀ sin φ m_e c in a linearly polarised wave; γ² = 1 + ⟨p_⊥²⟩ = 1 + a₀²/2 over a uniform phase
    phase = np.linspace(0.0, 2 * np.pi, 100_001)[:-1]
    for a0 in (0.3, 3.0, 300.0):
        assert float(lepton_gamma(a0)) == pytest.approx(np.sqrt(1 + np.mean((a0 * np.sin(phase)) ** 2)), rel=1e-12)
    # a₀ = e E₀ / (m_e c ω), E₀ = √(2L/c)/r: 4e38 erg/s, 1.4 GHz, 1e9 cm gives a₀ = 326.62 (hand computation)
    assert float(strength_parameter(4e38, 1.4e9, 1e9)) == pytest.approx(326.62, rel=1e-4)
    with pytest.raises(ValueError, match="radius_cm"):
        strength_parameter(4e38, 1.4e9, 0.0)
