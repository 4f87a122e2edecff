"""Scenario kind ``fault_tolerant_training`` (harness/workloads/fault_tolerant_training.py): input that cannot run is
refused at validation in one line naming the key (Oobleck's smallest pipeline larger than the cluster, failure
rates drawing more arrivals than are simulated, a Weibull shape whose draws never reach the horizon), and a run
with failures far more frequent than steps reports tokens/s >= 0 and drops <= 100 %."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.workloads.fault_tolerant_training import MAX_ARRIVALS, FaultTolerantScenario

ROOT = Path(__file__).parents[3]
SCENARIOS = sorted(p for p in (ROOT / "scenarios" / "mecefo").glob("*.yaml") if not p.name.startswith("training_"))
ASYMMETRIC = ROOT / "scenarios" / "mecefo" / "asymmetric.yaml"  # 32 devices
SMALL = ["failures.replicates=1", "failures.horizon_h=10"]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_shipped_scenarios_load_at_every_point(path):
    assert isinstance(load_scenario(path), FaultTolerantScenario)


@pytest.mark.parametrize(("overrides", "key", "detail"), [
    (["workload.oobleck.stages_min=33", "workload.oobleck.stages_max=40"], "workload.oobleck.stages_min", "32"),
    (["failures.cluster.mtbf_h=1e-9"], "failures.cluster.mtbf_h", f"{MAX_ARRIVALS:,}"),
    (["failures.cluster=null", "failures.device={mtbf_h: 0.0001}"], "failures.device.mtbf_h", "3.2e+06"),
    (["failures.stragglers={mtbf_h: 0.0001}"], "failures.stragglers.mtbf_h", "3.2e+06"),
    (["failures.cluster.distribution=weibull", "failures.cluster.shape=0.01"], "failures.cluster.shape", "0.1"),
    # the step pricer makes whole-byte buckets, as the data-parallel kinds do
    (["workload.bucket_mb=1e-9"], "workload.bucket_mb", "1 byte"),
])
def test_input_that_cannot_run_names_the_key(overrides, key, detail):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")) as err:
        load_scenario(ASYMMETRIC, SMALL + overrides, check_points=False)
    assert detail in str(err.value)


def test_oobleck_templates_larger_than_the_cluster_are_fine_without_oobleck():
    scenario = load_scenario(ASYMMETRIC, [*SMALL, "workload.oobleck.stages_min=33", "workload.oobleck.stages_max=40",
                                          "workload.policies=[mecefo, bamboo]"], check_points=False)
    assert scenario.workload.oobleck.stages_min == 33
    # exactly the cluster's size fits: one pipeline of 32 stages
    load_scenario(ASYMMETRIC, [*SMALL, "workload.oobleck.stages_min=32", "workload.oobleck.stages_max=40"],
                  check_points=False)


def test_cli_refuses_oversized_oobleck_templates_in_one_line_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(ASYMMETRIC), "--set",
                             "workload.oobleck.stages_min=33", "--set", "workload.oobleck.stages_max=40"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "workload.oobleck.stages_min" in lines[0] and "32 device(s)" in lines[0]
    assert "enlarge the cluster" in lines[0]


def test_failures_far_more_frequent_than_steps_give_sane_metrics(tmp_path):
    """A failure every 3.6 s anywhere (the fuzz case): Oobleck used to report negative tokens/s and a drop > 100 %."""
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(ASYMMETRIC), "--out", str(tmp_path),
                             *(arg for item in [*SMALL, "workload.policies=[oobleck, checkpoint_restart, mecefo]",
                                                "failures.cluster.mtbf_h=0.001"]
                               for arg in ("--set", item))],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    metrics = pd.read_csv(next(tmp_path.rglob("metrics.csv")))
    assert set(metrics["policy"]) == {"oobleck", "checkpoint_restart", "mecefo"}
    for row in metrics.itertuples():
        assert 0.0 <= row.tokens_per_s <= row.failure_free_tokens_per_s, row.policy
        assert 0.0 <= row.drop_pct <= 100.0, row.policy
        assert math.isfinite(row.lost_work_h) and row.lost_work_h >= 0.0, row.policy
