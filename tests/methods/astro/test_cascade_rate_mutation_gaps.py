"""Gaps in the tests of `methods.astro.cascade_rate` found by a mutation audit.

Closed here, on the one-bin cascade of `one_bin_cascade` (closed form N = A e^{λ₊t} + B e^{λ₋t}):
- a fault the audit found (fixed in cascade_rate.py): `solve` accepted repeated times and times that are all 0
  (its check asks for ascending times >= 0, and the Monte Carlo handles both) but then failed inside solve_ivp
  ("Values in `t_eval` are not properly sorted", or an IndexError for [0.0]); it now reports the initial state at
  t = 0 and the same values at repeated times;
- `solve` refuses infinite and NaN times by name;
- the γ-rays above threshold are the sum over bins (every older check used one bin, where a maximum over bins is
  the same): two bins of equal κ have Σ_k N_k = (dN/dt)/(2κ) with N(t) that of one bin of the summed emission;
  without a cascade there are none;
- `logsumexp` of only −inf entries is −inf and of an +inf entry is +inf (ln N(t) at times where λt overflows),
  not NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from methods.astro.cascade_rate import ModalSolution, logsumexp, solve
from methods.astro.constants import ME_C2_ERG
from methods.astro.field import CascadeTables
from tests.methods.astro.one_bin_cascade import A, B, GAMMA, KAPPA, LAM_M, LAM_P, POWER, multiplicity, tables


def test_photons_above_threshold_are_summed_over_bins():
    # bins of equal κ: d(Σ N_k)/dt = (Ṅ₁ + Ṅ₂) N − κ Σ N_k, so N(t) is the one-bin solution of Ṅ = Ṅ₁ + Ṅ₂
    two_bins = CascadeTables(GAMMA, np.array([10.0, 20.0]), np.array([1e3, 2e3]), np.array([KAPPA, KAPPA]), POWER,
                             1e17)
    time_s = np.array([0.0, 1e-4, 1e-3, 3e-3])
    result = solve(two_bins, time_s)
    np.testing.assert_allclose(result.multiplicity, multiplicity(time_s), rtol=1e-7)
    slope = LAM_P * A * np.exp(LAM_P * time_s) + LAM_M * B * np.exp(LAM_M * time_s)
    np.testing.assert_allclose(result.photons_above_threshold, slope / (2 * KAPPA), rtol=1e-7, atol=1e-12)

    idle = solve(CascadeTables(GAMMA, np.zeros(0), np.zeros(0), np.zeros(0), POWER, 1e17, no_cascade="test"), time_s)
    assert np.array_equal(idle.photons_above_threshold, np.zeros(4)) and np.array_equal(idle.multiplicity, np.ones(4))


def test_repeated_times_are_reported_twice():
    time_s = np.array([0.0, 1e-3, 1e-3, 2e-3, 2e-3])
    result = solve(tables(), time_s)
    np.testing.assert_allclose(result.multiplicity, multiplicity(time_s), rtol=1e-7)
    assert result.multiplicity[1] == result.multiplicity[2] and result.energy_drawn_erg[3] == result.energy_drawn_erg[4]


@pytest.mark.parametrize("time_s", [[0.0], [0.0, 0.0]])
def test_times_all_zero_give_the_initial_state(time_s):
    result = solve(tables(), np.array(time_s))
    assert np.array_equal(result.multiplicity, np.ones(len(time_s)))
    assert np.array_equal(result.photons_above_threshold, np.zeros(len(time_s)))
    np.testing.assert_allclose(result.energy_drawn_erg, GAMMA * ME_C2_ERG, rtol=1e-15)


@pytest.mark.parametrize("bad", [[0.0, math.inf], [0.0, math.nan], [math.nan, 1e-3]])
def test_non_finite_times_are_refused(bad):
    with pytest.raises(ValueError, match="time_s"):
        solve(tables(), np.array(bad))


def test_logsumexp_of_infinite_entries():
    assert logsumexp(np.array([-math.inf, -math.inf])) == -math.inf
    assert logsumexp(np.array([math.inf, 0.0])) == math.inf
    assert logsumexp(np.array([0.0, math.log(3.0)])) == pytest.approx(math.log(4.0), rel=1e-15)
    with np.errstate(over="ignore"):  # λ₊ t overflows to inf: N(t) is beyond any finite bound, not undefined
        assert ModalSolution(tables()).log_multiplicity(1e306) == math.inf
