"""`harness.compression_cost`: tensor lists match the LLaMA layers, payloads are the compressors' own, primitives
are priced by a registered timed op when one fits, else by the replayed matmul/copy, else a flagged estimate.

The primitives' FLOPs and bytes and each compressor's op list are checked against values worked out by hand from the
module docstring's rules and from what the real compressor sends (its payloads give k, K and r)."""

from __future__ import annotations

import pytest
import torch

from harness.compression_cost import (
    COST_MODELS,
    OpPricer,
    check_tensors_match_layers,
    elementwise,
    gemm,
    llama_param_tensors,
    pack_rows,
    qr,
    randn,
    randperm,
    svd,
    tensor_work,
    topk_select,
    traffic,
    unpack_rows,
)
from harness.devices import get_device
from harness.models.llama import LLAMA_PRESETS, parameter_count
from harness.timing.replay import Prediction, TimingReplay
from kernels.ops import TimedOp
from kernels.registry import Registry
from methods.compress import make_compressor
from methods.compress import load_compressors


@pytest.mark.parametrize("preset", list(LLAMA_PRESETS))
def test_param_tensors_add_up_to_the_layer_parameter_counts(preset):
    dims = LLAMA_PRESETS[preset]
    tensors = llama_param_tensors(dims)
    check_tensors_match_layers(dims, tensors)  # raises ValueError on a per-layer mismatch
    assert {t.layer for t in tensors} == set(range(dims.n_layers + 2))  # embed, blocks, head; no stray layer
    assert sum(t.numel for t in tensors) == parameter_count(dims)
    assert len({t.name for t in tensors}) == len(tensors) == 9 * dims.n_layers + 3


def test_tensor_check_rejects_a_missing_tensor():
    dims = LLAMA_PRESETS["llama-60m"]
    with pytest.raises(ValueError, match="block.0"):
        check_tensors_match_layers(dims, [t for t in llama_param_tensors(dims) if t.name != "layers.0.q_proj.weight"])


def test_every_registered_compressor_has_a_cost_model():
    assert set(load_compressors()) <= set(COST_MODELS)


@pytest.mark.parametrize("name,params", [
    ("none", {}), ("topk", {"ratio": 0.2}), ("topk", {"ratio": 0.2, "rows": True}), ("randk", {"ratio": 0.1}),
    ("randk", {"ratio": 0.1, "rows": True, "scaled": True}), ("arc_topk", {"rank": 4}),
    ("arc_topk", {"exact_sketch": True}), ("powersgd", {"rank": 2}), ("greedylore", {"rank": 3, "refresh_period": 4}),
    ("greedylore", {"rank": 3, "selection": "random"}), ("greedylore", {"rank": 3, "selection": "lazy"}),
    ("greedylore", {"rank": 3, "exact_scores": True}),
])
@pytest.mark.parametrize("shape", [(96, 40), (40, 96), (64,), (8, 4, 3, 3)])
@pytest.mark.parametrize("call_index", [0, 1])
def test_payloads_are_the_compressors_and_slots_fit_the_phases(name, params, shape, call_index):
    comp = make_compressor(name, **params)
    work = tensor_work(comp, shape, 4, call_index=call_index, error_feedback="ef14")
    assert list(work.payloads) == comp.payloads(shape, call_index=call_index)
    assert work.dense == comp.uses_dense(shape)
    half = tensor_work(comp, shape, 4, call_index=call_index, dtype="bfloat16", error_feedback="ef14")
    assert list(half.payloads) == comp.payloads(shape, call_index=call_index, dtype=torch.bfloat16)
    assert len(work.slots) == len(work.payloads) + 1
    if name == "none":
        assert all(not slot for slot in work.slots)  # dense all-reduce needs no compute
    elif not work.dense:
        assert any(op.primitive != "elementwise" or op.bytes_moved > 0 for slot in work.slots for op in slot)


def test_error_feedback_adds_elementwise_passes_only():
    comp = make_compressor("arc_topk")
    for dtype, itemsize in (("float32", 4), ("bfloat16", 2)):
        plain = tensor_work(comp, (64, 32), 2, dtype=dtype, error_feedback="none")
        ef21m = tensor_work(comp, (64, 32), 2, dtype=dtype, error_feedback="ef21m")
        moved = [sum(op.bytes_moved for s in w.slots for op in s) for w in (plain, ef21m)]
        assert moved[1] - moved[0] == pytest.approx(12 * 64 * 32 * itemsize)
    with pytest.raises(ValueError, match="error_feedback"):
        tensor_work(comp, (64, 32), 2, error_feedback="ef99")
    with pytest.raises(ValueError, match="dtype"):
        tensor_work(comp, (64, 32), 2, dtype="int8")


class _StubReplay:
    """Records predictions (and the dtype of each); times every op at 1 ms (source 'exact')."""

    def __init__(self):
        self.device = get_device("h100")
        self.calls = []
        self.dtypes = []

    def predict(self, op, *, dtype="float32", impl=None, **shape):
        self.calls.append((op, shape))
        self.dtypes.append(dtype)
        return Prediction(1.0, "exact", "stub")


def _pricer_with(registry, dtype="float32"):
    pricer = OpPricer(_StubReplay(), dtype)
    pricer._registered = lambda: registry  # type: ignore[method-assign]
    return pricer


def test_registered_timed_op_is_used_when_its_columns_fit():
    registry = Registry("timed op")
    registry.add("topk_flat", TimedOp(name="topk_flat", shape_columns=("numel", "k"), flops=lambda s: 0.0,
                                 bytes_moved=lambda s, dt: 0.0))
    pricer = _pricer_with(registry)
    assert pricer.time_ms(topk_select(10_000, 100, 4)) == 1.0
    assert pricer.replay.calls == [("topk_flat", {"numel": 10_000, "k": 100})]
    assert pricer.sources == {"topk_select": {"topk_flat:exact": 1}}


def test_without_a_timed_op_gemm_uses_matmul_and_selection_is_a_flagged_estimate():
    pricer = _pricer_with(Registry("timed op"))
    assert pricer.time_ms(gemm(64, 4, 128, 4)) == 1.0
    assert pricer.replay.calls == [("matmul", {"m": 64, "n": 4, "k": 128})]
    op = svd(256, 1024, 4)
    expected = get_device("h100").roofline_time_ms(op.flops, op.bytes_moved, "float32")
    assert pricer.time_ms(op) == pytest.approx(expected)
    assert pricer.sources["svd"] == {"estimate:roofline": 1}


def test_factorisations_of_half_precision_gradients_are_priced_in_float32():
    # PowerSGD's QR and GreedyLore's SVD run in float32 for bf16/fp16 gradients (methods.compress.base.factor_dtype)
    h100 = get_device("h100")
    pricer = _pricer_with(Registry("timed op"), dtype="bfloat16")
    n, r, p, q = 4096, 4, 256, 1024
    assert pricer.time_ms(qr(n, r, 2)) == pytest.approx(h100.roofline_time_ms(4 * n * r * r, 2 * n * r * 4, "float32"))
    svd_flops, svd_bytes = 4 * p * p * q + 22 * p**3, (p * q + p * p + p) * 4
    assert pricer.time_ms(svd(p, q, 2)) == pytest.approx(h100.roofline_time_ms(svd_flops, svd_bytes, "float32"))
    assert pricer.time_ms(randn(n * r, 2)) == pytest.approx(h100.roofline_time_ms(n * r, n * r * 2, "bfloat16"))


def test_columns_that_do_not_fit_fall_back_to_the_estimate():
    registry = Registry("timed op")
    registry.add("topk_flat", TimedOp(name="topk_flat", shape_columns=("rows", "cols", "k_frac"), flops=lambda s: 0.0,
                                 bytes_moved=lambda s, dt: 0.0))
    pricer = _pricer_with(registry)
    pricer.time_ms(topk_select(1000, 10, 4))
    assert pricer.replay.calls == [] and pricer.sources == {"topk_select": {"estimate:roofline": 1}}


def test_a_timed_op_needing_fewer_columns_than_the_primitive_has_is_used():
    registry = Registry("timed op")
    registry.add("topk_flat", TimedOp(name="topk_flat", shape_columns=("numel",), flops=lambda s: 0.0,
                                      bytes_moved=lambda s, dt: 0.0))
    pricer = _pricer_with(registry)
    pricer.time_ms(topk_select(1000, 10, 4))  # sizes numel and k: the op's one column can be filled
    assert pricer.replay.calls == [("topk_flat", {"numel": 1000})]


def test_row_packing_and_selection_use_their_registered_timed_ops_before_the_copy():
    pricer = OpPricer(_StubReplay(), "bfloat16")  # the real registry of timed ops (kernels.arc_select's among them)
    for op in (pack_rows(10, 6, 3, 2), unpack_rows(10, 6, 3, 2), topk_select(100, 5, 2)):
        assert pricer.time_ms(op) == 1.0
    rows = {"rows": 10, "cols": 6, "k": 3}
    assert pricer.replay.calls == [("arc_pack", rows), ("arc_unpack", rows), ("topk_flat", {"numel": 100, "k": 5})]
    assert pricer.replay.dtypes == ["bfloat16"] * 3


@pytest.mark.parametrize("dtype, itemsize", [("float32", 4), ("bfloat16", 2)])
def test_memory_bound_work_without_a_timed_op_is_a_copy_of_half_its_bytes_in_elements(dtype, itemsize):
    pricer = _pricer_with(Registry("timed op"), dtype)
    for op in (elementwise(1000, 3, itemsize), pack_rows(10, 6, 3, itemsize), unpack_rows(10, 6, 3, itemsize)):
        pricer.time_ms(op)
    # B bytes = a copy of B / (2 * itemsize) elements (module docstring); these bytes divide exactly
    assert pricer.replay.calls == [("copy", {"numel": 3 * 1000 * itemsize // (2 * itemsize)}),
                                   ("copy", {"numel": (2 * 3 * 6 * itemsize + 8 * 3) // (2 * itemsize)}),
                                   ("copy", {"numel": ((10 * 6 + 3 * 6) * itemsize + 8 * 3) // (2 * itemsize)})]
    assert pricer.replay.dtypes == [dtype] * 3
    assert pricer.sources == {p: {"copy:exact": 1} for p in ("elementwise", "pack_rows", "unpack_rows")}


def test_gemm_is_replayed_as_a_matmul_of_the_pricers_dtype():
    pricer = _pricer_with(Registry("timed op"), "bfloat16")
    pricer.time_ms(gemm(64, 4, 128, 2))
    assert (pricer.replay.calls, pricer.replay.dtypes) == ([("matmul", {"m": 64, "n": 4, "k": 128})], ["bfloat16"])


def test_real_replay_roofline_for_missing_tables():
    replay = TimingReplay(get_device("h100"), None)
    pricer = OpPricer(replay, "float32")
    t = pricer.time_ms(gemm(4096, 4, 4096, 4))
    assert t > 0 and pricer.sources == {"gemm": {"matmul:roofline": 1}}


# ------------------------------------------------------------------ primitives: worked out from the documented rules
@pytest.mark.parametrize("op, sizes, flops, bytes_moved", [
    # (m x k) @ (k x n): 2 m n k FLOPs; A, B and C each read or written once
    pytest.param(gemm(3, 5, 7, 4), {"m": 3, "n": 5, "k": 7}, 2 * 3 * 5 * 7, 4 * (3 * 7 + 7 * 5 + 3 * 5), id="gemm"),
    # 3 reads/writes of 10 fp16 values
    pytest.param(elementwise(10, 3, 2), {"numel": 10}, 0, 3 * 10 * 2, id="elementwise"),
    pytest.param(traffic(120), {"numel": 120}, 0, 120, id="traffic"),
    # gather k=3 rows 6 wide: read and write 3*6 fp32 values, read 3 int64 row indices
    pytest.param(pack_rows(10, 6, 3, 4), {"rows": 10, "cols": 6, "k": 3}, 0, 2 * 3 * 6 * 4 + 8 * 3, id="pack_rows"),
    # zero the 10 x 6 output, read the 3*6 packed values, read 3 int64 row indices
    pytest.param(unpack_rows(10, 6, 3, 4), {"rows": 10, "cols": 6, "k": 3}, 0, (10 * 6 + 3 * 6) * 4 + 8 * 3,
                 id="unpack_rows"),
    # radix select: 4 passes over the 100 values, then 5 values and 5 int64 indices out
    pytest.param(topk_select(100, 5, 4), {"numel": 100, "k": 5}, 0, 4 * 100 * 4 + 5 * (4 + 8), id="topk_select"),
    pytest.param(topk_select(100, 5, 2), {"numel": 100, "k": 5}, 0, 4 * 100 * 2 + 5 * (2 + 8), id="topk_select_bf16"),
    # radix sort of (4-byte key, 8-byte index) pairs: 4 passes, each reading and writing every pair
    pytest.param(randperm(50), {"numel": 50}, 0, 4 * 2 * (4 + 8) * 50, id="randperm"),
    # 16 draws, written once (FLOPs not documented: a write-bound draw)
    pytest.param(randn(16, 4), {"numel": 16}, None, 16 * 4, id="randn"),
    # reduced QR of 12 x 3: 4 n r^2 FLOPs; P read, Q written
    pytest.param(qr(12, 3, 4), {"n": 12, "r": 3}, 4 * 12 * 3**2, 2 * 12 * 3 * 4, id="qr"),
    # thin SVD of 6 x 10: 4 p^2 q + 22 p^3 FLOPs; A read, U (p x p) and S (p) written
    pytest.param(svd(6, 10, 4), {"p": 6, "q": 10}, 4 * 6**2 * 10 + 22 * 6**3, (6 * 10 + 6 * 6 + 6) * 4, id="svd"),
])
def test_primitive_sizes_flops_and_bytes_follow_the_documented_formulas(op, sizes, flops, bytes_moved):
    assert op.sizes == sizes
    assert op.bytes_moved == bytes_moved
    if flops is not None:
        assert op.flops == flops


# ------------------------------------------------------------ per-compressor work: the ops the real compressor runs
B = 4  # float32 itemsize: every work below is float32 unless it says otherwise


def _layout(work):
    """Per slot, each primitive with its sizes; element-wise passes (no other size) with the bytes they move."""
    return [[(op.primitive, op.bytes_moved if op.primitive == "elementwise" else op.sizes) for op in slot]
            for slot in work.slots]


def _rows_op(primitive, rows, cols, k):
    return (primitive, {"rows": rows, "cols": cols, "k": k})


def _gemm(m, n, k):
    return ("gemm", {"m": m, "n": n, "k": k})


def test_topk_selects_packs_then_scatter_adds_the_gathered_pairs():
    comp, n_workers, d = make_compressor("topk", ratio=0.2), 4, 50
    k = comp.payloads((10, 5))[0].size_bytes // (B + 4)  # the real payload: k fp32 values + k int32 indices
    assert k == 10
    assert _layout(tensor_work(comp, (10, 5), n_workers)) == [
        [("topk_select", {"numel": d, "k": k}),
         ("elementwise", k * (2 * B + 4))],  # gather the k values (read + write), write k int32 indices
        # zeros; per gathered pair read its value and int32 index, read + write the sum; / N (read + write)
        [("elementwise", d * B + n_workers * k * (3 * B + 4) + 2 * d * B),
         ("elementwise", d * B + 2 * k * B)],  # local copy for error feedback: zeros + the k kept values
    ]


def test_topk_rows_scores_row_energies_packs_rows_and_scatter_adds_them():
    comp, n_workers, (n, m) = make_compressor("topk", ratio=0.2, rows=True), 3, (10, 6)
    k = comp.payloads((n, m))[0].size_bytes // (m * B + 4)  # the real payload: k rows of m values + k int32 rows
    assert k == 2
    assert _layout(tensor_work(comp, (n, m), n_workers)) == [
        [("elementwise", n * m * B),  # row energies: one read of the n x m view
         ("topk_select", {"numel": n, "k": k}), _rows_op("pack_rows", n, m, k)],
        [("elementwise", n * m * B + n_workers * k * m * (3 * B + 4) + 2 * n * m * B),
         ("elementwise", n * m * B + 2 * k * m * B)],
    ]


def test_scaled_randk_draws_shared_indices_and_scales_both_outputs():
    comp, d = make_compressor("randk", ratio=0.25, scaled=True), 40
    k = comp.payloads((8, 5))[0].numel  # the real all-reduce: the k drawn values
    assert k == 10
    assert _layout(tensor_work(comp, (8, 5), 4)) == [
        [("randperm", {"numel": d}), ("elementwise", 2 * k * B + 8 * k)],  # gather k values by k int64 indices
        # aggregate and local copy: zeros + scatter of the k values, placed by the same k int64 indices
        [("elementwise", d * B + 2 * k * B + 8 * k)] * 2
        + [("elementwise", 2 * k * B)] * 2,  # the real compressor scales both by d/k (read + write of k values)
    ]


def test_randk_reads_its_int64_indices_to_gather_and_to_scatter_back():
    comp, d = make_compressor("randk", ratio=0.1), 200
    k = comp.payloads((d,), dtype=torch.bfloat16)[0].numel  # the real all-reduce: the k drawn values
    assert k == 20
    assert _layout(tensor_work(comp, (d,), 4, dtype="bfloat16")) == [
        [("randperm", {"numel": d}), ("elementwise", 2 * k * 2 + 8 * k)],  # bf16 values, int64 indices
        [("elementwise", d * 2 + 2 * k * 2 + 8 * k)] * 2,  # unscaled: no d/k passes
    ]


def test_scaled_randk_rows_draws_rows_packs_them_and_scales_both_outputs():
    comp, (n, m) = make_compressor("randk", ratio=0.2, rows=True, scaled=True), (10, 6)
    k = comp.payloads((n, m))[0].numel // m  # the real all-reduce: k whole rows
    assert k == 2
    assert _layout(tensor_work(comp, (n, m), 4)) == [
        [("randperm", {"numel": n}), _rows_op("pack_rows", n, m, k)],
        [_rows_op("unpack_rows", n, m, k)] * 2 + [("elementwise", 2 * k * m * B)] * 2,
    ]


def test_arc_topk_sketches_scores_packs_and_unpacks_the_rows_the_compressor_sends():
    comp, (n, m), r = make_compressor("arc_topk", ratio=0.2, rank=2), (10, 8), 2
    k = comp.payloads((n, m))[1].numel // m  # the real second all-reduce: k rows of m values
    assert k == 2
    assert _layout(tensor_work(comp, (n, m), 4)) == [
        [("randn", {"numel": m * r}), _gemm(n, r, m)],  # V [m, r]; G V
        [("elementwise", n * r * B), ("topk_select", {"numel": n, "k": k}), _rows_op("pack_rows", n, m, k)],
        [_rows_op("unpack_rows", n, m, k)] * 2,  # aggregate and local
    ]


def test_arc_topk_exact_sketch_copies_and_scores_the_whole_gradient():
    comp, (n, m) = make_compressor("arc_topk", ratio=0.2, exact_sketch=True), (10, 8)
    k = comp.payloads((n, m))[1].numel // m
    assert _layout(tensor_work(comp, (n, m), 4)) == [
        [("elementwise", 2 * n * m * B)],  # the sketch is a copy of G (read + write)
        [("elementwise", n * m * B), ("topk_select", {"numel": n, "k": k}), _rows_op("pack_rows", n, m, k)],
        [_rows_op("unpack_rows", n, m, k)] * 2,
    ]


def test_arc_topk_selects_as_many_rows_as_its_k_rule_sends():
    comp, (n, m) = make_compressor("arc_topk", ratio=0.29, rank=2, k_rule="authors"), (100, 3)
    k = comp.payloads((n, m))[1].numel // m
    assert k == 28  # int(0.29 * 100) = 28 (0.29 * 100 = 28.999...), where the "floor" rule keeps 29
    _, select, unpack = tensor_work(comp, (n, m), 4).slots
    assert [op.sizes["k"] for op in select[1:] + unpack] == [k] * 4


def test_arc_topk_bf16_work_reads_the_sketch_in_the_dtype_the_compressor_all_reduces_it_in():
    comp, (n, m), r = make_compressor("arc_topk", ratio=0.2, rank=2), (10, 8), 2
    sketch_payload, rows_payload = comp.payloads((n, m), dtype=torch.bfloat16)
    k = rows_payload.numel // m
    (draw, _), (scores, select, pack), _ = tensor_work(comp, (n, m), 4, dtype="bfloat16").slots
    assert draw.bytes_moved == m * r * 4  # V is drawn in fp32 (kernels.arc_select.sketch_matrix)
    assert scores.bytes_moved == sketch_payload.size_bytes == n * r * 4  # one read of the all-reduced fp32 sketch
    assert select.bytes_moved == 4 * n * 4 + k * (4 + 8)  # 4 radix passes over fp32 scores; fp32 values, int64 out
    assert pack.bytes_moved == 2 * k * m * 2 + 8 * k  # the packed rows are bf16
    exact = make_compressor("arc_topk", ratio=0.2, exact_sketch=True)
    exact_scores = tensor_work(exact, (n, m), 4, dtype="bfloat16").slots[1][0]
    exact_sketch = exact.payloads((n, m), dtype=torch.bfloat16)[0]
    assert exact_scores.bytes_moved == exact_sketch.size_bytes == n * m * 2  # the exact sketch is the bf16 gradient


@pytest.mark.parametrize("rank", [2, 8])
def test_powersgd_runs_two_projections_an_orthonormalisation_and_one_decode(rank):
    comp, (n, m) = make_compressor("powersgd", rank=rank, min_compression_rate=0), (12, 5)  # 0: rank 8 compresses too
    r = comp.payloads((n, m))[0].numel // n  # the real first all-reduce: P = M Q, n x r'
    assert r == min(rank, n, m)
    assert _layout(tensor_work(comp, (n, m), 4)) == [
        [_gemm(n, r, m)],  # P = M Q
        [("qr", {"n": n, "r": r}), _gemm(m, r, n)],  # orthonormalise P; M^T P
        [_gemm(n, m, r)],  # P Q^T
    ]


def test_powersgd_where_p_and_q_are_not_smaller_sends_dense_with_no_compression_work():
    comp, (n, m) = make_compressor("powersgd", rank=8), (12, 5)  # r' = 5: 5 (12 + 5) = 85 >= 60 values
    work = tensor_work(comp, (n, m), 4, error_feedback="ef14")
    assert work.dense and [(p.op, p.size_bytes) for p in work.payloads] == [("all_reduce", n * m * B)]
    assert _layout(work) == [[("elementwise", 3 * n * m * B)], [("elementwise", 3 * n * m * B)]]  # EF14 only


def test_powersgd_without_warm_start_draws_and_orthonormalises_a_fresh_q_every_call():
    (n, m), r = (12, 5), 2
    cold = tensor_work(make_compressor("powersgd", rank=r, warm_start=False), (n, m), 4)
    assert _layout(cold)[0] == [("randn", {"numel": m * r}), ("qr", {"n": m, "r": r}), _gemm(n, r, m)]


def test_powersgd_local_error_reference_also_decodes_the_workers_own_q():
    (n, m), r = (12, 5), 2
    local = tensor_work(make_compressor("powersgd", rank=r, error_reference="local"), (n, m), 4)
    assert _layout(local)[2] == [_gemm(n, m, r)] * 2  # P Q^T and the worker's own P Q_i^T


GREEDY_P, GREEDY_Q = 6, 10  # short and long side of a 6 x 10 or 10 x 6 gradient


def _greedylore_layout(shape, call_index=1, **params):
    comp = make_compressor("greedylore", refresh_period=4, **params)
    r = comp.payloads(shape, call_index=call_index)[-1].numel // GREEDY_Q  # the real last all-reduce: r x q
    return r, _layout(tensor_work(comp, shape, 4, call_index=call_index))


@pytest.mark.parametrize("shape", [(GREEDY_P, GREEDY_Q), (GREEDY_Q, GREEDY_P)])
@pytest.mark.parametrize("rank", [2, 8])
def test_greedylore_scores_with_a_probe_picks_r_directions_projects_and_reconstructs(shape, rank):
    p, q = GREEDY_P, GREEDY_Q
    r, layout = _greedylore_layout(shape, rank=rank)
    assert r == min(rank, p)
    assert layout == [
        [_gemm(p, q, p), ("randn", {"numel": p * q}), ("elementwise", 2 * p * q * B)],  # B^T A; Z; sum of (B^T A) Z
        [("elementwise", 2 * p * B), ("topk_select", {"numel": p, "k": r}),  # s * s; the r best directions
         ("elementwise", 2 * p * r * B), _gemm(r, q, p)],  # gather P = B[:, J]; P^T A
        [_gemm(p, q, r)] * 2,  # P R for the aggregate and the local copy
    ]


def test_greedylore_exact_scores_read_the_all_reduced_coordinates_once():
    p, q = GREEDY_P, GREEDY_Q
    r, layout = _greedylore_layout((p, q), rank=2, exact_scores=True)
    assert layout == [
        [_gemm(p, q, p)],
        [("elementwise", p * q * B), ("topk_select", {"numel": p, "k": r}), ("elementwise", 2 * p * r * B),
         _gemm(r, q, p)],
        [_gemm(p, q, r)] * 2,
    ]


@pytest.mark.parametrize("selection, draw", [("random", [("randperm", {"numel": GREEDY_P})]), ("lazy", [])])
def test_greedylore_random_and_lazy_selection_skip_the_scores(selection, draw):
    p, q = GREEDY_P, GREEDY_Q
    r, layout = _greedylore_layout((p, q), rank=2, selection=selection)
    assert layout == [draw + [("elementwise", 2 * p * r * B), _gemm(r, q, p)], [_gemm(p, q, r)] * 2]


@pytest.mark.parametrize("shape", [(GREEDY_P, GREEDY_Q), (GREEDY_Q, GREEDY_P)])
def test_greedylore_refresh_all_reduces_dense_then_takes_the_short_side_svd(shape):
    _, layout = _greedylore_layout(shape, call_index=4, rank=2)  # call 4 = refresh_period: a refresh
    assert layout == [[], [("svd", {"p": GREEDY_P, "q": GREEDY_Q})]]


@pytest.mark.parametrize("error_feedback, before, after", [
    ("ef14", 3, 3),  # h = g + e | e = h - c  (EF14: 6 reads/writes)
    ("ef21", 3, 6),  # d = g - g_i | g_i += c; g += mean c  (EF21: 9)
    ("ef21m", 6, 6),  # v = (1 - eta) v + eta g; d = v - g_i | g_i += c; g += mean c  (EF21M: 12)
    ("ef21_sgd2m", 9, 6),  # v, u = momenta; d = u - g_i | g_i += c; g += mean c  (EF21-SGD2M: 15)
])
def test_error_feedback_passes_run_first_before_and_last_after_the_compressor(error_feedback, before, after):
    comp, shape, numel = make_compressor("powersgd", rank=2), (12, 5), 60
    plain = tensor_work(comp, shape, 4).slots
    slots = tensor_work(comp, shape, 4, error_feedback=error_feedback).slots
    assert (slots[0][0].primitive, slots[0][0].bytes_moved) == ("elementwise", before * numel * B)
    assert (slots[-1][-1].primitive, slots[-1][-1].bytes_moved) == ("elementwise", after * numel * B)
    assert (slots[0][1:], slots[1], slots[-1][:-1]) == (plain[0], plain[1], plain[-1])  # the compressor's own ops
