"""MeCeFO's neighbour step and the baselines' steps, priced op by op; the kind end to end on a small setting."""

from __future__ import annotations

import pytest

from harness.api import run_scenario_file
from harness.config.loader import load_scenario
from harness.cost.training_step import layer_ops, optimizer_ops
from harness.failures.step_costs import (
    StepPricer,
    StepSetup,
    low_rank_wgrad,
    neighbour_block_backward,
    svd_refresh_ops,
)
from harness.models.llama import resolve_model
from harness.sim.collectives import LinkCost
from harness.sim.topology import Topology
from harness.timing.replay import open_replay
from tests.harness.failures.one_ms_per_call import OneMsPerCall, count_calls

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
    scenario = load_scenario(SCENARIO, SMALL, check_points=False)  # the base point (SMALL sets a swept model)
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




@pytest.mark.parametrize("checkpointing", [False, True])
def test_step_times_count_the_calls_of_each_configuration_by_hand(checkpointing):
    """On one rank (no all-reduce) at 1 ms per op call: the normal step is every forward and backward call plus the
    optimizer's; checkpointing adds each block's forward again; the neighbour runs 2 micro-batches of the forward,
    of its reduced block backward and of the other layers' backward, plus the power-iteration refresh amortised over
    tau; Bamboo doubles the forward (and the backward in fallback)."""
    dims = resolve_model("llama-60m")
    setup = StepSetup(dims, 2, 64, "float32", "adamw", 25.0, True, lowrank_rank=8, refresh_every=4,
                      power_iterations=3, stages_min=2, stages_max=4, activation_checkpointing=checkpointing)
    pricer = StepPricer(setup, OneMsPerCall(), Topology(1, 1, LinkCost(1_000, 10.0), LinkCost(1_000, 10.0)))
    layers = layer_ops(dims, 2, 64)
    forward = sum(count_calls(l.forward) for l in layers)
    backward = sum(count_calls(l.backward) for l in layers)
    recomputed = sum(count_calls(l.forward) for l in layers if l.name.startswith("block.")) if checkpointing else 0
    optimizer = count_calls(optimizer_ops(dims, "adamw", "cpu"))
    exact = {"rel": 1e-12}  # integer milliseconds through nanoseconds and back
    assert pricer.normal_step_s() == pytest.approx((forward + backward + recomputed + optimizer) / 1e3, **exact)
    neighbour_backward = sum(count_calls(neighbour_block_backward(l.forward, l.backward, 8))
                             if l.name.startswith("block.") else count_calls(l.backward) for l in layers)
    refresh = count_calls(svd_refresh_ops(dims, 8, 3))
    assert refresh == 3 * 2 * dims.n_layers * 3  # three FFN matrices, two GEMMs per round, three rounds
    assert pricer.neighbour_step_s(2) == pytest.approx(
        max(2 * forward + 2 * neighbour_backward + refresh / 4, forward + backward + recomputed) / 1e3
        + optimizer / 1e3, **exact)
    bamboo = [(2 * forward + k * (backward + recomputed) + optimizer) / 1e3 for k in (1, 2)]
    assert [pricer.bamboo_step_s(False), pricer.bamboo_step_s(True)] == pytest.approx(bamboo, **exact)
