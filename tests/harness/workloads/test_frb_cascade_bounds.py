"""Input bounds of the frb_cascade kind (harness/workloads/frb_cascade.py): radius, frequency and luminosities
within physical ranges, the truncation scan's size, and run-time failures of the solvers as one line naming
the inputs (a ScenarioError), never a traceback or a machine-filling Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.workloads.base import RunContext
from harness.workloads.frb_cascade import FrbCascadeScenario, FrbCascadeWorkload, run

SMALL = {"output": "dynamics", "bins": 16, "time_points": 10, "mc_replicas": 2, "mc_seeds": 50,
         "mc_max_per_generation": 2000}


def _run(**workload):
    scenario = FrbCascadeScenario(name="frb", workload=FrbCascadeWorkload(**workload))
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))


@pytest.mark.parametrize(("workload", "key"), [
    ({"radius_cm": 1e-10}, "radius_cm"),  # solve_ivp: "Required step size is less than spacing between numbers"
    ({"radius_cm": 1e-300}, "radius_cm"),  # gamma_lepton: must be >= 1, got inf
    ({"frequency_hz": 1e-300, "frb_luminosity_erg_s": 1e50}, "frequency_hz"),
    ({"frb_luminosity_erg_s": 1e-300}, "frb_luminosity_erg_s"),
    ({"luminosity_erg_s": 1e-300}, "luminosity_erg_s"),
    ({"e_min_kev": 1e-300}, "e_min_kev"),  # LinAlgError: Array must not contain infs or NaNs
    ({"output": "truncation", "radii_cm": [1e9, 1e-3]}, "radii_cm"),
])
def test_out_of_range_physics_is_refused_by_key(workload, key):
    with pytest.raises(ValidationError, match=key):
        FrbCascadeWorkload(**{**SMALL, **workload})


def test_truncation_scan_size_is_capped():
    with pytest.raises(ValidationError, match=r"samples: \(samples \+ 1\) x len\(radii_cm\) x \(bins / 48\)\^2"):
        FrbCascadeWorkload(output="truncation", samples=10_000, radii_cm=[1e8, 1e9, 1e10])
    FrbCascadeWorkload(output="truncation", samples=48, radii_cm=[1e8] * 10)  # the shipped scan


@pytest.mark.parametrize("workload", [
    {"radius_cm": 1e6, "frequency_hz": 1e7, "frb_luminosity_erg_s": 1e50, "luminosity_erg_s": 1e50},
    {"radius_cm": 1e6, "frequency_hz": 1e12, "frb_luminosity_erg_s": 1e30, "luminosity_erg_s": 1e30},
    {"radius_cm": 1e14, "frequency_hz": 1e7, "frb_luminosity_erg_s": 1e50},
    {"e_max_kev": 1e6},  # absorption underflowed to 0 in the lowest bins: LinAlgError "Eigenvalues did not converge"
    {"e_min_kev": 1e-3, "e_max_kev": 1e6, "radius_cm": 1e6, "frequency_hz": 1e7, "frb_luminosity_erg_s": 1e50},
])
@pytest.mark.parametrize("output", ["dynamics", "truncation"])
def test_corners_of_the_bounds_run_to_finite_rows(workload, output):
    settings = {**SMALL, **workload, "output": output}
    if output == "truncation":
        settings = {k: v for k, v in settings.items() if not k.startswith(("mc_", "time_points"))}
    frame = _run(**settings).metrics
    assert np.isfinite(frame.select_dtypes("number").to_numpy(dtype=float)).all()


def test_monte_carlo_beyond_its_photon_budget_is_one_line(monkeypatch):
    import methods.astro.cascade_mc as cascade_mc

    monkeypatch.setattr(cascade_mc, "MAX_PHOTONS_PER_GENERATION", 100)
    with pytest.raises(ScenarioError, match=r"workload\.mc_seeds: a Monte Carlo generation of 50 leptons would emit"
                                            r" .* at radius_cm = 1e\+09, frequency_hz = 1\.4e\+09"):
        _run(**SMALL)
    monkeypatch.setattr(cascade_mc, "MAX_PHOTONS_PER_GENERATION", 2000)
    with pytest.raises(ScenarioError, match=r"workload\.mc_max_per_generation: .*lower mc_max_per_generation"):
        _run(**SMALL)


def test_monte_carlo_near_gamma_one_is_refused_not_run_out_of_memory():
    # a lepton barely above gamma = 1 emits ~7e6 gamma-rays before the horizon here: tens of GB before the budget
    with pytest.raises(ScenarioError, match=r"workload\.mc_seeds: .* more than 2e\+07"):
        _run(**{**SMALL, "e_max_kev": 1e6, "radius_cm": 1e14, "frequency_hz": 1e12, "frb_luminosity_erg_s": 1e30})


def test_rate_equation_failure_is_one_line_naming_the_inputs(monkeypatch):
    import methods.astro.cascade_rate as cascade_rate

    def fail(*_args, **_kwargs):
        raise RuntimeError("rate equations: solve_ivp failed: Required step size is less than spacing between numbers.")

    monkeypatch.setattr(cascade_rate, "solve", fail)
    with pytest.raises(ScenarioError, match=r"workload: the rate equations cannot be integrated .* radius_cm = 1e\+09"
                                            r", frequency_hz = 1\.4e\+09, frb_luminosity_erg_s = 4e\+38"):
        _run(**SMALL)
