"""Scenario kind ``frb_cascade`` (harness/workloads/frb_cascade.py): the scenario files load, bad input is one
line naming the key (exit 2 through the CLI), runs give finite tidy rows, and "no cascade" is a stated result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.workloads.base import RunContext
from harness.workloads.frb_cascade import FrbCascadeScenario, FrbCascadeWorkload, run

ROOT = Path(__file__).parents[3]
SCENARIOS = sorted((ROOT / "scenarios" / "frb").glob("*.yaml"))


def _run(**workload):
    scenario = FrbCascadeScenario(name="frb", workload=FrbCascadeWorkload(**workload))
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_scenario_files_load(path):
    loaded = load_scenario(path)
    assert isinstance(loaded, FrbCascadeScenario) and loaded.kind == "frb_cascade"


@pytest.mark.parametrize(("override", "key"), [
    ("workload.radius_cm=-1", "workload.radius_cm"),
    ("workload.luminosity_erg_s=-1e40", "workload.luminosity_erg_s"),
    ("workload.spectrum=swift", "workload.spectrum"),
    ("workload.e_max_kev=0.5", "e_max_kev"),
    ("workload.frequency_hz=.nan", "workload.frequency_hz"),
])
def test_bad_input_names_the_key(override, key):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")):
        load_scenario(ROOT / "scenarios/frb/dynamics.yaml", [override])


def test_cli_exits_2_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "scenarios/frb/dynamics.yaml", "--set",
                             "workload.radius_cm=-1", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 2
    assert "workload.radius_cm" in result.stderr and ">= 1000000" in result.stderr  # the neutron-star surface


def test_truncation_rows_are_finite_and_sampled():
    output = _run(output="truncation", radii_cm=[1e8, 1e9], samples=3)
    frame = output.metrics
    assert len(frame) == 4 * 2 * 3  # (central + 3 draws) x radii x criteria
    assert np.isfinite(frame.select_dtypes("number").to_numpy()).all()
    assert frame["truncated"].all()
    assert frame.groupby("sample")["luminosity_x_erg_s"].first().nunique() == 4  # flux and distance drawn
    at_1e9 = frame[(frame["sample"] == 0) & (frame["radius_cm"] == 1e9) & (frame["criterion"] == "plasma_cutoff")]
    assert 0.1 < float(at_1e9["t_trunc_ms"].iloc[0]) < 10.0


def test_dynamics_rows_rate_and_monte_carlo():
    output = _run(output="dynamics", radius_cm=1e9, luminosity_erg_s=1e41, bins=24, time_points=12, mc_seeds=100,
                  mc_replicas=6, mc_max_per_generation=5000)
    frame = output.metrics
    assert set(frame["solver"]) == {"rate", "monte_carlo"}
    rate = frame[frame["solver"] == "rate"]
    assert rate["multiplicity"].is_monotonic_increasing
    assert float(rate["plasma_ratio"].iloc[-1]) >= 1.0  # the horizon goes past the cut-off
    assert np.isfinite(frame.select_dtypes("number").to_numpy()).all()
    assert output.info["mc_particles"] > 0


def test_no_cascade_is_a_stated_result():
    output = _run(output="truncation", radius_cm=1e11, e_max_kev=100.0)
    frame = output.metrics
    assert frame["no_cascade"].str.contains("no photons above threshold").all()
    assert not frame.loc[frame["criterion"] == "plasma_cutoff", "truncated"].any()
    assert np.isfinite(frame.select_dtypes("number").to_numpy()).all()
    radial = _run(output="dynamics", geometry="radial", mc_replicas=2, mc_seeds=5, time_points=4).metrics
    assert radial["multiplicity"].eq(1.0).all()


def test_kind_module_imports_without_the_optional_packages():
    code = ("import sys; sys.modules['naima'] = None; sys.modules['numba'] = None; "
            "import methods.astro, harness.workloads.frb_cascade, plots.papers.frb; "
            "import methods.astro.cascade_mc, methods.astro.inverse_compton; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
