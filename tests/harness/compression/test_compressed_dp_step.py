"""Scenario kind ``compressed_dp_step``: bytes equal the compressors' comm_plan, dense equals data_parallel_step,
Top-K all-gather bytes grow linearly in N while ARC's stay flat, step-time accounting, GreedyLore refreshes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.compression_cost import llama_param_tensors
from harness.config.blocks import ClusterSpec, LinkSpec, NetworkSpec, TechniqueSpec
from harness.models.llama import LlamaDims
from harness.timing.replay import open_replay
from harness.workloads import data_parallel_step as dp
from harness.workloads.base import RunContext
from harness.workloads.compressed_dp_step import CompressedDPScenario, CompressedDPWorkload, run
from methods.compress import make_compressor

ROOT = Path(__file__).parents[3]
TIMINGS = ROOT / "tests" / "data" / "timings"
TINY = LlamaDims(d_model=256, d_ff=512, n_heads=4, n_layers=2, vocab_size=512)
METHODS = {
    "none": {},
    "topk": {"ratio": 0.2},
    "randk": {"ratio": 0.2},
    "arc_topk": {"ratio": 0.2, "rank": 4},
    "powersgd": {"rank": 4},
    "greedylore": {"rank": 4, "refresh_period": 5},
}


def _network(model="closed_form", inter_gbps=10.0):
    return NetworkSpec(
        intra_node=LinkSpec(bandwidth_gbps=100.0, latency_us=2.0),
        inter_node=LinkSpec(bandwidth_gbps=inter_gbps, latency_us=10.0),
        model=model,
    )


def _scenario(method="arc_topk", params=None, *, nodes=2, per_node=2, network_model="closed_form", **workload):
    defaults = dict(model=TINY, micro_batch=1, seq_len=64, dtype="float32", bucket_mb=0.25, n_steps=2)
    return CompressedDPScenario(
        name="cdp",
        cluster=ClusterSpec(nodes=nodes, devices_per_node=per_node, device="cpu"),
        network=_network(network_model),
        technique=TechniqueSpec(name=method, params=METHODS[method] if params is None else params),
        workload=CompressedDPWorkload(**{**defaults, **workload}),
    )


def _run(scenario):
    ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=TIMINGS))
    return run(scenario, ctx)


@pytest.mark.parametrize("method", list(METHODS))
def test_payload_bytes_equal_the_compressors_comm_plan(method):
    n_workers = 4
    out = _run(_scenario(method, n_steps=6, first_call_index=0))
    comp = make_compressor(method, **METHODS[method])
    tensors = llama_param_tensors(TINY)
    for _, row in out.metrics.iterrows():
        expected = sum(
            call.size_bytes
            for t in tensors
            for call in comp.comm_plan(t.shape, n_workers, call_index=int(row["call_index"]), dtype=torch.float32)
        )
        assert row["payload_bytes_per_worker"] == expected
        sent = sum(
            call.ring_sent_bytes_per_worker
            for t in tensors
            for call in comp.comm_plan(t.shape, n_workers, call_index=int(row["call_index"]), dtype=torch.float32)
        )
        assert row["bytes_sent_per_worker"] == pytest.approx(sent, rel=1e-12)


@pytest.mark.parametrize("network_model", ["closed_form", "link_level"])
@pytest.mark.parametrize("overlap", [False, True])
def test_dense_equals_data_parallel_step(network_model, overlap):
    ours = _run(_scenario("none", network_model=network_model, overlap=overlap)).metrics
    scenario = dp.DataParallelScenario(
        name="dp",
        cluster=ClusterSpec(nodes=2, devices_per_node=2, device="cpu"),
        network=_network(network_model),
        workload=dp.DataParallelWorkload(model=TINY, micro_batch=1, seq_len=64, dtype="float32", bucket_mb=0.25,
                                         overlap=overlap, n_steps=2),
    )
    theirs = dp.run(scenario, RunContext(np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=TIMINGS))).metrics
    assert list(ours["step_time_ms"]) == list(theirs["step_time_ms"])
    assert list(ours["compute_ms"]) == list(theirs["compute_ms"])
    assert list(ours["comm_ms"]) == list(theirs["comm_ms"])
    assert (ours["compression_ms"] == 0).all()
    assert list(ours["n_buckets"]) == list(theirs["n_buckets"])


@settings(max_examples=25, deadline=None)
@given(per_node=st.integers(1, 4), nodes=st.integers(1, 4))
def test_topk_bytes_grow_linearly_in_n_while_arc_stays_flat(per_node, nodes):
    n = per_node * nodes
    topk = _run(_scenario("topk", nodes=nodes, per_node=per_node, n_steps=1)).metrics.iloc[0]
    arc = _run(_scenario("arc_topk", nodes=nodes, per_node=per_node, n_steps=1)).metrics.iloc[0]
    # all-gather: every rank sends its (values, indices) to the N-1 others
    assert topk["bytes_sent_per_worker"] == pytest.approx((n - 1) * topk["payload_bytes_per_worker"], rel=1e-12)
    # index-free all-reduce: 2 (N-1)/N of a payload that does not depend on N, so at most twice the payload
    assert arc["bytes_sent_per_worker"] == pytest.approx(2 * (n - 1) / n * arc["payload_bytes_per_worker"], rel=1e-12)
    arc_two = _run(_scenario("arc_topk", nodes=1, per_node=2, n_steps=1)).metrics.iloc[0]
    assert arc["compressor_payload_bytes_per_worker"] == arc_two["payload_bytes_per_worker"]
    assert arc["payload_bytes_per_worker"] == (arc_two["payload_bytes_per_worker"] if n > 1 else 0)  # one rank: none


@pytest.mark.parametrize("method", list(METHODS))
def test_without_overlap_step_is_compute_plus_compression_plus_comm(method):
    m = _run(_scenario(method)).metrics
    total = m["compute_ms"] + m["compression_ms"] + m["comm_ms"]
    assert np.allclose(m["step_time_ms"], total, rtol=0, atol=1e-9)
    if method != "none":
        assert (m["compression_ms"] > 0).all()


@pytest.mark.parametrize("method", ["topk", "arc_topk", "powersgd"])
def test_overlap_never_slower_and_bounded_below(method):
    off = _run(_scenario(method, overlap=False)).metrics.iloc[0]
    on = _run(_scenario(method, overlap=True)).metrics.iloc[0]
    assert on["step_time_ms"] <= off["step_time_ms"] + 1e-9
    assert on["step_time_ms"] >= max(on["compute_ms"] + on["compression_ms"], on["comm_ms"]) - 1e-9
    assert on["comm_ms"] == off["comm_ms"] and on["compression_ms"] == off["compression_ms"]


def test_greedylore_refresh_steps_send_dense_and_amortize():
    m = _run(_scenario("greedylore", n_steps=10, first_call_index=0)).metrics
    refresh = m[m["refresh"]]
    assert list(refresh["call_index"]) == [0, 5]
    regular = m[~m["refresh"]]
    assert (refresh["payload_bytes_per_worker"].to_numpy() > regular["payload_bytes_per_worker"].max()).all()
    expected = (4 * regular["step_time_ms"].iloc[0] + refresh["step_time_ms"].iloc[0]) / 5
    assert m["amortized_step_time_ms"].iloc[0] == pytest.approx(expected, rel=1e-12)


def test_uncompressed_layers_are_sent_dense():
    base = _run(_scenario("arc_topk")).metrics.iloc[0]
    dense_ends = _run(_scenario("arc_topk", uncompressed=["embed", "head"])).metrics.iloc[0]
    d, v = TINY.d_model, TINY.vocab_size
    arc = make_compressor("arc_topk", **METHODS["arc_topk"])
    compressed_ends = sum(c.size_bytes for shape in ((v, d), (v, d)) for c in arc.comm_plan(shape, 4))
    delta = dense_ends["payload_bytes_per_worker"] - base["payload_bytes_per_worker"]
    assert delta == 2 * v * d * 4 - compressed_ends


def test_same_inputs_same_metrics():
    a, b = _run(_scenario("topk", overlap=True)).metrics, _run(_scenario("topk", overlap=True)).metrics
    assert list(a["step"]) == [0, 1] and (a["step_time_ms"] > 0).all()  # two real steps, not an empty frame
    assert a.equals(b)


def test_bad_technique_is_a_validation_error_naming_it():
    with pytest.raises(ValidationError, match="technique"):
        _scenario("arc_topk", params={"ratio": 0.2, "bogus": 1})
    with pytest.raises(ValidationError, match="technique"):
        _scenario("arc_topk", params={"ratio": 1.5})
    with pytest.raises(ValidationError, match="uncompressed"):
        _scenario("arc_topk", uncompressed=["attention"])


@pytest.mark.parametrize(("value", "shown"), [(0.5, "0.5"), (-1, "-1")])
def test_a_powersgd_rate_below_one_is_one_line_naming_the_key(value, shown):
    from harness.config.plugins import compressor_problem

    line = f"technique.params.min_compression_rate: expected 0 (always compress) or a number >= 1, got {shown}"
    assert compressor_problem("powersgd", {"rank": 2, "min_compression_rate": value}) == line
    with pytest.raises(ValidationError) as err:
        _scenario("powersgd", params={"rank": 2, "min_compression_rate": value})
    assert line in str(err.value)
    for fine in (0, 1, 2.5):  # 0: always compress; >= 1: dense where compressed * rate >= dense
        assert compressor_problem("powersgd", {"rank": 2, "min_compression_rate": fine}) is None


@pytest.mark.parametrize("network_model", ["closed_form", "link_level"])
@pytest.mark.parametrize("method", ["none", "topk", "arc_topk", "powersgd"])
def test_one_rank_sends_nothing_and_spends_no_time_communicating(method, network_model):
    """One rank: no collective, 0 bytes on the wire and in payloads, no communication time; the compressor's own
    payload (what it would contribute) stays in its own column and its primitives still run."""
    one = _run(_scenario(method, nodes=1, per_node=1, network_model=network_model)).metrics
    two = _run(_scenario(method, nodes=1, per_node=2, network_model=network_model)).metrics
    assert (one[["bytes_sent_per_worker", "payload_bytes_per_worker", "dense_bytes_per_worker", "n_collectives",
                 "comm_ms", "exposed_ms"]] == 0).all().all()
    assert list(one["step_time_ms"]) == pytest.approx(list(one["compute_ms"] + one["compression_ms"]), rel=1e-12)
    if method != "topk":  # Top-K's merge scatters N gathered sets: its compute depends on N
        assert (one["compression_ms"] == two["compression_ms"]).all()  # same primitives, same shapes
    assert (one["compression_ms"] > 0).all() == (method != "none")
    assert (one["compressor_payload_bytes_per_worker"] == two["payload_bytes_per_worker"]).all()
    assert (two["compressor_payload_bytes_per_worker"] == two["payload_bytes_per_worker"]).all()
    assert (two["n_collectives"] > 0).all() and (two["comm_ms"] > 0).all()


def test_op_overhead_adds_a_fixed_cost_per_primitive():
    from harness.compression_cost import tensor_work

    base = _run(_scenario("arc_topk")).metrics.iloc[0]
    slow = _run(_scenario("arc_topk", op_overhead_us=30.0)).metrics.iloc[0]
    comp = make_compressor("arc_topk", **METHODS["arc_topk"])
    n_ops = sum(len(slot) for t in llama_param_tensors(TINY)
                for slot in tensor_work(comp, t.shape, 4, error_feedback="ef14").slots)
    assert slow["compression_ms"] - base["compression_ms"] == pytest.approx(n_ops * 0.03, abs=1e-5)
    assert slow["comm_ms"] == base["comm_ms"] and slow["compute_ms"] == base["compute_ms"]


def test_info_counts_prediction_sources_flat_and_by_op():
    info = _run(_scenario("greedylore", n_steps=2, first_call_index=0)).info
    flat = info["timing_sources"]
    assert set(flat) <= {"exact", "interpolated", "roofline", "estimate"}
    assert flat["estimate"] == sum(n for p in info["compression_estimates"] for label, n in
                                   info["compression_sources"][p].items() if label.startswith("estimate:"))
    assert "svd" in info["compression_estimates"]  # no svd timing table: flagged
    assert {"matmul", "copy"} <= set(info["timing_sources_by_op"])
