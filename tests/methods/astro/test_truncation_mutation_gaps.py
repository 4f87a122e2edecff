"""Gaps in the tests of `methods.astro.truncation` found by a mutation audit.

Closed here:
- every input check names its key: the Goldreich–Julian density's period, surface field and star radius (a zero
  period was a ZeroDivisionError, a negative field a negative density, an infinite radius a density of 0), and
  `truncation_times`' frequency (a negative one passed: only ν² enters) and horizon;
- truncation times of a sub-microsecond cascade to the requested relative tolerance (Brent's absolute tolerance
  xtol must sit far below the time itself: 1e-9 s gave 0.1 % errors here), against roots of the closed form
  N(t) = A e^{λ₊t} + B e^{λ₋t} of a one-bin cascade;
- the thresholds are inclusive without a cascade: a seed density exactly at the plasma cut-off truncates at
  t = 0, and an energy-depletion time exactly at the horizon counts as truncated.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from methods.astro.field import CascadeTables
from methods.astro.truncation import goldreich_julian_density_cm3, plasma_cutoff_density_cm3, truncation_times

GAMMA, POWER = 50.0, 1e-6
EMISSION, KAPPA = 3.0e7, 2.0e7  # s⁻¹: e-folding in ~0.1 µs
ROOT = math.sqrt(KAPPA**2 + 8 * EMISSION * KAPPA)
LAM_P, LAM_M = (-KAPPA + ROOT) / 2, (-KAPPA - ROOT) / 2
A, B = -LAM_M / (LAM_P - LAM_M), LAM_P / (LAM_P - LAM_M)
RADIUS, LUMINOSITY, FREQUENCY = 1e9, 4e38, 1.4e9


def _idle():
    return CascadeTables(GAMMA, np.zeros(0), np.zeros(0), np.zeros(0), POWER, 1e17, no_cascade="test: none")


@pytest.mark.parametrize("key", ["radius_cm", "period_s", "b_surface_g", "ns_radius_cm"])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_goldreich_julian_inputs_are_checked(key, bad):
    kwargs = {"period_s": 3.245, "b_surface_g": 2.2e14, "ns_radius_cm": 1e6}
    with pytest.raises(ValueError, match=key):
        if key == "radius_cm":
            goldreich_julian_density_cm3(bad, **kwargs)
        else:
            goldreich_julian_density_cm3(1e9, **{**kwargs, key: bad})


@pytest.mark.parametrize("key", ["frequency_hz", "horizon_s", "radius_cm", "frb_luminosity_erg_s"])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_truncation_inputs_are_checked(key, bad):
    kwargs = {"radius_cm": RADIUS, "frb_luminosity_erg_s": LUMINOSITY, "frequency_hz": FREQUENCY,
              "seed_density_cm3": 1e3, "horizon_s": 1.0}
    with pytest.raises(ValueError, match=key):
        truncation_times(_idle(), **{**kwargs, key: bad})


def test_sub_microsecond_truncation_times_to_the_requested_tolerance():
    tables = CascadeTables(GAMMA, np.array([10.0]), np.array([EMISSION]), np.array([KAPPA]), POWER, 1e17)
    seed = 1e3
    result = truncation_times(tables, radius_cm=RADIUS, frb_luminosity_erg_s=LUMINOSITY, frequency_hz=FREQUENCY,
                              seed_density_cm3=seed)
    for name, density in (("plasma_cutoff", plasma_cutoff_density_cm3(FREQUENCY, GAMMA)), ("opacity", 1.5032036e15)):
        target = math.log(density / seed)

        def margin(t, target=target):
            return math.log(A) + LAM_P * t + math.log1p(B / A * math.exp((LAM_M - LAM_P) * t)) - target

        expected = brentq(margin, 0.0, 1e-3, xtol=1e-22, rtol=1e-14)
        assert 1e-7 < expected < 2e-6
        assert result[name].time_s == pytest.approx(expected, rel=1e-5), name


def test_seed_density_exactly_at_the_plasma_cutoff_truncates_at_once():
    seed = plasma_cutoff_density_cm3(FREQUENCY, GAMMA)  # n_± / n_seed = 1 from the start
    result = truncation_times(_idle(), radius_cm=RADIUS, frb_luminosity_erg_s=LUMINOSITY, frequency_hz=FREQUENCY,
                              seed_density_cm3=seed)
    assert result["plasma_cutoff"].truncated and result["plasma_cutoff"].time_s == 0.0
    assert result["plasma_cutoff"].efolds == 0.0


def test_energy_depletion_exactly_at_the_horizon_counts():
    kwargs = {"radius_cm": RADIUS, "frb_luminosity_erg_s": LUMINOSITY, "frequency_hz": FREQUENCY,
              "seed_density_cm3": 1e-3}
    free = truncation_times(_idle(), horizon_s=1e30, **kwargs)["energy_depletion"]
    assert free.truncated and 0 < free.time_s < 1e30
    at_horizon = truncation_times(_idle(), horizon_s=free.time_s, **kwargs)["energy_depletion"]
    assert at_horizon.truncated and at_horizon.time_s == free.time_s
    beyond = truncation_times(_idle(), horizon_s=free.time_s * (1 - 1e-12), **kwargs)["energy_depletion"]
    assert not beyond.truncated
