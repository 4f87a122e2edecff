"""Gaps in the tests of the ``frb_cascade`` kind found by a mutation audit of harness/workloads/frb_cascade.py.

The older tests checked that rows are finite, that the truncation is ms-scale and that the plasma ratio ends
above 1, so the figure columns could be wired to the wrong input without a failure. Closed here:
- a truncation row's a₀, γ_e, seed density and spectral columns against hand-computed values, and the
  seed multiplicity shifting the truncation time by ln(ratio)/Γ (t_trunc ≈ t₀ + Γ⁻¹ ln(n_crit/n_seed));
- the difference between the opacity and plasma cut-off times, ln(n_opacity/n_plasma)/Γ, which needs the
  radius, frequency and γ_e the kind passes on; the fit, spectral range, bins and horizon it passes on;
- dynamics rows: every ratio at t = 0 by hand (N = 1, W = γ_e m_e c²), each ratio crossing 1 at its criterion's
  truncation time (ODE rows vs the closed-form root), the horizon and the Monte Carlo horizon and replicas;
- a run without a cascade (radial geometry): nothing truncated, the horizon, the observed L_X = 4π d² F;
- the workload validators (scan-size cap off by one, dynamics-only options).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from pydantic import ValidationError

from harness.workloads.base import RunContext
from harness.workloads.frb_cascade import FrbCascadeScenario, FrbCascadeWorkload, run
from methods.astro.cascade_rate import growth_rate_per_s
from methods.astro.counterpart import nominal
from methods.astro.field import build_tables

# hand computations (CGS): GJ density at 1e9 cm 4708.2138 cm⁻³; a₀(4e38 erg/s, 1.4 GHz, 1e9 cm) = 326.624;
# γ_e = √(1 + a₀²/2) = 230.960; π m_e ν²/e² at 1.4 GHz = 2.43127e10 cm⁻³; 1/(σ_T r) at 1e9 cm = 1.50320e15 cm⁻³;
# L_FRB/(4π r² c) = 1.061767e9 erg cm⁻³; m_e c² = 8.187105e-7 erg
N_GJ, A0, GAMMA = 4708.2138, 326.624, 230.960
N_PLASMA_1, N_OPACITY, U_FRB, MC2 = 2.43127e10, 1.50320e15, 1.061767e9, 8.187105e-7
# at 600 MHz: a₀ = 326.624 × 1.4/0.6 = 762.123, γ_e = 538.903, π m_e ν²/e² = 4.465593e9 cm⁻³
A0_600, GAMMA_600, N_PLASMA_600 = 762.123, 538.903, 4.465593e9
# 4π (4.4 kpc)² × 9.10e-6 erg cm⁻² s⁻¹ (1 kpc = 3.0856775814913673e21 cm)
L_X_OBSERVED = 2.107937e40


def _run(**workload):
    scenario = FrbCascadeScenario(name="frb", workload=FrbCascadeWorkload(**workload))
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))


def _truncation(**workload):
    frame = _run(output="truncation", radius_cm=1e9, luminosity_erg_s=1e41, bins=8, **workload).metrics
    return frame.set_index("criterion") if "samples" not in workload else frame


def test_truncation_row_columns_by_hand_and_seed_multiplicity():
    base = _truncation()
    loaded = _truncation(seed_multiplicity=100.0)
    row = loaded.loc["plasma_cutoff"]
    assert row["a0"] == pytest.approx(A0, rel=1e-5) and row["gamma_lepton"] == pytest.approx(GAMMA, rel=1e-5)
    assert row["seed_density_cm3"] == pytest.approx(100 * N_GJ, rel=1e-6)
    assert (row["alpha"], row["peak_kev"], row["luminosity_x_erg_s"]) == (-0.52, 82.0, 1e41)
    assert row["t_trunc_ms"] == pytest.approx(1e3 * row["t_trunc_s"], rel=1e-12)
    growth = row["growth_rate_per_s"]
    # 100 x the seeds: every density criterion is reached ln(100)/Γ earlier (both are many e-folds in)
    for name in ("plasma_cutoff", "opacity"):
        shift = base.loc[name, "t_trunc_s"] - loaded.loc[name, "t_trunc_s"]
        assert shift == pytest.approx(math.log(100) / growth, rel=1e-6), name
    # opacity vs plasma cut-off: ln(n_opacity / n_plasma) / Γ, n_plasma = γ_e π m_e ν² / e²
    gap = base.loc["opacity", "t_trunc_s"] - base.loc["plasma_cutoff", "t_trunc_s"]
    assert gap == pytest.approx(math.log(N_OPACITY / (GAMMA * N_PLASMA_1)) / growth, rel=1e-4)
    short = _truncation(horizon_s=1e-4)
    assert not short["truncated"].any() and (short["t_trunc_s"] == 1e-4).all()


def test_truncation_passes_the_frequency_on():
    frame = _truncation(frequency_hz=6e8)
    row = frame.loc["plasma_cutoff"]
    assert row["a0"] == pytest.approx(A0_600, rel=1e-5) and row["gamma_lepton"] == pytest.approx(GAMMA_600, rel=1e-5)
    gap = frame.loc["opacity", "t_trunc_s"] - row["t_trunc_s"]
    assert gap == pytest.approx(math.log(N_OPACITY / (GAMMA_600 * N_PLASMA_600)) / row["growth_rate_per_s"], rel=1e-4)


def test_truncation_passes_the_spectrum_range_and_bins_on():
    row = _truncation(spectrum="integral", e_min_kev=10.0, e_max_kev=500.0).loc["plasma_cutoff"]
    burst = replace(nominal("integral", 1e41), e_min_kev=10.0, e_max_kev=500.0)
    direct = build_tables(burst, 1e9, GAMMA, bins=8)
    assert row["growth_rate_per_s"] == pytest.approx(growth_rate_per_s(direct), rel=1e-4)
    assert (row["alpha"], row["peak_kev"]) == (-0.7, 65.0)
    sampled = _run(output="truncation", radius_cm=1e9, luminosity_erg_s=2e40, bins=8, samples=2).metrics
    assert (sampled["luminosity_x_erg_s"] == 2e40).all()  # a fixed L_X is not sampled
    assert sampled.groupby("sample")["alpha"].first().nunique() == 3


@pytest.fixture(scope="module")
def dynamics():
    output = _run(output="dynamics", radius_cm=1e9, luminosity_erg_s=1e41, bins=8, time_points=60, mc_seeds=50,
                  mc_replicas=4, mc_efolds=6.0, mc_max_per_generation=5000, seed_multiplicity=10.0)
    return output.metrics, output.info


def test_dynamics_ratios_at_the_start_by_hand(dynamics):
    frame, info = dynamics
    seed = 10 * N_GJ
    for solver in ("rate", "monte_carlo"):
        first = frame[frame["solver"] == solver].iloc[0]
        assert first["time_s"] == 0.0 and first["multiplicity"] == 1.0
        assert first["pair_density_cm3"] == pytest.approx(seed, rel=1e-6)
        assert first["plasma_ratio"] == pytest.approx(seed / (GAMMA * N_PLASMA_1), rel=1e-5)
        assert first["energy_ratio"] == pytest.approx(seed * GAMMA * MC2 / U_FRB, rel=1e-5)
        assert first["opacity_tau"] == pytest.approx(seed / N_OPACITY, rel=1e-5)
    assert (frame["time_ms"] == 1e3 * frame["time_s"]).all()
    assert (frame["solver"] == "rate").sum() == 60  # time_points
    assert info["a0"] == pytest.approx(A0, rel=1e-5)


def _crossing(time_s, ratio):
    """Time where ln(ratio) crosses 0, by linear interpolation (ln N is nearly linear in t once growing)."""
    return float(np.interp(0.0, np.log(ratio), time_s))


def test_dynamics_ratios_cross_one_at_the_truncation_times(dynamics):
    frame, _ = dynamics
    rate = frame[frame["solver"] == "rate"]
    first = rate.iloc[0]
    assert rate["time_s"].iloc[-1] == pytest.approx(1.3 * first["t_trunc_plasma_cutoff_s"], rel=1e-12)
    for column, criterion in (("plasma_ratio", "plasma_cutoff"), ("energy_ratio", "energy_depletion"),
                              ("opacity_tau", "opacity")):
        assert rate[column].iloc[-1] > 1.0
        assert _crossing(rate["time_s"], rate[column]) == pytest.approx(first[f"t_trunc_{criterion}_s"], rel=1e-4)
    growth = first["growth_rate_per_s"]
    mc = frame[frame["solver"] == "monte_carlo"]
    assert len(mc) == int((rate["time_s"] <= 6.0 / growth).sum())  # up to mc_efolds e-foldings
    assert (mc["multiplicity_stderr"].iloc[1:] > 0).all()


def _short_dynamics(replicas):
    """Seeds at 1e7 x GJ: the cut-off ~5 e-folds in, so the Monte Carlo can run to the end of the horizon."""
    return _run(output="dynamics", radius_cm=1e9, luminosity_erg_s=1e41, bins=8, time_points=12, mc_seeds=40,
                mc_replicas=replicas, mc_efolds=100.0, mc_max_per_generation=2000, seed_multiplicity=1e7)


def test_monte_carlo_spans_the_horizon_and_runs_every_replica():
    few, many = _short_dynamics(2), _short_dynamics(16)
    frame = many.metrics
    rate, mc = frame[frame["solver"] == "rate"], frame[frame["solver"] == "monte_carlo"]
    assert len(mc) == len(rate) and mc["time_s"].iloc[-1] == rate["time_s"].iloc[-1]
    # 8 x the replicas simulate ~8 x the particles (each replica's count varies by tens of %)
    assert 4 < many.info["mc_particles"] / few.info["mc_particles"] < 16


def test_no_cascade_dynamics_states_nothing_truncated():
    output = _run(output="dynamics", geometry="radial", mc_replicas=0, time_points=5)
    frame = output.metrics
    for name in ("plasma_cutoff", "energy_depletion", "opacity"):
        assert not frame[f"truncated_{name}"].any()
    assert frame["time_s"].iloc[-1] == 1.0  # horizon_s, not horizon_factor x a cut-off that never happens
    assert frame["luminosity_x_erg_s"].iloc[0] == pytest.approx(L_X_OBSERVED, rel=1e-6)


def test_workload_validators():
    FrbCascadeWorkload(output="truncation", samples=9_999, radii_cm=[1e8, 1e9])  # exactly 20,000 builds
    with pytest.raises(ValidationError, match="samples"):
        FrbCascadeWorkload(output="truncation", samples=10_000, radii_cm=[1e8, 1e9])
    with pytest.raises(ValidationError, match="samples: only output 'truncation'"):
        FrbCascadeWorkload(output="dynamics", samples=2)
    with pytest.raises(ValidationError, match="radii_cm: only output 'truncation'"):
        FrbCascadeWorkload(output="dynamics", radii_cm=[1e9])
