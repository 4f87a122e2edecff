"""The pair cascade: rate tables (field.py), rate equations (cascade_rate.py), Monte Carlo (cascade_mc.py).

The Monte Carlo and the rate equations share the tables, so their multiplicities must agree within the Monte
Carlo's statistical error at every time; the closed-form (modal) solution must match solve_ivp; the growth rate
scales as L_X at fixed spectrum; a field that cannot reach the pair threshold gives "no cascade", never NaN.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from methods.astro.cascade_mc import simulate
from methods.astro.cascade_rate import ModalSolution, growth_rate_per_s, solve
from methods.astro.constants import ME_C2_KEV
from methods.astro.counterpart import nominal
from methods.astro.field import build_tables
from methods.astro.wave import lepton_gamma, strength_parameter

RADIUS_CM = 1e9
MC_SIGMA = 4.0  # |MC − rate| / stderr allowed at each time (16 replicas, ~20 time points)


def _tables(radius_cm=RADIUS_CM, luminosity=1e40, bins=32, e_max_kev=1000.0, **kwargs):
    gamma = float(lepton_gamma(strength_parameter(4e38, 1.4e9, radius_cm)))
    counterpart = replace(nominal("konus", luminosity), e_max_kev=e_max_kev)
    return build_tables(counterpart, radius_cm, gamma, bins=bins, **kwargs)


@pytest.fixture(scope="module")
def tables():
    return _tables()


def test_tables_are_finite_and_positive(tables):
    assert not tables.no_cascade
    for array in (tables.energy_mec2, tables.emission_per_s, tables.absorption_per_s):
        assert np.all(np.isfinite(array)) and np.all(array > 0)
    # every bin is above the lowest pair threshold on the field and below the lepton energy
    assert tables.energy_mec2.min() * ME_C2_KEV >= tables.info["threshold_low_kev"]
    assert tables.energy_mec2.max() < tables.gamma_lepton


def test_monte_carlo_agrees_with_rate_equations(tables):
    growth = growth_rate_per_s(tables)
    time_s = np.linspace(0.0, 9.0 / growth, 20)
    rate = solve(tables, time_s)
    mc = simulate(tables, time_s, seeds=300, replicas=16, max_per_generation=50_000, rng=np.random.default_rng(5))
    assert rate.multiplicity[-1] > 1e3  # the comparison spans a real cascade
    stderr = np.where(mc.multiplicity_stderr > 0, mc.multiplicity_stderr, np.inf)
    deviation = np.abs(mc.multiplicity_mean - rate.multiplicity) / stderr
    assert deviation.max() < MC_SIGMA, deviation
    assert np.all(mc.multiplicity_stderr[1:] > 0)
    # at t = 0 nothing is random: both start from the same multiplicity exactly
    assert mc.multiplicity_stderr[0] == 0 and mc.multiplicity_mean[0] == pytest.approx(rate.multiplicity[0], rel=1e-9)
    # the energy drawn from the wave, too
    np.testing.assert_allclose(mc.energy_drawn_erg[-1], rate.energy_drawn_erg[-1],
                               rtol=5 * mc.multiplicity_stderr[-1] / mc.multiplicity_mean[-1])


def test_numba_backend_agrees_when_available(tables):
    pytest.importorskip("numba", reason="numba (extra 'astro') is not installed")
    growth = growth_rate_per_s(tables)
    time_s = np.linspace(0.0, 6.0 / growth, 8)
    rate = solve(tables, time_s)
    mc = simulate(tables, time_s, seeds=200, replicas=12, backend="numba", rng=np.random.default_rng(2))
    stderr = np.where(mc.multiplicity_stderr > 0, mc.multiplicity_stderr, np.inf)
    assert (np.abs(mc.multiplicity_mean - rate.multiplicity) / stderr).max() < MC_SIGMA


def test_modal_solution_matches_solve_ivp(tables):
    modal = ModalSolution(tables)
    time_s = np.linspace(0.0, 20.0 / modal.growth_rate_per_s, 7)
    rate = solve(tables, time_s, rtol=1e-10)
    ours = np.exp([modal.log_multiplicity(t) for t in time_s])
    np.testing.assert_allclose(ours, rate.multiplicity, rtol=1e-6)
    energy = np.exp([modal.log_energy_drawn_erg(t) for t in time_s])
    np.testing.assert_allclose(energy, rate.energy_drawn_erg, rtol=1e-6)
    assert modal.growth_rate_per_s == pytest.approx(rate.growth_rate_per_s, rel=1e-9)
    assert np.all(np.diff(rate.multiplicity) > 0)  # no losses: N(t) never decreases


def test_growth_rate_scales_with_luminosity_and_falls_with_radius():
    base = growth_rate_per_s(_tables(luminosity=1e40))
    assert growth_rate_per_s(_tables(luminosity=1e41)) == pytest.approx(10 * base, rel=1e-9)
    rates = [growth_rate_per_s(_tables(radius_cm=r)) for r in (1e8, 1e9, 1e10)]
    assert rates[0] > rates[1] > rates[2] > 0


def test_no_cascade_below_threshold_or_in_radial_geometry():
    # γ_e ≈ 2.5 up-scatters to <= 1.3 MeV; a spectrum ending at 100 keV needs >= 2.6 MeV photons for pairs
    soft = _tables(radius_cm=1e11, e_max_kev=100.0)
    assert "no photons above threshold" in soft.no_cascade
    radial = _tables(geometry="radial")
    assert "radial geometry" in radial.no_cascade
    for tables in (soft, radial):
        assert growth_rate_per_s(tables) == 0.0
        time_s = np.linspace(0, 1e-3, 5)
        rate = solve(tables, time_s)
        mc = simulate(tables, time_s, seeds=10, replicas=2)
        assert np.all(rate.multiplicity == 1.0) and np.all(mc.multiplicity_mean == 1.0)
        assert all(math.isfinite(v) for v in rate.energy_drawn_erg)
    with pytest.raises(ValueError, match="no cascade"):
        ModalSolution(radial)


def test_bad_input_names_the_key():
    with pytest.raises(ValueError, match="radius_cm"):
        _tables(radius_cm=-1.0)
    with pytest.raises(ValueError, match="geometry"):
        _tables(geometry="sideways")
    with pytest.raises(ValueError, match="time_s"):
        solve(_tables(), np.array([1.0, 0.5]))
    with pytest.raises(ValueError, match="backend"):
        simulate(_tables(), np.array([0.0, 1e-3]), backend="gpu")
