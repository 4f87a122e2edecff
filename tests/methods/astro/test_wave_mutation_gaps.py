"""Gaps in the tests of `methods.astro.wave` found by a mutation audit.

Closed here: the input checks of every function. The older tests refused a negative radius and luminosity in
`strength_parameter` only, so dropping the finiteness check (an infinite luminosity gave a₀ = inf), the frequency
check (ν = 0 gave a₀ = inf with a warning) or the luminosity check of `energy_density_erg_cm3` (a negative energy
density) went through.
"""

from __future__ import annotations

import math

import pytest

from methods.astro.wave import energy_density_erg_cm3, field_amplitude_statv_cm, strength_parameter


@pytest.mark.parametrize("bad", [math.inf, math.nan, 0.0, -1.0])
def test_every_input_must_be_finite_and_positive(bad):
    with pytest.raises(ValueError, match="luminosity_erg_s"):
        strength_parameter(bad, 1.4e9, 1e9)
    with pytest.raises(ValueError, match="frequency_hz"):
        strength_parameter(4e38, bad, 1e9)
    with pytest.raises(ValueError, match="radius_cm"):
        strength_parameter(4e38, 1.4e9, bad)
    with pytest.raises(ValueError, match="luminosity_erg_s"):
        field_amplitude_statv_cm(bad, 1e9)
    with pytest.raises(ValueError, match="luminosity_erg_s"):
        energy_density_erg_cm3(bad, 1e9)
    with pytest.raises(ValueError, match="radius_cm"):
        energy_density_erg_cm3(4e38, bad)


def test_one_bad_element_of_an_array_is_refused():
    with pytest.raises(ValueError, match="radius_cm"):
        strength_parameter(4e38, 1.4e9, [1e8, math.inf, 1e10])

