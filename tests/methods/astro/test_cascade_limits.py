"""Edges of the cascade methods: bins whose absorption underflows to 0 are dropped (field.py), so the modal
solution stays defined; the Monte Carlo refuses a generation beyond its γ-ray budget before drawing anything."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from methods.astro.cascade_mc import PhotonBudgetError, simulate
from methods.astro.cascade_rate import ModalSolution, growth_rate_per_s, solve
from methods.astro.counterpart import nominal
from methods.astro.field import build_tables
from methods.astro.wave import lepton_gamma, strength_parameter


def _tables(e_max_kev=1000.0, bins=16):
    gamma = float(lepton_gamma(strength_parameter(4e38, 1.4e9, 1e9)))
    return build_tables(replace(nominal("konus", 1e40), e_max_kev=e_max_kev), 1e9, gamma, bins=bins)


def test_bins_without_absorption_are_dropped_and_the_modal_solution_holds():
    tables = _tables(e_max_kev=1e6)  # the lowest thresholds need soft photons deep in the exponential tail
    assert not tables.no_cascade and np.all(tables.absorption_per_s > 0) and np.all(tables.emission_per_s > 0)
    modal = ModalSolution(tables)  # "Eigenvalues did not converge" with a 0 rate
    growth = growth_rate_per_s(tables)
    assert modal.growth_rate_per_s == pytest.approx(growth, rel=1e-8)
    times = np.linspace(0.0, 5.0 / growth, 6)
    rate = solve(tables, times)
    assert np.log(rate.multiplicity[-1]) == pytest.approx(modal.log_multiplicity(times[-1]), rel=1e-5)


def test_default_tables_keep_every_bin():
    tables = _tables()
    assert tables.bins == 16  # no bin of the shipped setting has a 0 absorption rate


def test_monte_carlo_budget_is_checked_before_drawing():
    tables = _tables()
    times = np.linspace(0.0, 10.0 / growth_rate_per_s(tables), 5)
    with pytest.raises(PhotonBudgetError, match=r"generation of 40 leptons would emit") as caught:
        simulate(tables, times, seeds=40, replicas=1, max_photons=10, rng=np.random.default_rng(0))
    assert caught.value.first_generation and caught.value.leptons == 40
    a = simulate(tables, times, seeds=40, replicas=2, rng=np.random.default_rng(1))
    b = simulate(tables, times, seeds=40, replicas=2, rng=np.random.default_rng(1), max_photons=1e9)
    assert np.array_equal(a.multiplicity_mean, b.multiplicity_mean) and a.particles == b.particles
