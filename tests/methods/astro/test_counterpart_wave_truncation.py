"""FRB 200428's counterpart (counterpart.py), the FRB wave (wave.py) and the truncation criteria (truncation.py)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from methods.astro import counterpart as cp
from methods.astro.constants import ERG_PER_KEV
from methods.astro.field import build_tables
from methods.astro.truncation import (
    CRITERIA,
    goldreich_julian_density_cm3,
    plasma_cutoff_density_cm3,
    truncation_times,
)
from methods.astro.wave import lepton_gamma, strength_parameter


def test_luminosity_of_the_published_flux_and_distance():
    lum = cp.luminosity_erg_s(cp.PEAK_FLUX_ERG_CM2_S.value, cp.DISTANCE_KPC.value)
    assert lum == pytest.approx(2.1e40, rel=0.02)  # 4π (4.4 kpc)² × 9.1e-6 erg cm⁻² s⁻¹


@pytest.mark.parametrize("fit", list(cp.FITS))
def test_spectrum_normalised_to_the_band_luminosity(fit):
    burst = cp.nominal(fit, luminosity=1e40)
    band = np.geomspace(*cp.BAND_KEV, 4001)
    power = np.trapezoid(band * burst.photon_rate_per_kev(band), band) * ERG_PER_KEV
    assert power == pytest.approx(1e40, rel=1e-4)
    assert burst.cutoff_kev == pytest.approx(burst.peak_kev / (2 + burst.alpha))
    # E² dN/dE peaks at E_p
    e = np.geomspace(1, 1000, 20001)
    assert e[np.argmax(e**2 * burst.shape(e))] == pytest.approx(burst.peak_kev, rel=1e-3)


def test_sampling_stays_physical_and_spreads():
    rng = np.random.default_rng(0)
    draws = cp.sample("konus", 2000, rng)
    alpha = np.array([d.alpha for d in draws])
    lum = np.array([d.luminosity_erg_s for d in draws])
    assert np.all((alpha > -2) & (alpha < 2)) and np.all(lum > 0)
    assert np.median(alpha) == pytest.approx(-0.52, abs=0.05)
    assert 0.3 < np.std(alpha) < 0.7  # published errors −0.50 / +0.57
    hxmt = cp.sample("hxmt", 50, rng, luminosity=1e40)
    assert {d.alpha for d in hxmt} == {-1.4}  # no published errors: not sampled


def test_bad_counterpart_input_names_the_key():
    with pytest.raises(ValueError, match="luminosity_erg_s"):
        cp.Counterpart(alpha=-0.5, peak_kev=80, luminosity_erg_s=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        cp.Counterpart(alpha=2.5, peak_kev=80, luminosity_erg_s=1e40)
    with pytest.raises(ValueError, match="radius_cm"):
        cp.nominal("konus").density_per_kev(np.array([10.0]), -1e8)
    with pytest.raises(ValueError, match="spectrum"):
        cp.nominal("swift")


def test_strength_parameter():
    # a₀ ≈ 1.63×10¹¹ (L/10³⁸)^½ (ν/1.4 GHz)⁻¹ / r  (research card sec. 1.5.1)
    assert float(strength_parameter(1e38, 1.4e9, 1e8)) == pytest.approx(1.63e3, rel=3e-3)
    radii = np.geomspace(1e7, 1e11, 9)
    product = strength_parameter(4e38, 6e8, radii) * radii
    assert np.allclose(product, product[0], rtol=1e-12)  # a₀ r independent of r
    assert float(strength_parameter(4e38, 1.4e9, 1e9) / strength_parameter(1e38, 2.8e9, 1e9)) == pytest.approx(4.0)
    assert float(lepton_gamma(0.0)) == 1.0
    with pytest.raises(ValueError, match="radius_cm"):
        strength_parameter(1e38, 1.4e9, -5.0)
    with pytest.raises(ValueError, match="luminosity_erg_s"):
        strength_parameter(-1e38, 1.4e9, 1e9)


def test_plasma_cutoff_density():
    # non-relativistic critical density of one species π m_e ν²/e² = 2.43e10 cm⁻³ at 1.4 GHz (research card)
    assert plasma_cutoff_density_cm3(1.4e9, 1.0) == pytest.approx(2.43e10, rel=5e-3)
    assert plasma_cutoff_density_cm3(1.4e9, 4.0) == pytest.approx(4 * plasma_cutoff_density_cm3(1.4e9, 1.0))
    assert goldreich_julian_density_cm3(1e9) == pytest.approx(goldreich_julian_density_cm3(1e8) / 1e3)


def _truncation(radius_cm=1e9, luminosity=2e40, seed_density=None, frequency_hz=1.4e9, e_max_kev=1000.0, **kw):
    gamma = float(lepton_gamma(strength_parameter(4e38, frequency_hz, radius_cm)))
    burst = replace(cp.nominal("konus", luminosity), e_max_kev=e_max_kev)
    tables = build_tables(burst, radius_cm, gamma, **kw)
    seed = seed_density if seed_density is not None else goldreich_julian_density_cm3(radius_cm)
    return truncation_times(tables, radius_cm=radius_cm, frb_luminosity_erg_s=4e38, frequency_hz=frequency_hz,
                            seed_density_cm3=seed)


def test_truncation_is_ms_scale_for_frb200428_at_1e9_cm():
    result = _truncation()
    assert set(result) == set(CRITERIA)
    for item in result.values():
        assert item.truncated and math.isfinite(item.time_s) and item.time_s > 0
    assert 1e-4 < result["plasma_cutoff"].time_s < 1e-2  # 0.1–10 ms
    assert 15 < result["plasma_cutoff"].efolds < 30


def test_truncation_monotone_in_luminosity_seed_and_radius():
    times = [_truncation(luminosity=lx)["plasma_cutoff"].time_s for lx in (1e39, 1e40, 1e41)]
    assert times[0] > times[1] > times[2]
    seeds = [_truncation(seed_density=n)["plasma_cutoff"].time_s for n in (1e2, 1e4, 1e6)]
    assert seeds[0] > seeds[1] > seeds[2]
    radii = [_truncation(radius_cm=r)["plasma_cutoff"].time_s for r in (1e8, 1e9)]
    assert radii[0] < radii[1]


def test_no_cascade_is_a_stated_result_not_nan():
    result = _truncation(radius_cm=1e11, e_max_kev=100.0)  # no photon reaches the pair threshold
    for item in result.values():
        assert math.isfinite(item.time_s)
    assert not result["plasma_cutoff"].truncated and not result["opacity"].truncated
    with pytest.raises(ValueError, match="seed_density_cm3"):
        _truncation(seed_density=-1.0)
