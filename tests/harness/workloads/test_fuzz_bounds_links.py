"""Fuzz findings on the simulated-step kinds, each refused at validation with one line naming the key or fixed:
model dims and pipeline sizes bounded, a bucket cap of at least one byte, compressed_dp_step's bounds agreeing with
the data_parallel_step workload it builds, link rates no slower than 1 kbit/s (payload at least 10 bit/s) giving
finite times, a one-stage pipeline's bandwidth column, and the pipeline's eager engine equal to its SimPy world."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from annotated_types import Ge, Gt, Le, Lt
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.config.blocks import (
    MAX_LATENCY_US, MIN_BANDWIDTH_GBPS, MIN_PROTOCOL_EFFICIENCY, ClusterSpec, LinkSpec, NetworkSpec,
)
from harness.config.loader import load_scenario
from harness.errors import HarnessError, ScenarioError
from harness.models.llama import MAX_N_LAYERS, LlamaDims
from harness.sim.units import MAX_TIME_NS, check_time_ns
from harness.timing.replay import open_replay
from harness.workloads import collective, pipeline_step, toy
from harness.workloads.base import RunContext
from harness.workloads.compressed_dp_step import CompressedDPWorkload
from harness.workloads.data_parallel_step import (
    MAX_MICRO_BATCH, MIN_BUCKET_MB, DataParallelScenario, DataParallelWorkload,
)
from harness.workloads.data_parallel_step import run as run_dp
from harness.workloads.pipeline_step import (
    BoundaryCost, BoundaryLink, PipelineScenario, PipelineWorkload, _replay_eager, _simulate_events,
)
from methods.pipeline.schedule import make_schedule

ROOT = Path(__file__).parents[3]
SCENARIOS = ROOT / "scenarios"
TIMINGS = ROOT / "tests" / "data" / "timings"
TINY = LlamaDims(d_model=256, d_ff=512, n_heads=4, n_layers=2, vocab_size=512)
SLOWEST = dict(bandwidth_gbps=MIN_BANDWIDTH_GBPS, protocol_efficiency=MIN_PROTOCOL_EFFICIENCY)


def _problems(path: str, *overrides: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(SCENARIOS / path, list(overrides), check_points=False)
    return info.value.problems


def _finite(metrics) -> bool:
    numbers = metrics.select_dtypes("number").to_numpy(dtype=float)
    return bool(np.isfinite(numbers).all())


# ------------------------------------------------------------------------------------------ model dims (1)
@pytest.mark.parametrize("dims, key, bound", [
    ("{d_model: 8, d_ff: 8, n_heads: 1, n_layers: 1000}", "n_layers", "<= 512"),
    ("{d_model: 100000000, d_ff: 1, n_heads: 1, n_layers: 1000000}", "d_model", "<= 65536"),
    ("{d_model: 8, d_ff: 10000000, n_heads: 1, n_layers: 2}", "d_ff", "<= 262144"),
    ("{d_model: 8, d_ff: 8, n_heads: 1, n_layers: 2, vocab_size: 100000000}", "vocab_size", "<= 1048576"),
])
def test_model_dims_beyond_any_real_llm_are_refused_naming_the_key(dims, key, bound):
    # before: accepted, and 1000 layers of a tiny model took ~50 s to price, 1e6 layers hung
    problems = _problems("dp_llama.yaml", f"workload.model={dims}")
    assert any(f"workload.model.{key}: expected an integer {bound}" in line for line in problems), problems


def test_the_deepest_model_allowed_still_validates():
    scenario = load_scenario(SCENARIOS / "dp_llama.yaml",
                             [f"workload.model={{d_model: 8, d_ff: 8, n_heads: 1, n_layers: {MAX_N_LAYERS}}}"])
    assert scenario.workload.model.n_layers == MAX_N_LAYERS


# ------------------------------------------------------------------------------------------ bucket cap (2)
@pytest.mark.parametrize("path, key", [
    ("dp_overlap.yaml", "workload.bucket_mb"),
    ("compression/tta_cluster.yaml", "workload.bucket_mb"),
    ("battery/grid_cluster.yaml", "workload.training.bucket_mb"),
])
def test_a_bucket_cap_below_one_byte_is_refused_at_validation(path, key):
    # before: validated, then int(bucket_mb * 2**20) == 0 crashed assign_buckets with a traceback
    problems = _problems(path, f"{key}=1e-9")
    assert len(problems) == 1 and f"{key}: expected a number >= 2**-20" in problems[0], problems
    assert "1 byte" in problems[0]


def _dp(**workload) -> DataParallelScenario:
    defaults = dict(model=TINY, micro_batch=1, seq_len=64, dtype="float32", n_steps=1)
    return DataParallelScenario(
        name="dp", cluster=ClusterSpec(nodes=2, devices_per_node=2, device="cpu"),
        network=workload.pop("network", NetworkSpec()), workload=DataParallelWorkload(**{**defaults, **workload}))


def _run_dp(scenario):
    return run_dp(scenario, RunContext(np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=TIMINGS)))


def test_the_smallest_bucket_cap_gives_one_bucket_per_layer():
    metrics = _run_dp(_dp(bucket_mb=MIN_BUCKET_MB)).metrics
    assert metrics["n_buckets"].iloc[0] == TINY.n_layers + 2  # embed, blocks, head: each a bucket of its own


# ---------------------------------------------------------------------- compressed_dp_step's bounds (3)
def _bounds(field) -> tuple[float, float]:
    low, high = -math.inf, math.inf
    for item in field.metadata:
        if isinstance(item, (Ge, Gt)):
            low = max(low, getattr(item, "ge", getattr(item, "gt", None)))
        if isinstance(item, (Le, Lt)):
            high = min(high, getattr(item, "le", getattr(item, "lt", None)))
    return low, high


def test_every_field_compressed_dp_step_copies_into_its_dp_workload_has_bounds_within_that_workloads():
    copied = set(CompressedDPWorkload().compute_workload().model_fields_set)
    assert {"model", "micro_batch", "seq_len", "dtype", "bucket_mb"} <= copied
    for name in copied:
        mine, theirs = CompressedDPWorkload.model_fields[name], DataParallelWorkload.model_fields[name]
        (low, high), (their_low, their_high) = _bounds(mine), _bounds(theirs)
        assert low >= their_low and high <= their_high, name
        assert mine.annotation == theirs.annotation, name  # same types, Literal choices included


def test_compressed_dp_step_refuses_a_micro_batch_its_dp_workload_would_refuse():
    # before: the schema allowed 100,000, validation passed, the run crashed with a raw pydantic ValidationError
    problems = _problems("compression/tta_cluster.yaml", "workload.micro_batch=70000")
    assert problems == [f"{SCENARIOS / 'compression/tta_cluster.yaml'}: workload.micro_batch: expected an integer "
                        f"<= {MAX_MICRO_BATCH}, got 70000 (set by --set workload.micro_batch=70000)"]
    assert CompressedDPWorkload(micro_batch=MAX_MICRO_BATCH).compute_workload().micro_batch == MAX_MICRO_BATCH


# ------------------------------------------------------------------------------------------- links (4)
@pytest.mark.parametrize("path, override, expected", [
    ("collective_ops.yaml", "network.inter_node.bandwidth_gbps=1e-300", "expected a number >= 1e-06"),
    ("toy_example.yaml", "network.inter_node.bandwidth_gbps=5e-324", "expected a number >= 1e-06"),
    ("toy_example.yaml", "network.inter_node.protocol_efficiency=1e-320", "expected a number >= 0.01"),
    ("dp_overlap.yaml", "network.inter_node.bandwidth_gbps=1e-300", "expected a number >= 1e-06"),
    ("collective_ops.yaml", "network.intra_node.latency_us=1e9", "expected a number <= 10000000"),
    ("tahquant/speed_vs_bandwidth.yaml", "workload.link.bandwidth_gbps=1e-300", "expected a number >= 1e-06"),
    ("tahquant/speed_vs_bandwidth.yaml", "workload.boundary_links=[{bandwidth_gbps: 1e-300}]", "expected a number"),
])
def test_links_slower_than_a_kbit_per_second_are_refused_naming_the_key(path, override, expected):
    # before: validated, then overflowed (int too large for a float, ns = inf) or wrote transfer_time_us = inf
    key = override.split("=")[0]
    problems = _problems(path, override)
    assert len(problems) == 1 and key in problems[0] and expected in problems[0], problems


def test_zero_and_negative_rates_keep_their_message():
    with pytest.raises(ValidationError, match="Input should be greater than 0"):
        LinkSpec(bandwidth_gbps=0, latency_us=0)
    assert LinkSpec(latency_us=MAX_LATENCY_US, **SLOWEST).payload_gbps == pytest.approx(1e-8)


def _collective(size_bytes: int, model: str, op="all_reduce", nodes=2, per_node=2):
    link = LinkSpec(latency_us=MAX_LATENCY_US, **SLOWEST)
    return collective.CollectiveScenario(
        name="c", cluster=ClusterSpec(nodes=nodes, devices_per_node=per_node, device="h100"),
        network=NetworkSpec(intra_node=link, inter_node=link, model=model),
        workload=collective.CollectiveWorkload(op=op, size_bytes=size_bytes))


@pytest.mark.parametrize("model", ["closed_form", "link_level"])
def test_the_slowest_link_gives_finite_times_or_one_line_beyond_the_int64_clock(model):
    ctx = RunContext(np.random.SeedSequence(0))
    row = collective.run(_collective(1 << 20, model), ctx).metrics
    assert _finite(row) and row["time_ns"].dtype == np.int64 and row["time_ns"].iloc[0] > 0
    p2p = collective.run(_collective(1 << 20, model, op="p2p", nodes=1), ctx).metrics
    assert _finite(p2p)
    with pytest.raises(HarnessError, match=r"^workload\.size_bytes: the all_reduce of 1125899906842624 bytes .* "
                       r"int64\) a time_ns metric holds; raise network\.\*\.bandwidth_gbps"):
        collective.run(_collective(1 << 50, model), ctx)


def test_check_time_ns_holds_int64_and_refuses_beyond():
    assert check_time_ns(MAX_TIME_NS, "x", "y") == MAX_TIME_NS
    with pytest.raises(HarnessError, match="^x takes 9.22e\\+18 ns \\(292 years\\).*; y$"):
        check_time_ns(MAX_TIME_NS + 1, "x", "y")


def test_toy_on_the_slowest_link_with_the_largest_messages_is_finite():
    scenario = toy.ToyScenario(name="t", network=NetworkSpec(inter_node=LinkSpec(latency_us=MAX_LATENCY_US,
                                                                                   **SLOWEST)),
                               workload=toy.ToyWorkload(n_messages=1000, mean_size_bytes=2**40))
    metrics = toy.run(scenario, RunContext(np.random.SeedSequence(0))).metrics
    assert _finite(metrics) and (metrics["transfer_time_us"] > 0).all()


@pytest.mark.parametrize("network_model", ["closed_form", "link_level"])
def test_data_parallel_step_on_the_slowest_link_is_finite(network_model):
    link = LinkSpec(latency_us=MAX_LATENCY_US, **SLOWEST)
    scenario = _dp(network=NetworkSpec(intra_node=link, inter_node=link, model=network_model), n_steps=2)
    metrics = _run_dp(scenario).metrics
    assert _finite(metrics) and (metrics["comm_ms"] > 1e9).all()


# -------------------------------------------------------------------------------------------- pipeline (5, 6)
def _pipeline(device="cpu", **workload) -> PipelineScenario:
    defaults = dict(model=TINY, micro_batch=1, seq_len=64, n_micro_batches=4, n_stages=2, dtype="float32",
                    optimizer="none", link=BoundaryLink(bandwidth_gbps=0.1, latency_us=50))
    return PipelineScenario(name="pp", cluster=ClusterSpec(device=device),
                            workload=PipelineWorkload(**{**defaults, **workload}))


def _run_pipeline(scenario, timings_root=TIMINGS):
    ctx = RunContext(np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=timings_root))
    return pipeline_step.run(scenario, ctx)


def test_a_one_stage_pipeline_reports_its_configured_link_and_finite_metrics():
    # before: bandwidth_gbps = min over no boundaries = inf
    row = _run_pipeline(_pipeline(n_stages=1)).metrics
    assert _finite(row) and row["bandwidth_gbps"].iloc[0] == 0.1
    assert row["fwd_bytes_per_boundary"].iloc[0] == 0 and row["speedup_vs_fp32"].iloc[0] == 1.0


def test_a_step_priced_below_one_ns_gives_finite_ratios(tmp_path):
    # before: a toy model on a device without a kernel floor stepped in 0 ns and the speedups divided by zero
    toy_model = LlamaDims(d_model=1, d_ff=1, n_heads=1, n_layers=1, vocab_size=1)
    scenario = _pipeline(device="a100", model=toy_model, n_stages=1, n_micro_batches=1, seq_len=1)
    row = _run_pipeline(scenario, timings_root=tmp_path).metrics.iloc[0]
    assert row["step_time_ms"] == 0.0 and row["speedup_vs_fp32"] == row["speedup_vs_bf16"] == 1.0
    assert math.isfinite(row["throughput_seq_per_s"])


def test_the_slowest_boundary_link_gives_finite_metrics():
    row = _run_pipeline(_pipeline(link=BoundaryLink(bandwidth_gbps=MIN_BANDWIDTH_GBPS,
                                                    latency_us=MAX_LATENCY_US))).metrics
    assert _finite(row) and row["step_time_ms"].iloc[0] > 4 * 524e3  # 64 KiB at 1 kbit/s: 524 s a message


def test_more_schedule_slots_than_any_real_pipeline_are_refused():
    # before: 48 stages x 100,000 micro-batches validated and ran for minutes (1.6 GB for the schedule alone)
    problems = _problems("tahquant/speed_vs_bandwidth.yaml", "workload.n_micro_batches=100000",
                         "workload.n_stages=48", "workload.schedule=1f1b")
    assert len(problems) == 1 and "workload.n_micro_batches: 100000 micro-batches x 48 stages" in problems[0]
    assert "at most 2**20" in problems[0]


def test_a_baseline_equal_to_the_method_is_simulated_once(monkeypatch):
    calls = []
    real = pipeline_step.simulate_pipeline
    monkeypatch.setattr(pipeline_step, "simulate_pipeline", lambda *a, **k: calls.append(1) or real(*a, **k))
    row = _run_pipeline(_pipeline()).metrics.iloc[0]  # uncompressed float32: the method is the fp32 baseline
    assert len(calls) == 2 and row["speedup_vs_fp32"] == 1.0


_costs = st.tuples(st.integers(0, 10**5), st.integers(0, 10**5), st.integers(0, 10**4), st.integers(0, 10**4),
                   st.integers(0, 10**4), st.integers(0, 10**4), st.sampled_from([0.01, 0.3, 1.0, 7.0]),
                   st.sampled_from([0.0, 0.4, 3.0, 50.0]))


@settings(max_examples=80, deadline=None)
@given(p=st.integers(1, 6), m=st.integers(1, 12), name=st.sampled_from(["gpipe", "1f1b"]), data=st.data())
def test_the_eager_replay_equals_the_simpy_world(p, m, name, data):
    """The one-pass engine the kind runs gives the SimPy world's integers exactly, zero times and sizes included."""
    fwd = data.draw(st.lists(st.integers(0, 10**6), min_size=p, max_size=p))
    bwd = data.draw(st.lists(st.integers(0, 10**6), min_size=p, max_size=p))
    bounds = [BoundaryCost(*c) for c in data.draw(st.lists(_costs, min_size=p - 1, max_size=p - 1))]
    schedule = make_schedule(name, p, m)
    assert _replay_eager(schedule, fwd, bwd, bounds) == _simulate_events(schedule, fwd, bwd, bounds,
                                                                        rendezvous=False, cores=None)
