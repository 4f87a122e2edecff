"""MeCeFO's neighbour step and the baselines' steps, priced op by op; the kind end to end on a small setting."""

from __future__ import annotations

import pytest

from harness.api import run_scenario_file
from harness.config.loader import load_scenario
from harness.cost.training_step import layer_ops
from harness.failures.step_costs import StepPricer, StepSetup, low_rank_wgrad, neighbour_block_backward
from harness.models.llama import resolve_model
from harness.sim.topology import Topology
from harness.timing.replay import open_replay

SCENARIO = "scenarios/mecefo/throughput.yaml"
SMALL = ("workload.model=llama-60m", "workload.micro_batch=2", "workload.seq_len=64", "cluster.device=cpu",
         "workload.dtype=float32", "failures.horizon_h=20", "failures.replicates=2")


def test_neighbour_backward_skips_attention_and_approximates_ffn_wgrads():
    block = layer_ops(resolve_model("llama-60m"), 2, 64)[1]
    calls = neighbour_block_backward(block.forward, block.backward, rank=8)
    ops = {c.op for c in calls}
    labels = {c.label for c in calls}
    assert not {"sdpa_bwd", "rotary_bwd"} & ops
    assert not any(label.startswith(("q_proj", "k_proj", "v_proj", "o_proj", "attn_norm")) for label in labels)
    assert {"gate_proj", "up_proj", "swiglu", "mlp_norm"} <= labels  # recomputed from the saved FFN input
    assert not any(label.endswith(".wgrad") for label in labels)
    assert sum(label.endswith(".lowrank_out") for label in labels) == 3


@pytest.mark.parametrize("rank", [1, 8, 64])
def test_low_rank_wgrad_flops(rank):
    """2 b r n + 2 b r m + 2 r m n (MeCeFO sec. 3.4), below the exact 2 b m n when r is small."""
    block = layer_ops(resolve_model("llama-60m"), 2, 64)[1]
    wgrad = next(c for c in block.backward if c.label == "gate_proj.wgrad")
    m, n, b = wgrad.shape["m"], wgrad.shape["n"], wgrad.shape["k"]
    assert sum(c.flops() for c in low_rank_wgrad(wgrad, rank)) == 2 * b * rank * n + 2 * b * rank * m + 2 * rank * m * n
    if rank < b * m * n / (b * n + b * m + m * n):
        assert sum(c.flops() for c in low_rank_wgrad(wgrad, rank)) < wgrad.flops()


@pytest.fixture(scope="module")
def cpu_pricer():
    scenario = load_scenario(SCENARIO, SMALL)
    w = scenario.workload
    setup = StepSetup(resolve_model(w.model), w.micro_batch, w.seq_len, w.dtype, w.optimizer, w.bucket_mb, w.overlap,
                      w.mecefo.lowrank_rank, w.mecefo.refresh_every, w.mecefo.power_iterations, 2, 8)
    return StepPricer(setup, open_replay(scenario), Topology.from_config(scenario.cluster, scenario.network))


def test_step_times_are_ordered(cpu_pricer):
    p = cpu_pricer
    normal = p.normal_step_s()
    assert normal < p.neighbour_step_s(2) < 2 * normal  # two micro-batches, the techniques make them cheaper
    assert p.neighbour_step_s(2) < p.neighbour_step_s(3)
    assert normal < p.bamboo_step_s(False) < p.bamboo_step_s(True)
    assert p.pipeline_step_s(32) <= p.pipeline_step_s(31) <= p.pipeline_step_s(20)
    assert p.pipeline_step_s(1) == float("inf")


def test_kind_runs_and_reports_per_policy(tmp_path):
    result = run_scenario_file(SCENARIO, SMALL, results_root=tmp_path, progress=False, sweep=False)
    metrics = result.metrics
    assert set(metrics["policy"]) == {"failure_free", "checkpoint_restart", "bamboo", "oobleck", "mecefo"}
    assert len(metrics) == 2 * 5
    free = metrics[metrics["policy"] == "failure_free"]
    assert (free["drop_pct"].abs() < 1e-9).all()
    assert (metrics["tokens_per_s"] <= metrics["failure_free_tokens_per_s"] * (1 + 1e-12)).all()
    assert (metrics["lost_per_failure_max_s"] <= metrics["bound_s"] + 1e-6).all()


def test_trace_replay_through_the_kind_with_timeline(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("time_h,component,kind,duration_h\n1.0,device:3,fail,2.0\n5.0,node:1,fail,1.0\n")
    result = run_scenario_file(SCENARIO, (*SMALL, f"failures.trace={trace}", "outputs.traces=true"),
                               results_root=tmp_path, progress=False, sweep=False)
    metrics = result.metrics
    assert (metrics["n_failures"] == 2).all() and (metrics["n_repairs"] == 2).all()
    timeline = result.runs[0].info["timeline"]
    mecefo = [row for row in timeline if row["policy"] == "mecefo"]
    assert [(row["time_h"], row["event"], row["devices_down"]) for row in mecefo] == [
        (1.0, "start_fail", 1), (3.0, "end_fail", 0), (5.0, "start_fail", 8), (6.0, "end_fail", 0)]
