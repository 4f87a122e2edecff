"""harness/cost/training_step.py: the op list is the op list a real TinyLlama step runs (GEMM shapes, attention,
launch counts, parameter tensors), its separate-q/k/v variant's GEMMs and gradient sums are a real step's of a
model with separate projections, FLOPs equal torch's flop counter, and pricing adds the dispatch gap."""

from __future__ import annotations

import math
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from harness.cost.training_step import (
    LAUNCHES,
    OPTIMIZERS,
    optimizer_launches,
    optimizer_ops,
    parameter_tensors,
    price,
    step_flops,
    step_ops,
)
from harness.models.llama import LLAMA_PRESETS, LlamaDims, parameter_count
from harness.timing.replay import Prediction
from kernels.ops import load_all_ops
from methods.models.gpt import TinyLlama
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

DIMS = LlamaDims(d_model=32, d_ff=48, n_heads=4, n_layers=2, vocab_size=50, fused_qkv=True)
B, S = 2, 12
# metadata-only aten ops (no kernel), and the scalar reads optimizers do
NOT_KERNELS = {"view", "_unsafe_view", "transpose", "t", "slice", "select", "unsqueeze", "squeeze", "expand",
               "as_strided", "permute", "alias", "detach", "split", "split_with_sizes", "unbind", "empty",
               "empty_like", "empty_strided", "new_empty", "new_empty_strided", "lift_fresh", "_to_copy",
               "_local_scalar_dense", "_record_function_enter_new", "_record_function_exit", "_reshape_alias"}


class _Record(TorchDispatchMode):
    """Every kernel-running aten call with its argument shapes."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, list]] = []
        self.backward_from: int | None = None  # index of the first backward call, where marked

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        if name not in NOT_KERNELS:  # tensors passed in a list (cat, stack) count as arguments too
            flat = [t for a in args for t in (a if isinstance(a, list | tuple) else [a])]
            self.calls.append((name, [tuple(t.shape) for t in flat if isinstance(t, torch.Tensor)]))
        return func(*args, **(kwargs or {}))


def _tiny_llama() -> TinyLlama:
    return TinyLlama(DIMS.vocab_size, DIMS.d_model, DIMS.n_layers, DIMS.n_heads, DIMS.d_ff, max_seq_len=S, seed=0)


def _real_step(record: TorchDispatchMode | None = None, model: torch.nn.Module | None = None):
    model = model or _tiny_llama()
    tokens = torch.randint(0, DIMS.vocab_size, (B, S), generator=torch.Generator().manual_seed(0))
    with record or FlopCounterMode(display=False) as mode:
        loss = model.loss(tokens, tokens)
        if isinstance(mode, _Record):
            mode.backward_from = len(mode.calls)
        loss.backward()
    return model, mode


def _real_gemms(record: _Record) -> Counter:
    real = Counter()
    for name, shapes in record.calls:
        if name == "mm":
            (m, k), (_, n) = shapes
            real[(m, n, k)] += 1
    return real


def _our_gemms(dims: LlamaDims) -> Counter:
    ours = Counter()
    for call in step_ops(dims, B, S, optimizer="none").calls():
        if call.op in ("matmul", "linear_fwd"):
            ours[(call.shape["m"], call.shape["n"], call.shape["k"])] += call.count
    return ours


def test_gemm_shapes_are_the_real_steps():
    _, record = _real_step(_Record())
    assert _our_gemms(DIMS) == _real_gemms(record)


def test_separate_qkv_gemms_and_gradient_sums_are_a_real_step_with_separate_projections():
    """`methods.models.llama_family.LlamaFamily` (dense) projects q, k and v separately, as the LLaMA presets
    do: its step runs our GEMMs, and its backward sums token-sized gradients exactly where ours does (the
    attention input's three gradients: two adds per block)."""
    separate = DIMS.model_copy(update={"fused_qkv": False})
    model = LlamaFamily(LlamaFamilyConfig(d_model=DIMS.d_model, d_ff=DIMS.d_ff, n_heads=DIMS.n_heads,
                                          n_layers=DIMS.n_layers, vocab_size=DIMS.vocab_size, max_seq_len=S))
    _, record = _real_step(_Record(), model)
    assert _our_gemms(separate) == _real_gemms(record)
    token_sized = [(B, S, DIMS.d_model)] * 2
    backward = record.calls[record.backward_from:]
    real_sums = sum(1 for name, shapes in backward if name == "add" and shapes == token_sized)
    ours = [c for c in step_ops(separate, B, S, optimizer="none").calls() if c.label.endswith("grad_accumulate")]
    assert {c.shape["numel"] for c in ours} == {B * S * DIMS.d_model}
    assert real_sums == sum(c.count for c in ours) == 5 * DIMS.n_layers


def test_attention_embedding_loss_and_norm_calls_are_the_real_steps():
    _, record = _real_step(_Record())
    real = Counter(name for name, _ in record.calls)
    calls = step_ops(DIMS, B, S, optimizer="none").calls()
    ours = Counter()
    for call in calls:
        ours[call.op] += call.count
    assert real["_scaled_dot_product_flash_attention_for_cpu"] == ours["sdpa_fwd"] == DIMS.n_layers
    assert real["_scaled_dot_product_flash_attention_for_cpu_backward"] == ours["sdpa_bwd"]
    assert real["embedding"] == ours["embedding_fwd"] == 1 and real["embedding_dense_backward"] == ours["embedding_bwd"]
    assert real["_log_softmax"] == ours["cross_entropy_fwd"] and real["nll_loss_backward"] == ours["cross_entropy_bwd"]
    assert real["rsqrt"] == ours["rmsnorm_fwd"] == 2 * DIMS.n_layers + 1
    assert real["silu"] == ours["swiglu_fwd"] and real["silu_backward"] == ours["swiglu_bwd"]
    # rotary stacks its halves (forward), the fused q/k/v gradient is one concatenation (backward)
    assert real["stack"] == ours["rotary_fwd"] and real["cat"] == sum(
        c.count for c in calls if c.label == "qkv.grad_concat")
    concatenated = sum(math.prod(shape) for name, shapes in record.calls if name == "cat" for shape in shapes)
    assert concatenated == sum(c.count * c.shape["numel"] for c in calls if c.label == "qkv.grad_concat")


def test_kernel_count_is_the_real_steps():
    _, record = _real_step(_Record())
    real = Counter(name for name, _ in record.calls)
    calls = step_ops(DIMS, B, S, optimizer="none").calls()
    # every kernel of the real forward + backward but the loss's seed gradient (ones_like of a scalar)
    assert sum(c.count * c.launches for c in calls) == sum(real.values()) - real["ones_like"]
    assert real["clone"] == sum(c.count for c in calls if c.label in ("merge_heads", "qk.grad_to_tokens"))


def test_step_flops_equal_the_flop_counter():
    with sdpa_kernel(SDPBackend.MATH):  # the CPU flash kernel is not in the counter's table; math is bmm's
        _, counter = _real_step()
    calls = step_ops(DIMS, B, S, optimizer="none").calls()
    assert step_flops(calls, ["matmul", "linear_fwd", "sdpa_fwd", "sdpa_bwd"]) == counter.get_total_flops()
    gpu = step_ops(DIMS, B, S, optimizer="none", device="h100").calls()
    assert {c.op for c in gpu} - {c.op for c in calls} == set() and "linear_fwd" not in {c.op for c in gpu}
    assert step_flops(gpu) == step_flops(calls)


def test_parameter_tensors_and_count_match_the_model_and_the_optimizer_op():
    model = _tiny_llama()
    params = list(model.parameters())
    assert parameter_tensors(DIMS) == len(params)
    assert parameter_count(DIMS) == sum(p.numel() for p in params)
    calls = optimizer_ops(DIMS, "adamw", "cpu")
    assert sorted((c.shape["tensor_numel"], c.shape["n_tensors"]) for c in calls) == sorted(
        Counter(p.numel() for p in params).items())
    assert sum(c.shape["tensor_numel"] * c.shape["n_tensors"] for c in calls) == parameter_count(DIMS)
    separate = DIMS.model_copy(update={"fused_qkv": False})
    assert parameter_tensors(separate) == parameter_tensors(DIMS) + 2 * DIMS.n_layers


def test_optimizer_choices():
    assert optimizer_ops(DIMS, "none", "cpu") == ()
    assert optimizer_ops(DIMS, "adamw", "cpu")[0].impl == "forloop"
    assert optimizer_ops(DIMS, "adamw", "h100")[0].impl == "foreach"
    assert optimizer_ops(DIMS, "adamw_fused", "h100")[0].impl == "fused"
    assert optimizer_ops(DIMS, "sgd_momentum", "cpu")[0].op == "sgd_momentum_step"
    assert set(OPTIMIZERS) == {"adamw", "adamw_fused", "sgd_momentum", "none"}
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        optimizer_ops(DIMS, "adam", "cpu")


def _count_kernels(fn, args) -> int:
    record = _Record()
    with record:
        fn(*args)
    return len(record.calls)


def test_launch_counts_are_the_kernels_each_op_dispatches():
    ops = load_all_ops()
    for name, launches in LAUNCHES.items():
        op = ops.get(name)
        args = op.make_inputs(op.quick_grid[0], "float32", "cpu", torch.Generator().manual_seed(0))
        fn = op.impls["torch"]
        fn(*args)
        assert _count_kernels(fn, args) == launches, name
    for name in ("adamw_step", "sgd_momentum_step"):
        op = ops.get(name)
        for impl, fn in op.impls.items():
            shape = {"tensor_numel": 16, "n_tensors": 4}
            args = op.make_inputs(shape, "float32", "cpu", torch.Generator().manual_seed(0))
            fn(*args)
            assert _count_kernels(fn, args) == optimizer_launches(name, impl, 4), (name, impl)


class _FakeReplay:
    """Predicts 1 ms per (op call) and says where it came from; a device with a dispatch gap."""

    def __init__(self, gap_us: float | None):
        self.device = SimpleNamespace(name="cpu") if gap_us is None else SimpleNamespace(name="cpu", dispatch_gap_us=gap_us)

    def predict(self, op, *, impl=None, dtype="float32", **shape):
        return Prediction(1.0, "roofline" if op == "sdpa_fwd" else "exact", "")


def test_price_sums_predictions_and_adds_launches_times_the_dispatch_gap():
    calls = step_ops(DIMS, B, S, optimizer="adamw").calls()
    n_calls = sum(c.count for c in calls)
    plain = price(calls, _FakeReplay(None), "float32")
    assert plain.time_ms == plain.ops_ms == n_calls
    assert plain.by_source_ms["roofline"] == DIMS.n_layers
    assert sum(plain.by_op_ms.values()) == pytest.approx(n_calls)
    gapped = price(calls, _FakeReplay(5.0), "float32")
    assert gapped.n_launches == sum(c.count * c.launches for c in calls)
    assert gapped.time_ms == pytest.approx(n_calls + gapped.n_launches * 5.0e-3)


def test_presets_build_and_refuse_bad_batches():
    dims = LLAMA_PRESETS["llama-7b"]
    ops = step_ops(dims, 1, 4096, optimizer="adamw_fused", device="h100")
    assert {c.impl for c in ops.optimizer} == {"fused"} and len(ops.optimizer) == 4  # embedding/head, d^2, d f, d
    assert sum(c.shape["tensor_numel"] * c.shape["n_tensors"] for c in ops.optimizer) == parameter_count(dims)
    with pytest.raises(ValueError, match="micro_batch and seq_len"):
        step_ops(DIMS, 0, 16)
