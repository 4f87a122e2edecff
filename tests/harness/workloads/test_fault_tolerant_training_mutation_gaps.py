"""Gaps in the tests of the ``fault_tolerant_training`` kind (harness/workloads/fault_tolerant_training.py) found
by a mutation audit, closed here.

The kind's existing tests check validation, bounds and that every policy runs; they let through the job MTBF
(per-component rates, asymmetric subsets, stragglers left out), the expected arrival counts behind the
``MAX_ARRIVALS`` check, the component classes built from the ``failures:`` block (subsets, node and rack sizes,
stragglers' MTBF and duration), the unit conversions between the scenario (minutes, GB/s, hours) and the policies
(seconds, bytes/s) and back into the metrics (hours), the job MTBF of a trace, and the medians of `summarise`.
Expected values are worked out by hand; a run's checkpoint numbers are derived from its reported state size.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.api import run_scenario_file
from harness.failures.processes import ClusterProcess
from harness.failures.traces import ClusterShape
from harness.workloads.fault_tolerant_training import (FaultFailures, component_classes, expected_arrivals, job_mtbf_h,
                                                       summarise)

BLOCK = FaultFailures(
    horizon_h=100.0, failing_fraction=0.3,
    cluster={"mtbf_h": 5.0}, device={"mtbf_h": 50.0}, node={"mtbf_h": 200.0, "repair": {"mean_h": 3.0}},
    rack={"mtbf_h": 1000.0, "nodes_per_rack": 3}, stragglers={"mtbf_h": 10.0, "slowdown": 2.0, "duration_h": 0.25})
SHAPE = ClusterShape(nodes=4, devices_per_node=2)  # 8 devices


def test_expected_arrivals_by_hand():
    """Horizon 100 h, failing fraction 0.3: cluster 1 x 100 / 5 = 20; devices ceil(2.4) = 3 -> 3 x 100 / 50 = 6;
    nodes ceil(1.2) = 2 -> 2 x 100 / 200 = 1; racks ceil(4 / 3) = 2 -> 0.2; stragglers on all 8 devices: 80."""
    assert dict(expected_arrivals(BLOCK, SHAPE)) == pytest.approx({
        "failures.cluster.mtbf_h": 20.0, "failures.device.mtbf_h": 6.0, "failures.node.mtbf_h": 1.0,
        "failures.rack.mtbf_h": 0.2, "failures.stragglers.mtbf_h": 80.0})


def test_component_classes_by_hand():
    cluster, device, node, rack, straggle = component_classes(BLOCK, SHAPE)
    assert isinstance(cluster, ClusterProcess)
    assert (cluster.n_devices, cluster.subset, cluster.interarrival.mean_h) == (8, (0, 1, 2), 5.0)
    assert (device.name, device.count, device.devices_per_component, device.subset) == ("device", 8, 1, (0, 1, 2))
    assert (node.name, node.count, node.devices_per_component, node.subset) == ("node", 4, 2, (0, 1))
    assert node.repair.mean_h == 3.0 and node.interarrival.mean_h == 200.0
    assert (rack.name, rack.count, rack.devices_per_component, rack.subset) == ("rack", 2, 6, None)
    assert rack.devices_of(1) == (6, 7, 8, 9, 10, 11)  # clipped to the cluster's 8 devices by the events' users
    assert (straggle.kind, straggle.count, straggle.slowdown) == ("straggle", 8, 2.0)
    assert (straggle.interarrival.mean_h, straggle.repair.mean_h) == (10.0, 0.25)


def test_job_mtbf_by_hand():
    """Failing components per hour: cluster 1 / 5, 3 devices / 50, 2 nodes / 200, 2 racks / 1000 (stragglers do not
    stop the job): 0.2 + 0.06 + 0.01 + 0.002 = 0.272 -> 3.676 h; nothing failing -> inf."""
    assert job_mtbf_h(component_classes(BLOCK, SHAPE)) == pytest.approx(1 / 0.272)
    only_stragglers = FaultFailures(stragglers={"mtbf_h": 10.0})
    assert job_mtbf_h(component_classes(only_stragglers, SHAPE)) == math.inf


def test_summarise_takes_medians_per_policy():
    metrics = pd.DataFrame({
        "policy": ["a", "a", "a", "b"], "failure_free_tokens_per_s": [9.0, 9.0, 9.0, 5.0],
        "tokens_per_s": [1.0, 2.0, 10.0, 4.0], "drop_pct": [0.0, 50.0, 60.0, 1.0], "n_failures": [1, 7, 3, 0]})
    out = summarise(metrics).set_index("policy")
    assert out.loc["a"].tolist() == [9.0, 2.0, 50.0, 3.0]
    assert out.loc["b"].tolist() == [5.0, 4.0, 1.0, 0.0]


SMALL = ("workload.model=llama-60m", "workload.micro_batch=2", "workload.seq_len=64", "cluster.device=cpu",
         "workload.dtype=float32", "failures.horizon_h=20", "failures.replicates=1")


def test_traced_failures_through_the_kind_by_hand(tmp_path):
    """Device 3 fails at 1 h for 2 h, device 6 at 15 h for 1 h (a straggler at 10 h is no failure): job MTBF
    20 h / 2. Checkpoint every 30 min, writes at 2 GB/s (w = state / 2 GB/s), restart 10 min, detection 45 s: each
    failure pauses 45 + 600 + w s. The first finds 1,800 s - w of work unsaved (one cycle of 1,800 + w s has
    passed); the job resumes at 4,245 + w s, so at 54,000 s 27 whole cycles and 1,155 - 28 w s of work have
    passed. MeCeFO runs degraded from the end of each detection to the repair, and every policy for the
    straggler's 0.1 h."""
    trace = tmp_path / "trace.csv"
    trace.write_text("time_h,component,kind,duration_h,slowdown\n1.0,device:3,fail,2.0,1.0\n"
                     "10.0,device:5,straggle,0.1,1.5\n15.0,device:6,fail,1.0,1.0\n")
    overrides = (*SMALL, f"failures.trace={trace}", "workload.policies=[failure_free,checkpoint_restart,mecefo]",
                 "workload.checkpoint.interval_min=30", "workload.checkpoint.restart_min=10",
                 "workload.checkpoint.storage_gbytes_per_s=2", "workload.detect_s=45", "workload.target_tokens=1e6")
    result = run_scenario_file("scenarios/mecefo/throughput.yaml", overrides, results_root=tmp_path, progress=False,
                               sweep=False)
    info = result.runs[0].info
    assert info["job_mtbf_h"] == 10.0 and info["checkpoint"]["interval_s"] == 1800.0
    w = info["checkpoint"]["state_bytes"] / 2e9
    rows = result.metrics.set_index("policy")
    ckpt, mecefo, free = rows.loc["checkpoint_restart"], rows.loc["mecefo"], rows.loc["failure_free"]
    assert ckpt["n_failures"] == 2 and ckpt["paused_h"] == pytest.approx(2 * (45 + 600 + w) / 3600)
    assert ckpt["lost_work_h"] == pytest.approx((1800 - w + 1155 - 28 * w) / 3600)
    assert ckpt["lost_per_failure_max_s"] == pytest.approx(45 + 600 + w + 1800 - w)  # the larger of the two
    assert ckpt["bound_s"] == pytest.approx(1800 + w + 45 + 600 + w)
    assert mecefo["degraded_h"] == pytest.approx((7200 - 45 + 3600 - 45) / 3600 + 0.1)
    assert mecefo["lost_work_h"] == 0.0 and mecefo["lost_per_failure_max_s"] == 45.0
    assert free["degraded_h"] == pytest.approx(0.1) and free["paused_h"] == 0.0
    assert free["time_to_target_h"] == pytest.approx(1e6 / free["failure_free_tokens_per_s"] / 3600)
    # without a fixed interval: Young's sqrt(2 w M) with the trace's job MTBF M = 10 h = 36,000 s
    young_overrides = (*SMALL, f"failures.trace={trace}", "workload.checkpoint.storage_gbytes_per_s=2",
                       "workload.policies=[checkpoint_restart]")
    young = run_scenario_file("scenarios/mecefo/throughput.yaml", young_overrides, results_root=tmp_path,
                              progress=False, sweep=False).runs[0].info
    assert young["checkpoint"]["interval_s"] == pytest.approx(math.sqrt(2 * w * 36_000.0))
