"""The grid_cluster kind (harness/workloads/grid_cluster.py): cluster power from the training-step phases, the
power-cap slowdown, the PJM-style score, and a short run with and without a battery."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.workloads.base import RunContext
from harness.workloads.grid_cluster import (
    ClusterPower,
    GridClusterScenario,
    performance_score,
    run,
    scaled_battery,
)
from harness.executors import timings_for

pytest.importorskip("cvxpy")
pytest.importorskip("rainflow")


def test_power_model_caps_slow_compute_and_lower_draw():
    model = ClusterPower(n_gpus=8, n_nodes=1, tdp_w=700, node_w=4600, compute_ms=100, comm_ms=50, comm_fraction=0.5)
    assert model.power_kw(1.0) == pytest.approx((8 * (100 * 700 + 50 * 350) / 150 + 4600) / 1e3)
    caps = np.linspace(0.5, 1.0, 11)
    power = [model.power_kw(c) for c in caps]
    steps = [model.step_ms(c) for c in caps]
    assert np.all(np.diff(power) > 0) and np.all(np.diff(steps) < 0)
    assert model.step_ms(0.125) == pytest.approx(2 * 100 + 50)  # c^(-1/3)


def test_performance_score_is_one_for_a_perfect_response_and_drops_with_error():
    rng = np.random.default_rng(0)
    signal = np.clip(np.cumsum(rng.normal(0, 0.1, 600)), -1, 1)
    assert performance_score(signal, signal, 2.0)["composite"] == pytest.approx(1.0)
    late = np.concatenate([np.zeros(30), signal[:-30]])
    worse = performance_score(signal, late, 2.0)
    assert worse["delay"] == pytest.approx(1 - 60 / 300) and worse["composite"] < 1
    assert performance_score(signal, 0.5 * signal, 2.0)["precision"] == pytest.approx(0.5)


def test_scaled_battery_keeps_the_loss_fraction():
    modules = scaled_battery(20.0, 0.5)
    assert sum(m.power_kw for m in modules) == pytest.approx(20.0)
    assert modules[0].energy_kwh == pytest.approx(modules[0].power_kw * 0.5)


def _scenario(**workload):
    base = {"training": {"model": "llama-60m", "micro_batch": 2, "seq_len": 128},
            "signal": {"type": "regd", "duration_s": 60}, "regulation_kw": 10.0}
    base.update(workload)
    return GridClusterScenario.model_validate({
        "name": "t", "cluster": {"nodes": 1, "devices_per_node": 8, "device": "h100"}, "workload": base})


def test_battery_improves_tracking_and_the_cluster_pays_in_throughput():
    runs = {}
    for battery_kw in (0.0, 10.0):
        scenario = _scenario(battery_kw=battery_kw)
        ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=timings_for(scenario))
        runs[battery_kw] = run(scenario, ctx)
    alone, both = runs[0.0], runs[10.0]
    assert both.info["tracking_rmse_kw"] < alone.info["tracking_rmse_kw"]
    assert both.info["score"]["composite"] >= alone.info["score"]["composite"]
    m = both.metrics
    assert np.allclose(m["net_kw"], m["cluster_kw"] - m["battery_kw"])
    assert m["gpu_cap"].between(0.5, 1.0).all() and (m["throughput"] <= 1.0 + 1e-12).all()
    assert both.info["battery"]["aging_cost_usd"] >= 0 and both.info["battery"]["fallback_steps"] == 0


def test_bad_caps_are_named():
    with pytest.raises(ValidationError, match="min_cap"):
        _scenario(min_cap=0.9, nominal_cap=0.8)
