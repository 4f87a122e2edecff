"""harness/api.py: one tidy table over every sweep point, with the axis values as columns."""

from __future__ import annotations

from pathlib import Path

from harness.api import run_scenario_file

TOY_SWEEP = Path(__file__).resolve().parents[3] / "scenarios" / "toy_sweep.yaml"


def test_sweep_result_concatenates_points_with_axis_columns(tmp_path):
    result = run_scenario_file(TOY_SWEEP, ["workload.sleep_ms=0"], results_root=tmp_path, progress=False)
    axes = ["network.inter_node.bandwidth_gbps", "workload.n_messages", "workload.mean_size_bytes"]
    assert len(result.runs) == 6 and result.n_reused == 0
    assert list(result.metrics.columns) == ["message", "size_bytes", "transfer_time_us", *axes]
    assert len(result.metrics) == 2 * (4 + 8 + 16)
    for record in result.runs:
        rows = result.metrics
        for axis, value in record.values.items():
            rows = rows[rows[axis] == value]
        assert rows[["message", "size_bytes", "transfer_time_us"]].reset_index(drop=True).equals(
            record.read_metrics())
    # more bandwidth, same messages -> shorter transfers
    slow = result.metrics[result.metrics["network.inter_node.bandwidth_gbps"] == 10.0]
    fast = result.metrics[result.metrics["network.inter_node.bandwidth_gbps"] == 100.0]
    assert (slow["size_bytes"].to_numpy() == fast["size_bytes"].to_numpy()).all()
    assert (slow["transfer_time_us"].to_numpy() > fast["transfer_time_us"].to_numpy()).all()
    again = run_scenario_file(TOY_SWEEP, ["workload.sleep_ms=0"], results_root=tmp_path, progress=False)
    assert again.n_reused == 6 and again.metrics.equals(result.metrics)


def test_base_point_only(tmp_path):
    result = run_scenario_file(TOY_SWEEP, results_root=tmp_path, progress=False, sweep=False, seed=1)
    assert len(result.runs) == 1 and result.runs[0].values == {}
    assert list(result.metrics.columns) == ["message", "size_bytes", "transfer_time_us"]
    assert len(result.metrics) == 8


def test_a_point_draws_the_same_from_the_global_generators_whatever_ran_before(tmp_path, monkeypatch):
    """Code inside a run that draws from torch's, NumPy's or Python's global generator (a library's sampling)
    gets the same numbers in every process and order: each point seeds them from its own seed."""
    import dataclasses
    import random

    import numpy as np
    import pandas as pd
    import torch

    from harness.workloads import WORKLOADS, load_all
    from harness.workloads.base import RunOutput

    load_all()
    kind = WORKLOADS.get("toy")

    def draws(scenario, ctx):
        return RunOutput(metrics=pd.DataFrame({"torch": [float(torch.rand(1))], "numpy": [np.random.rand()],
                                               "python": [random.random()]}))

    drawing, get = dataclasses.replace(kind, run=draws), WORKLOADS.get
    monkeypatch.setattr(WORKLOADS, "get", lambda name: drawing if name == "toy" else get(name))
    first = run_scenario_file(TOY_SWEEP, results_root=tmp_path / "a", progress=False, sweep=False)
    torch.rand(5), np.random.rand(3), random.random()  # other work in between moves every global generator
    again = run_scenario_file(TOY_SWEEP, results_root=tmp_path / "b", progress=False, sweep=False)
    assert first.metrics.equals(again.metrics)
    before = torch.get_rng_state()
    run_scenario_file(TOY_SWEEP, results_root=tmp_path / "c", progress=False, sweep=False)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's generator state is restored


def test_a_fresh_run_and_its_reuse_give_the_same_info(tmp_path, monkeypatch):
    """A figure drawn right after a run and one drawn later from the reused run see the same run info: same key
    order, same JSON types (a tuple comes back as a list either way)."""
    import dataclasses

    import pandas as pd

    from harness.workloads import WORKLOADS, load_all
    from harness.workloads.base import RunOutput

    load_all()
    kind = WORKLOADS.get("toy")

    def with_info(scenario, ctx):
        return RunOutput(metrics=pd.DataFrame({"x": [1.0]}), info={"total": 3.0, "ctm": 1.0, "pair": (1, 2)})

    patched, get = dataclasses.replace(kind, run=with_info), WORKLOADS.get
    monkeypatch.setattr(WORKLOADS, "get", lambda name: patched if name == "toy" else get(name))
    fresh = run_scenario_file(TOY_SWEEP, results_root=tmp_path, progress=False, sweep=False).runs[0]
    reused = run_scenario_file(TOY_SWEEP, results_root=tmp_path, progress=False, sweep=False).runs[0]
    assert reused.reused and not fresh.reused
    assert fresh.info == reused.info and list(fresh.info) == list(reused.info)
    assert fresh.info["pair"] == [1, 2]
