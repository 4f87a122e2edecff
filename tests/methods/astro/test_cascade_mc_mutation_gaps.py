"""Gaps in the tests of `methods.astro.cascade_mc` found by a mutation audit.

The earlier audit (test_cascade_mutation_gaps.py) pinned the mean multiplicity and its standard error; closed here,
on the same one-bin cascade (dN/dt = 2κ N₁, dN₁/dt = Ṅ N − κ N₁, closed form N = A e^{λ₊t} + B e^{λ₋t}):
- the particle count: every lepton emits at rate Ṅ until the horizon, so per seed E[γ-rays] = Ṅ ∫₀ᴴ N and
  E[leptons] = N(H), the seed included as without a cascade (a count without the leptons went through; the seeds
  were left out);
- the default γ-ray budget (2 x 10⁷ per generation) applies when none is given;
- a budget error raised after the first generation names that generation's lepton count (even: pairs, no
  thinning) and says it is not the first;
- the most generations over replicas, not the last replica's;
- the energy drawn: W(0) = γ m_e c² (every seed born at 0) and, without inverse-Compton power, W(t) = γ m_e c² N(t)
  exactly (the older check compared it with the rate equations to a few per cent);
- the numba backend: it is the one that runs when asked for; its replicas differ (each generation draws its own
  seed; a fixed seed gave identical replicas, a standard error of 0, and a comparison with the rate equations
  that could not fail); both leptons of a pair carry the parent's weight once thinning has made weights differ
  from one; a γ-ray is absorbed at the rate of its own bin (two bins, κ 100 times apart, against
  N(t) = [e^{At}]₀₀ from scipy.linalg.expm of the hand-built 3 x 3 rate matrix; the rate of bin 0 for every γ-ray
  went through).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

from methods.astro.cascade_mc import PhotonBudgetError, simulate
from methods.astro.constants import ME_C2_ERG
from methods.astro.field import CascadeTables
from tests.methods.astro.one_bin_cascade import (EMISSION, GAMMA, KAPPA, POWER, integral_multiplicity,
                                                 multiplicity, tables)


@pytest.mark.parametrize(("horizon", "seeds", "replicas", "rel"), [(2e-4, 1000, 4, 0.1), (2e-3, 400, 8, None)])
def test_particle_count_is_gamma_rays_plus_leptons_born(horizon, seeds, replicas, rel):
    # per seed: 0.644 γ-rays + 1.219 leptons at 0.2 ms, ≈ 170 + 148 at 2 ms
    mc = simulate(tables(), np.array([0.0, horizon]), seeds=seeds, replicas=replicas, rng=np.random.default_rng(3))
    gamma_rays = EMISSION * integral_multiplicity(horizon)
    leptons = multiplicity(horizon)
    if rel is None:  # the count follows the multiplicity, which dominates its spread at 2 ms
        rel = 4 * mc.multiplicity_stderr[-1] / mc.multiplicity_mean[-1]
    assert rel < 0.2  # a count without the leptons (−65 % at 0.2 ms) or without the seeds (−54 %) fails
    assert mc.particles / (seeds * replicas) == pytest.approx(gamma_rays + leptons, rel=rel)


def test_default_budget_refuses_before_drawing():
    # 5000 seeds x 3000 s⁻¹ x 2 s = 3e7 γ-rays expected in the first generation, above the default 2e7
    # (γ-rays all but never absorbed, so that a run past a missing budget would end after one generation)
    idle = CascadeTables(GAMMA, np.array([10.0]), np.array([EMISSION]), np.array([1e-9]), POWER, 1e17)
    with pytest.raises(PhotonBudgetError, match="more than 2e[+]07") as caught:
        simulate(idle, np.array([0.0, 2.0]), seeds=5000, replicas=1, rng=np.random.default_rng(0))
    assert caught.value.first_generation and caught.value.expected == pytest.approx(3e7, rel=1e-12)


def test_budget_error_after_the_first_generation_names_that_generation():
    # 41 seeds x 3000 s⁻¹ x 2 ms = 246 γ-rays expected in generation 1 (within 250); generation 2 exceeds it
    with pytest.raises(PhotonBudgetError) as caught:
        simulate(tables(), np.array([0.0, 2e-3]), seeds=41, replicas=1, max_photons=250,
                 rng=np.random.default_rng(4))
    error = caught.value
    assert not error.first_generation
    assert error.leptons > 0 and error.leptons % 2 == 0  # pairs; the 41 seeds would be odd
    assert 250 < error.expected < error.leptons * EMISSION * 2e-3  # children are born after t = 0


def test_generations_is_the_most_over_replicas():
    """Replicas draw one after another from the generator, so single-replica runs on one generator are the
    replicas of a multi-replica run."""
    time_s = np.array([0.0, 2e-3])
    run = simulate(tables(), time_s, seeds=2, replicas=6, rng=np.random.default_rng(4))
    rng = np.random.default_rng(4)
    single = [simulate(tables(), time_s, seeds=2, replicas=1, rng=rng).generations for _ in range(6)]
    assert single[-1] < max(single)  # the last replica is not the longest one
    assert run.generations == max(single)


def test_energy_drawn_is_the_leptons_energy_plus_the_resupplied_power():
    time_s = np.linspace(0.0, 2e-3, 5)
    mc = simulate(tables(), time_s, seeds=50, replicas=3, rng=np.random.default_rng(6))
    assert mc.energy_drawn_erg[0] == pytest.approx(GAMMA * ME_C2_ERG, rel=1e-12)
    silent = CascadeTables(GAMMA, np.array([10.0]), np.array([EMISSION]), np.array([KAPPA]), 0.0, 1e17)
    mc = simulate(silent, time_s, seeds=50, replicas=3, rng=np.random.default_rng(6))
    assert mc.multiplicity_mean[-1] > 10
    np.testing.assert_allclose(mc.energy_drawn_erg, GAMMA * ME_C2_ERG * mc.multiplicity_mean, rtol=1e-12)


def test_numba_replicas_differ_and_pairs_keep_their_parent_weight():
    pytest.importorskip("numba", reason="numba (extra 'astro') is not installed")
    time_s = np.linspace(0.0, 2e-3, 6)  # ~5 e-folds
    mc = simulate(tables(), time_s, seeds=100, replicas=8, max_per_generation=300, backend="numba",
                  rng=np.random.default_rng(12))
    assert np.all(mc.multiplicity_stderr[1:] > 0)
    # without thinning (which draws from the generator) only the per-generation seeds make replicas differ
    unthinned = simulate(tables(), time_s[:2], seeds=50, replicas=4, backend="numba", rng=np.random.default_rng(1))
    assert unthinned.multiplicity_stderr[-1] > 0
    # the numba step draws one seed per generation from the generator, the numpy step all its numbers: a run that
    # silently fell back to numpy would repeat the numpy run of the same generator
    numpy_run = simulate(tables(), time_s[:2], seeds=50, replicas=4, backend="numpy", rng=np.random.default_rng(1))
    assert unthinned.multiplicity_mean[-1] != numpy_run.multiplicity_mean[-1]
    deviation = np.abs(mc.multiplicity_mean[1:] - multiplicity(time_s[1:])) / mc.multiplicity_stderr[1:]
    assert deviation.max() < 4.0, deviation


def test_numba_gamma_rays_are_absorbed_at_their_own_bins_rate():
    pytest.importorskip("numba", reason="numba (extra 'astro') is not installed")
    emission, kappa = np.array([300.0, 3000.0]), np.array([2e4, 2e2])  # most γ-rays go to the slowly absorbed bin
    matrix = np.array([[0.0, 2 * kappa[0], 2 * kappa[1]], [emission[0], -kappa[0], 0.0], [emission[1], 0.0, -kappa[1]]])
    time_s = np.array([0.0, 2e-3, 4e-3])
    expected = np.array([expm(matrix * t)[0, 0] for t in time_s])  # 1, 9.6, 139
    tables = CascadeTables(GAMMA, np.array([10.0, 20.0]), emission, kappa, POWER, 1e17)
    mc = simulate(tables, time_s, seeds=50, replicas=8, max_per_generation=20_000, backend="numba",
                  rng=np.random.default_rng(5))
    deviation = np.abs(mc.multiplicity_mean[1:] - expected[1:]) / mc.multiplicity_stderr[1:]
    assert deviation.max() < 4.0, deviation
