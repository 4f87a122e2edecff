"""Gaps in the cascade and truncation tests found by a mutation audit of methods/astro/cascade_rate.py,
cascade_mc.py and truncation.py.

The older tests compared the modal solution with solve_ivp and the Monte Carlo with both, on the same tables,
so a fault shared by the solvers (or in what the truncation criteria compare N(t) and W(t) with) went unseen.
Closed here with a one-bin cascade, whose rate equations have a closed form:

    dN/dt = 2κ N₁,  dN₁/dt = Ṅ N − κ N₁,  N(0) = 1, N₁(0) = 0
    ⇒ N(t) = A e^{λ₊t} + B e^{λ₋t},  λ± = (−κ ± √(κ² + 8Ṅκ))/2,  A = −λ₋/(λ₊ − λ₋),  B = λ₊/(λ₊ − λ₋),
      W(t) = γ m_e c² N(t) + P_IC ∫₀ᵗ N,  N₁ = (dN/dt)/(2κ);

the truncation time of every criterion (own root-finding on the closed form, distinct targets so that criteria
cannot be swapped), the no-cascade energy-depletion time (W = γ m_e c² + P_IC t, solved by hand), N(0) = 1 and
the standard error of the Monte Carlo, and hand-computed values of the Goldreich–Julian and opacity densities.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import brentq

from methods.astro.cascade_mc import PhotonBudgetError, simulate
from methods.astro.cascade_rate import ModalSolution, growth_rate_per_s, solve
from methods.astro.constants import ME_C2_ERG
from methods.astro.field import CascadeTables
from methods.astro.truncation import (
    goldreich_julian_density_cm3,
    growth_summary,
    opacity_density_cm3,
    plasma_cutoff_density_cm3,
    truncation_times,
)
from methods.astro.wave import energy_density_erg_cm3

EMISSION, KAPPA, POWER, GAMMA = 3.0e3, 2.0e3, 1e-6, 50.0  # s⁻¹, s⁻¹, erg s⁻¹, Lorentz factor
ROOT = math.sqrt(KAPPA**2 + 8 * EMISSION * KAPPA)
LAM_P, LAM_M = (-KAPPA + ROOT) / 2, (-KAPPA - ROOT) / 2
A, B = -LAM_M / (LAM_P - LAM_M), LAM_P / (LAM_P - LAM_M)
MC2 = GAMMA * ME_C2_ERG


def _n(t):
    with np.errstate(over="ignore"):  # the root finders below probe long times, where N overflows to inf
        return A * np.exp(LAM_P * t) + B * np.exp(LAM_M * t)


def _log_n(t):  # no overflow at long times
    return math.log(A) + LAM_P * t + math.log1p(B / A * math.exp((LAM_M - LAM_P) * t))


def _w(t):
    with np.errstate(over="ignore"):
        return MC2 * _n(t) + POWER * (A * np.expm1(LAM_P * t) / LAM_P + B * np.expm1(LAM_M * t) / LAM_M)


def _tables(no_cascade=""):
    if no_cascade:
        return CascadeTables(GAMMA, np.zeros(0), np.zeros(0), np.zeros(0), POWER, 1e17, no_cascade=no_cascade)
    return CascadeTables(GAMMA, np.array([10.0]), np.array([EMISSION]), np.array([KAPPA]), POWER, 1e17)


def test_one_bin_growth_and_modal_solution_match_the_closed_form():
    tables = _tables()
    assert growth_rate_per_s(tables) == pytest.approx(LAM_P, rel=1e-12)
    assert growth_summary(tables)["efold_time_s"] == pytest.approx(1 / LAM_P, rel=1e-12)
    assert growth_summary(_tables(no_cascade="none"))["efold_time_s"] == math.inf
    modal = ModalSolution(tables)
    for t in (0.0, 1e-4, 1e-3, 5e-3, 2e-2):
        assert modal.log_multiplicity(t) == pytest.approx(math.log(_n(t)), abs=1e-12)
        assert modal.log_energy_drawn_erg(t) == pytest.approx(math.log(_w(t)), abs=1e-12)
    # ∫₀ᵗ N down to times where λ t ≪ 1 (there ∫N ≈ t)
    for t in (1e-7, 1e-5, 1e-3):
        integral = A * math.expm1(LAM_P * t) / LAM_P + B * math.expm1(LAM_M * t) / LAM_M
        assert modal.log_integral(t) == pytest.approx(math.log(integral), abs=1e-10)
    assert modal.log_integral(0.0) == -math.inf
    # long times: N = e^{~2600} is far beyond float range, ln N is not
    assert modal.log_multiplicity(1.0) == pytest.approx(_log_n(1.0), rel=1e-12)
    assert modal.log_energy_drawn_erg(1.0) == pytest.approx(_log_n(1.0) + math.log(MC2 + POWER / LAM_P), rel=1e-12)
    # without inverse-Compton power the drawn energy is γ m_e c² N
    silent = ModalSolution(replace(tables, ic_power_erg_s=0.0))
    assert silent.log_energy_drawn_erg(1e-3) == pytest.approx(math.log(MC2 * _n(1e-3)), abs=1e-12)


def test_one_bin_rate_equations_match_the_closed_form():
    time_s = np.array([0.0, 1e-4, 1e-3, 3e-3, 6e-3])
    result = solve(_tables(), time_s)
    np.testing.assert_allclose(result.multiplicity, _n(time_s), rtol=1e-7)
    np.testing.assert_allclose(result.energy_drawn_erg, _w(time_s), rtol=1e-7)
    slope = LAM_P * A * np.exp(LAM_P * time_s) + LAM_M * B * np.exp(LAM_M * time_s)
    np.testing.assert_allclose(result.photons_above_threshold, slope / (2 * KAPPA), rtol=1e-7, atol=1e-12)
    assert result.growth_rate_per_s == pytest.approx(LAM_P, rel=1e-12)
    with pytest.raises(ValueError, match="time_s"):
        solve(_tables(), np.array([-0.5, 0.0]))


def _root(function, target):
    return brentq(lambda t: function(t) - math.log(target), 0.0, 1.0, xtol=1e-16, rtol=1e-13)


def test_truncation_times_of_every_criterion_on_the_closed_form():
    radius, luminosity, frequency, seed = 1e9, 4e38, 1.4e9, 1e3
    result = truncation_times(_tables(), radius_cm=radius, frb_luminosity_erg_s=luminosity, frequency_hz=frequency,
                              seed_density_cm3=seed)
    plasma = plasma_cutoff_density_cm3(frequency, GAMMA) / seed
    opacity = opacity_density_cm3(radius) / seed
    energy = float(energy_density_erg_cm3(luminosity, radius)) / seed
    assert len({round(math.log(v), 3) for v in (plasma, opacity, energy / MC2)}) == 3  # distinct targets
    expected = {"plasma_cutoff": _root(_log_n, plasma), "opacity": _root(_log_n, opacity),
                "energy_depletion": _root(lambda t: math.log(_w(t)), energy)}
    for name, time_s in expected.items():
        assert result[name].truncated
        assert result[name].time_s == pytest.approx(time_s, rel=2e-6), name
    assert result["plasma_cutoff"].efolds == pytest.approx(math.log(plasma), rel=1e-5)
    assert result["opacity"].efolds == pytest.approx(math.log(opacity), rel=1e-5)


def test_truncation_at_the_start_and_beyond_the_horizon():
    # a seed density above every threshold: cut off at once; a tiny seed density: never within a short horizon
    at_once = truncation_times(_tables(), radius_cm=1e9, frb_luminosity_erg_s=4e38, frequency_hz=1.4e9,
                               seed_density_cm3=1e30)
    assert all(item.truncated and item.time_s == 0.0 and abs(item.efolds) < 1e-12 for item in at_once.values())
    late = truncation_times(_tables(), radius_cm=1e9, frb_luminosity_erg_s=4e38, frequency_hz=1.4e9,
                            seed_density_cm3=1e-3, horizon_s=1e-3)
    for item in late.values():
        assert not item.truncated and item.time_s == 1e-3
        assert item.efolds == pytest.approx(math.log(_n(1e-3)), rel=1e-9)


def test_no_cascade_energy_depletion_is_solved_by_hand():
    tables = _tables(no_cascade="test: no photons above threshold")
    radius, luminosity = 1e9, 4e38
    seed = 1e-3  # the FRB's energy density per seed lepton is ~1e12 erg
    target_w = float(energy_density_erg_cm3(luminosity, radius)) / seed
    result = truncation_times(tables, radius_cm=radius, frb_luminosity_erg_s=luminosity, frequency_hz=1.4e9,
                              seed_density_cm3=seed, horizon_s=1e30)
    assert result["energy_depletion"].truncated
    assert result["energy_depletion"].time_s == pytest.approx((target_w - MC2) / POWER, rel=1e-12)
    # the multiplicity stays 1, so the density criteria never trigger; efolds is ln of the unreached ratio
    assert not result["plasma_cutoff"].truncated and result["plasma_cutoff"].time_s == 1e30
    assert result["plasma_cutoff"].efolds == pytest.approx(math.log(plasma_cutoff_density_cm3(1.4e9, GAMMA) / seed))
    # W(t) = γ m_e c² + P_IC t in both solvers
    time_s = np.array([0.0, 1.0, 10.0])
    np.testing.assert_allclose(solve(tables, time_s).energy_drawn_erg, MC2 + POWER * time_s, rtol=1e-12)
    np.testing.assert_allclose(simulate(tables, time_s, seeds=3, replicas=2).energy_drawn_erg, MC2 + POWER * time_s,
                               rtol=1e-12)
    # a seed density so high that γ m_e c² alone exceeds the target: depleted at once, not at a negative time
    dense = truncation_times(tables, radius_cm=radius, frb_luminosity_erg_s=luminosity, frequency_hz=1.4e9,
                             seed_density_cm3=1e15)
    assert dense["energy_depletion"].truncated and dense["energy_depletion"].time_s == 0.0
    assert dense["plasma_cutoff"].truncated and dense["plasma_cutoff"].efolds == 0.0  # n_seed above the cut-off
    # no inverse-Compton power at all (radial geometry): the wave is never drained
    idle = truncation_times(replace(tables, ic_power_erg_s=0.0), radius_cm=radius, frb_luminosity_erg_s=luminosity,
                            frequency_hz=1.4e9, seed_density_cm3=seed)
    assert not idle["energy_depletion"].truncated and idle["energy_depletion"].time_s == 1.0
    with pytest.raises(ValueError, match="radius_cm"):
        truncation_times(tables, radius_cm=-1.0, frb_luminosity_erg_s=luminosity, frequency_hz=1.4e9,
                         seed_density_cm3=seed)
    # beyond the horizon: not truncated, the horizon reported
    short = truncation_times(tables, radius_cm=radius, frb_luminosity_erg_s=luminosity, frequency_hz=1.4e9,
                             seed_density_cm3=seed, horizon_s=1.0)
    assert not short["energy_depletion"].truncated and short["energy_depletion"].time_s == 1.0


def test_monte_carlo_starts_at_one_and_follows_the_closed_form():
    time_s = np.linspace(0.0, 2e-3, 6)  # ~5 e-folds
    mc = simulate(_tables(), time_s, seeds=200, replicas=8, rng=np.random.default_rng(11))
    assert mc.multiplicity_mean[0] == 1.0 and mc.multiplicity_stderr[0] == 0.0  # every seed is born at t = 0
    deviation = np.abs(mc.multiplicity_mean[1:] - _n(time_s[1:])) / mc.multiplicity_stderr[1:]
    assert deviation.max() < 4.0, deviation


def test_monte_carlo_mean_and_standard_error_over_replicas():
    """Replicas draw one after another from the generator, so single-replica runs on one generator are the
    replicas of a multi-replica run: its mean and standard error are those of the single runs."""
    time_s = np.linspace(0.0, 2e-3, 5)
    three = simulate(_tables(), time_s, seeds=50, replicas=3, rng=np.random.default_rng(7))
    rng = np.random.default_rng(7)
    runs = np.array([simulate(_tables(), time_s, seeds=50, replicas=1, rng=rng).multiplicity_mean for _ in range(3)])
    mean = runs.sum(axis=0) / 3
    np.testing.assert_allclose(three.multiplicity_mean, mean, rtol=1e-12)
    sample_sd = np.sqrt(((runs - mean) ** 2).sum(axis=0) / 2)  # n − 1 = 2
    np.testing.assert_allclose(three.multiplicity_stderr, sample_sd / np.sqrt(3), rtol=1e-9, atol=1e-15)
    assert three.multiplicity_stderr[-1] > 0


def test_monte_carlo_budget_and_seed_count_are_checked():
    # 40 seeds, each emitting at rate Ṅ until the 2 ms horizon: 40 x 3000 s⁻¹ x 2e-3 s = 240 γ-rays expected
    with pytest.raises(PhotonBudgetError) as caught:
        simulate(_tables(), np.array([0.0, 2e-3]), seeds=40, replicas=1, max_photons=100)
    assert caught.value.expected == pytest.approx(240.0, rel=1e-12)
    with pytest.raises(ValueError, match="seeds"):
        simulate(_tables(), np.array([0.0, 2e-3]), seeds=0)


def test_seed_and_threshold_densities_by_hand():
    # n_GJ = Ω B / (2π e c) = B / (P e c), B = 2.2e14 G (1e6 / 1e9)³ = 2.2e5 G, P = 3.245 s, e = 4.80320e-10 statC
    assert goldreich_julian_density_cm3(1e9) == pytest.approx(4708.2138, rel=1e-6)
    # Thomson depth one over r = 1e9 cm: 1 / (6.6524587051e-25 cm² × 1e9 cm)
    assert opacity_density_cm3(1e9) == pytest.approx(1.5032036e15, rel=1e-6)
    # FRB energy density 4e38 / (4π (1e9)² c)
    assert float(energy_density_erg_cm3(4e38, 1e9)) == pytest.approx(1.0617675e9, rel=1e-6)
