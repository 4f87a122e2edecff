"""Gaps in the tests of `compressed_dp_step` found by a mutation audit.

Closed here (the first pass, test_compression_kinds_mutation_gaps.py, covered `simulate_step` on hand-built plans):
- `build_compressor`: a bad parameter or name is a ValueError starting ``technique:``;
- `effective_error_feedback`: the requested pass, the compressor's usual one, an unknown or empty name refused;
- `plan_step` on hand-sized tensors: slots per phase (a tensor's work after its last phase stays last), an
  all-gather sized N x the contribution, dense tensors batched into the same phase, bytes per algorithm,
  the collectives counted once each, every layer of a multi-layer bucket planned;
- `run`: DDP buckets of ``bucket_mb`` MiB (not MB), tree all-reduce bytes in both byte columns, the dense column
  independent of the compressor, the ``refresh`` column of a method without refreshes, the optimizer the
  workload names, the error when the timing replay is missing, the info it writes, compression priced in the
  workload's dtype and for the real number of ranks;
- `simulate_step`: a phase's next slot waits for all of its collectives, a 1 ns slot and a backward that is only
  a tail count, a hook's kernels go before the backward tail with overlap;
- GreedyLore with a refresh every other call, link-level all-gathers by ring under a tree all-reduce;
- `_flat_sources` on hand-built counts;
- validators and defaults: ``op_overhead_us`` and ``first_call_index`` at and past their bounds, every costed
  ``error_feedback`` accepted, the message of a layer name that is not ``block.<i>``, the workload's defaults.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from harness.compression_cost import ParamTensor
from harness.config.blocks import ClusterSpec, LinkSpec, NetworkSpec, TechniqueSpec
from harness.errors import HarnessError
from harness.models.llama import LlamaDims
from harness.sim.topology import Topology, topology_collective_ns
from harness.timing.replay import open_replay
from harness.workloads import data_parallel_step as dp
from harness.workloads.base import RunContext
from harness.workloads.compressed_dp_step import BucketPlan, CompressedDPScenario, CompressedDPWorkload, StepPlan, \
    _flat_sources, build_compressor, effective_error_feedback, plan_step, run, simulate_step

ROOT = Path(__file__).parents[3]
TIMINGS = ROOT / "tests" / "data" / "timings"
TINY = LlamaDims(d_model=256, d_ff=512, n_heads=4, n_layers=2, vocab_size=512)
# TINY's parameters: embed 512 x 256, two blocks of 4 x 256^2 + 3 x 512 x 256 + 2 x 256, head 256 + 512 x 256
TINY_NUMEL = 2 * 512 * 256 + 2 * (4 * 256 * 256 + 3 * 512 * 256 + 2 * 256) + 256


def _network(model="closed_form"):
    return NetworkSpec(intra_node=LinkSpec(bandwidth_gbps=100.0, latency_us=2.0),
                       inter_node=LinkSpec(bandwidth_gbps=10.0, latency_us=10.0), model=model)


def _scenario(method="none", params=None, network_model="closed_form", per_node=2, **workload):
    defaults = dict(model=TINY, micro_batch=1, seq_len=64, dtype="float32", bucket_mb=0.25, n_steps=1)
    return CompressedDPScenario(
        name="cdp", cluster=ClusterSpec(nodes=2, devices_per_node=per_node, device="cpu"),
        network=_network(network_model),
        technique=TechniqueSpec(name=method, params=params or {}),
        workload=CompressedDPWorkload(**{**defaults, **workload}))


def _run(scenario):
    timings = open_replay(scenario, timings_root=TIMINGS)
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0), timings=timings))


class _OneMsPerPrimitive:
    """A pricer that times every primitive at 1 ms: a slot's time is its primitive count."""

    def time_ms(self, op):
        return 1.0


def _plan(compressor, error_feedback, layer_buckets, *, algorithm="ring", uncompressed=(), n_workers=4):
    tensors = [ParamTensor(0, "a", (16, 16)), ParamTensor(1, "b", (8, 8))]
    return plan_step(tensors, compressor, error_feedback, 1, segment_ns=[10, 20][:len(layer_buckets)],
                     layer_buckets=layer_buckets, forward_ns=5, tail_ns=7, n_workers=n_workers, dtype="float32",
                     algorithm=algorithm, uncompressed=list(uncompressed), layer_names=("embed", "head"),
                     pricer=_OneMsPerPrimitive())


# ------------------------------------------------------------------------------------------ build / error feedback
@pytest.mark.parametrize(("name", "params"), [("arc_topk", {"bogus": 1}), ("topk", {"ratio": 1.5}), ("nope", {})])
def test_a_bad_compressor_is_a_value_error_naming_technique(name, params):
    with pytest.raises(ValueError, match=r"^technique: "):
        build_compressor(name, params)


def test_build_compressor_passes_its_parameters():
    assert build_compressor("topk", {"ratio": 0.25}).ratio == 0.25


def test_error_feedback_is_the_requested_one_else_the_compressors_usual_one():
    arc, dense = build_compressor("arc_topk", {"ratio": 0.2}), build_compressor("none", {})
    assert effective_error_feedback(arc, None) == "ef14"
    assert effective_error_feedback(dense, None) == "none"
    assert effective_error_feedback(arc, "none") == "none"
    assert effective_error_feedback(arc, "ef21m") == "ef21m"


@pytest.mark.parametrize("name", ["ef99", ""])
def test_an_error_feedback_without_a_cost_model_is_refused_listing_the_known(name):
    with pytest.raises(HarnessError, match=f"error feedback {name!r} has no cost model; known: none, ef14, ef21"):
        effective_error_feedback(build_compressor("arc_topk", {"ratio": 0.2}), name)


# ------------------------------------------------------------------------------------------ plan_step
def test_arc_topk_slots_keep_each_phases_primitives_and_the_last_slot_after_the_last_phase():
    """ARC-Top-K with EF14 on a 16 x 16 and an 8 x 8 tensor, rank 2, 25 % of rows, tree all-reduce over 4 ranks:
    slots [EF, randn, sketch GEMM] -> sketch all-reduce -> [scores, row Top-K, pack] -> rows all-reduce
    -> [unpack aggregate, unpack local, EF]; sketch n x 2 fp32, rows k x m with k = n / 4."""
    arc = build_compressor("arc_topk", {"ratio": 0.25, "rank": 2})
    plan = _plan(arc, "ef14", [(1,), (0,)], algorithm="tree")
    first, second = plan.buckets
    assert (first.segment_ns, second.segment_ns) == (10, 20)
    assert first.slots_ns == second.slots_ns == (3_000_000, 3_000_000, 3_000_000)
    assert first.phases == ((("all_reduce", 8 * 2 * 4.0),), (("all_reduce", 2 * 8 * 4.0),))
    assert second.phases == ((("all_reduce", 16 * 2 * 4.0),), (("all_reduce", 4 * 16 * 4.0),))
    assert (plan.forward_ns, plan.tail_ns) == (5, 7)
    payload = 64 + 64 + 128 + 256
    assert (plan.payload_bytes, plan.compressor_payload_bytes, plan.n_collectives) == (payload, payload, 4)
    assert plan.sent_bytes == 2 * payload  # tree all-reduce over 4 ranks: rank 1 sends S up and S to rank 3


def test_a_bucket_of_two_layers_batches_a_topk_all_gather_with_a_dense_all_reduce():
    """Top-K 25 % of a 16 x 16 tensor: 64 fp32 values + 64 int32 indices = 512 bytes per rank, gathered from 4
    ranks (2048 bytes); the 8 x 8 tensor of the uncompressed ``head`` is all-reduced dense (256 bytes)."""
    topk = build_compressor("topk", {"ratio": 0.25})
    plan = _plan(topk, "none", [(1, 0)], uncompressed=["head"])
    (bucket,) = plan.buckets
    assert bucket.phases == ((("all_gather", 2048.0), ("all_reduce", 256.0)),)
    assert bucket.slots_ns == (2_000_000, 2_000_000)  # [Top-K, pack] and [scatter-add merge, local copy]
    assert (plan.payload_bytes, plan.n_collectives) == (512 + 256, 2)
    assert plan.sent_bytes == 3 * 512 + 1.5 * 256  # ring: (N - 1) contributions; 2 (N - 1) / N of the all-reduce


# ------------------------------------------------------------------------------------------ simulate_step
def _simulate(buckets, *, overlap, tail_ns=0):
    topology = Topology.from_config(ClusterSpec(nodes=2, devices_per_node=2, device="cpu"), _network())
    c = topology_collective_ns("all_reduce", "ring", float(1 << 20), topology)
    plan = StepPlan(0, tail_ns, tuple(buckets(c)), 0, 0.0, 0, 0)
    return c, simulate_step(plan, topology, algorithm="ring", overlap=overlap, model="closed_form")


def test_a_phases_next_slot_waits_for_every_collective_of_the_phase():
    ar = ("all_reduce", float(1 << 20))
    c, t = _simulate(lambda c: [BucketPlan(0, (0, 5), ((ar, ar),))], overlap=False)
    assert c > 5
    assert t.step_time_ns == 2 * c + 5  # both all-reduces in turn on the one stream, then the slot


@pytest.mark.parametrize("overlap", [False, True])
def test_a_backward_pass_that_is_only_a_tail_still_takes_its_time(overlap):
    _, t = _simulate(lambda c: [BucketPlan(0, (0,), ())], overlap=overlap, tail_ns=10)
    assert (t.step_time_ns, t.compute_ns) == (10, 10)


def test_a_one_nanosecond_slot_still_takes_the_compute_stream():
    _, t = _simulate(lambda c: [BucketPlan(10, (1,), ())], overlap=False)
    assert (t.step_time_ns, t.compression_ns) == (11, 1)


def test_with_overlap_a_hooks_kernels_go_before_the_backward_tail():
    """As the first pass's hand timeline with the tail as the last backward work (C = one all-reduce, C > 10):
    seg A [0, 10], A's first all-reduce [10, 10 + C], seg B [10, 20], B's slot [20, 20 + 2C]; A's middle slot
    asks at 10 + C, after the tail (at 20), and still goes first: [20 + 2C, 25 + 2C], A's second all-reduce
    [25 + 2C, 25 + 3C], the tail [25 + 2C, 35 + 2C]: the step ends at 25 + 3C (the tail first: 35 + 3C)."""
    ar = (("all_reduce", float(1 << 20)),)
    c, t = _simulate(lambda c: [BucketPlan(10, (0, 5, 0), (ar, ar)), BucketPlan(10, (2 * c,), ())],
                     overlap=True, tail_ns=10)
    assert c > 10
    assert t.step_time_ns == 25 + 3 * c


# ------------------------------------------------------------------------------------------ run
def test_the_bucket_cap_is_in_mebibytes():
    """From the head backwards: head 525,312 B < 0.501 MiB = 525,336 B, so the head shares a bucket with block.1
    (with 0.501 MB = 501,000 B it would close alone): buckets [head, block.1], [block.0], [embed]."""
    row = _run(_scenario("none", bucket_mb=0.501)).metrics.iloc[0]
    assert (row["n_buckets"], row["n_collectives"]) == (3, 3)
    row = _run(_scenario("none", bucket_mb=0.5)).metrics.iloc[0]
    assert (row["n_buckets"], row["n_collectives"]) == (4, 4)


def test_one_bucket_of_every_layer_plans_every_tensor():
    dense = _run(_scenario("none", bucket_mb=100)).metrics.iloc[0]
    assert (dense["n_buckets"], dense["n_collectives"]) == (1, 1)
    assert dense["payload_bytes_per_worker"] == 4 * TINY_NUMEL
    arc = _run(_scenario("arc_topk", {"ratio": 0.2, "rank": 4}, bucket_mb=100)).metrics.iloc[0]
    assert (arc["n_buckets"], arc["n_collectives"]) == (1, 2)  # sketches, then rows: one all-reduce each


def test_tree_all_reduce_bytes_in_the_sent_and_dense_columns():
    row = _run(_scenario("none", algorithm="tree")).metrics.iloc[0]
    # tree all-reduce over 4 ranks: the busiest rank sends 2 S (vs ring's 1.5 S)
    assert row["bytes_sent_per_worker"] == row["dense_bytes_per_worker"] == 2 * 4 * TINY_NUMEL


def test_the_dense_column_is_dense_ring_all_reduce_whatever_the_compressor():
    row = _run(_scenario("arc_topk", {"ratio": 0.2, "rank": 4})).metrics.iloc[0]
    assert row["dense_bytes_per_worker"] == 1.5 * 4 * TINY_NUMEL
    assert row["bytes_sent_per_worker"] < row["dense_bytes_per_worker"] / 4


def test_a_method_without_refreshes_reports_refresh_false():
    m = _run(_scenario("topk", {"ratio": 0.2}, n_steps=2, first_call_index=0)).metrics
    assert m["refresh"].tolist() == [False, False]
    assert m["refresh"].dtype == bool


def test_greedylore_with_a_refresh_every_other_call_amortises_over_two_steps():
    m = _run(_scenario("greedylore", {"rank": 4, "refresh_period": 2}, n_steps=2, first_call_index=0)).metrics
    assert m["refresh"].tolist() == [True, False]
    refresh, regular = m["step_time_ms"].tolist()
    assert refresh > regular
    assert m["amortized_step_time_ms"].tolist() == pytest.approx([(refresh + regular) / 2] * 2, rel=1e-12)


def test_link_level_all_gathers_go_by_ring_whatever_the_all_reduce_algorithm():
    ring = _run(_scenario("topk", {"ratio": 0.2}, network_model="link_level")).metrics.iloc[0]
    tree = _run(_scenario("topk", {"ratio": 0.2}, network_model="link_level", algorithm="tree")).metrics.iloc[0]
    assert tree["comm_ms"] == ring["comm_ms"] > 0


def test_the_workloads_optimizer_is_the_one_timed():
    def dp_compute(optimizer):
        scenario = dp.DataParallelScenario(
            name="dp", cluster=ClusterSpec(nodes=2, devices_per_node=2, device="cpu"), network=_network(),
            workload=dp.DataParallelWorkload(model=TINY, micro_batch=1, seq_len=64, dtype="float32",
                                             bucket_mb=0.25, optimizer=optimizer, n_steps=1))
        ctx = RunContext(np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=TIMINGS))
        return dp.run(scenario, ctx).metrics["compute_ms"].iloc[0]

    ours = {opt: _run(_scenario("none", optimizer=opt)).metrics["compute_ms"].iloc[0]
            for opt in ("sgd_momentum", "none")}
    assert ours["sgd_momentum"] == dp_compute("sgd_momentum")
    assert ours["none"] == dp_compute("none")
    assert ours["none"] < ours["sgd_momentum"]


def test_without_the_timing_replay_the_error_names_this_kind():
    with pytest.raises(HarnessError, match="^compressed_dp_step needs the timing replay"):
        run(_scenario("topk", {"ratio": 0.2}), RunContext(seed_seq=np.random.SeedSequence(0), timings=None))


def test_info_names_ranks_compressor_tensors_and_model():
    info = _run(_scenario("arc_topk", {"ratio": 0.2, "rank": 4})).info
    assert info["n_ranks"] == 4
    assert info["compressor"] == {"name": "arc_topk", "params": {"ratio": 0.2, "rank": 4}}
    assert info["n_tensors"] == 1 + 2 * 9 + 2  # embed, 7 matrices + 2 norms per block, final norm + head
    assert info["model_dims"]["d_model"] == 256 and info["model_dims"]["n_layers"] == 2
    # GEMMs and element-wise passes are replayed (matmul, copy tables): only the untimed primitives are estimates
    assert "randn" in info["compression_estimates"]
    assert not {"gemm", "elementwise"} & set(info["compression_estimates"])
    assert info["timings"]["roofline"]["device"] == "cpu"


def test_compression_is_priced_in_the_workloads_dtype():
    """Brute force: every tensor's primitives priced one by one in bfloat16 (the plan sums them per bucket)."""
    from harness.compression_cost import OpPricer, llama_param_tensors, tensor_work

    scenario = _scenario("arc_topk", {"ratio": 0.2, "rank": 4}, dtype="bfloat16")
    row = _run(scenario).metrics.iloc[0]
    arc = build_compressor("arc_topk", {"ratio": 0.2, "rank": 4})
    pricer = OpPricer(open_replay(scenario, timings_root=TIMINGS), "bfloat16")
    total_ms = sum(pricer.time_ms(op) for t in llama_param_tensors(TINY)
                   for slot in tensor_work(arc, t.shape, 4, dtype="bfloat16", error_feedback="ef14").slots
                   for op in slot)
    assert row["compression_ms"] == pytest.approx(total_ms, abs=1e-5)  # slots are rounded to whole ns


def test_topk_merge_work_grows_with_the_ranks_it_gathers_from():
    """Top-K scatter-adds N gathered sets: more compute at 4 ranks than at 2; ARC-Top-K's work ignores N."""
    def compression_ms(method, params, per_node):
        return _run(_scenario(method, params, per_node=per_node)).metrics["compression_ms"].iloc[0]

    assert compression_ms("topk", {"ratio": 0.2}, 1) < compression_ms("topk", {"ratio": 0.2}, 2)
    arc = {"ratio": 0.2, "rank": 4}
    assert compression_ms("arc_topk", arc, 1) == compression_ms("arc_topk", arc, 2)


def test_flat_sources_add_up_every_op_and_only_the_compression_estimates():
    by_op = {"matmul": {"exact": 2, "roofline": 1}, "copy": {"exact": 3, "interpolated": 4}}
    compression = {"svd": {"estimate:roofline": 2}, "randn": {"estimate:roofline": 5},
                   "gemm": {"matmul:exact": 7}}  # replayed compression ops are in by_op already
    assert _flat_sources(by_op, compression) == {"exact": 5, "roofline": 1, "interpolated": 4, "estimate": 7}
    assert _flat_sources(by_op, {}) == {"exact": 5, "roofline": 1, "interpolated": 4}


# ------------------------------------------------------------------------------------------ validators
def test_workload_defaults_are_the_papers_setup():
    w = CompressedDPWorkload()
    assert (w.micro_batch, w.dtype, w.overlap, w.error_feedback) == (1, "float32", False, None)
    assert (w.uncompressed, w.op_overhead_us, w.first_call_index) == ([], 0.0, 1)


@pytest.mark.parametrize("value", [1e6 + 1, -1e-9])
def test_op_overhead_is_between_zero_and_one_second(value):
    assert CompressedDPWorkload(op_overhead_us=1e6).op_overhead_us == 1e6
    assert CompressedDPWorkload(op_overhead_us=0).op_overhead_us == 0
    with pytest.raises(ValidationError, match="op_overhead_us"):
        CompressedDPWorkload(op_overhead_us=value)


@pytest.mark.parametrize("name", ["none", "ef14", "ef21", "ef21m", "ef21_sgd2m"])
def test_every_costed_error_feedback_can_be_requested(name):
    assert CompressedDPWorkload(error_feedback=name).error_feedback == name


def test_first_call_index_may_be_zero_but_not_negative():
    assert CompressedDPWorkload(first_call_index=0).first_call_index == 0
    with pytest.raises(ValidationError, match="first_call_index"):
        CompressedDPWorkload(first_call_index=-1)


@pytest.mark.parametrize("name", ["blockx1", "block1", "blocks.1"])
def test_a_name_that_is_not_block_dot_index_is_an_unknown_layer(name):
    with pytest.raises(ValidationError, match=f"uncompressed: unknown layer {name!r}; expected embed, head or"):
        CompressedDPWorkload(uncompressed=[name])


def test_a_block_past_the_last_names_the_blocks_the_model_has():
    with pytest.raises(ValidationError, match=r"uncompressed: no layer 'block.2' in a model of 2 blocks "
                                              r"\(block.0 .. block.1\)"):
        CompressedDPWorkload(model=TINY, uncompressed=["block.2"])
