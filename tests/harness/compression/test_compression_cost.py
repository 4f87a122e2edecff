"""`harness.compression_cost`: tensor lists match the LLaMA layers, payloads are the compressors' own, primitives
are priced by a registered timed op when one fits, else by the replayed matmul/copy, else a flagged estimate."""

from __future__ import annotations

import pytest
import torch

from harness.compression_cost import (
    COST_MODELS,
    OpPricer,
    check_tensors_match_layers,
    gemm,
    llama_param_tensors,
    svd,
    tensor_work,
    topk_select,
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
    """Records predictions; times every op at 1 ms (source 'exact')."""

    def __init__(self):
        self.device = get_device("h100")
        self.calls = []

    def predict(self, op, *, dtype="float32", impl=None, **shape):
        self.calls.append((op, shape))
        return Prediction(1.0, "exact", "stub")


def _pricer_with(registry):
    pricer = OpPricer(_StubReplay(), "float32")
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


def test_columns_that_do_not_fit_fall_back_to_the_estimate():
    registry = Registry("timed op")
    registry.add("topk_flat", TimedOp(name="topk_flat", shape_columns=("rows", "cols", "k_frac"), flops=lambda s: 0.0,
                                 bytes_moved=lambda s, dt: 0.0))
    pricer = _pricer_with(registry)
    pricer.time_ms(topk_select(1000, 10, 4))
    assert pricer.replay.calls == [] and pricer.sources == {"topk_select": {"estimate:roofline": 1}}


def test_real_replay_roofline_for_missing_tables():
    replay = TimingReplay(get_device("h100"), None)
    pricer = OpPricer(replay, "float32")
    t = pricer.time_ms(gemm(4096, 4, 4096, 4))
    assert t > 0 and pricer.sources == {"gemm": {"matmul:roofline": 1}}
