"""Gaps in the tests of `kernels.train_ops` found by a mutation audit.

Closed here:
- the FLOPs each op states per element (embedding backward, RMSNorm, rotary, SwiGLU, cross-entropy, AdamW, SGD)
  and a few byte counts, on hand-counted shapes;
- `rope_tables` uses base 10000; `causal_sdpa` is causal (the first position sees only itself); `swiglu` is
  silu(gate) * up on hand-worked values; the cross-entropy backward is seeded with a gradient of 1;
- the optimizer variants are built with the flags their names say (forloop / foreach / fused), one variant's
  states live at a time, and the options are torch's AdamW (weight decay 0.01) and SGD with momentum 0.9;
- activations arrive as the strided views a real block produces; the default optimizer grid reaches 2^30
  parameters and never exceeds them.
"""

from __future__ import annotations

import math

import pytest
import torch

from kernels import train_ops
from kernels.ops import load_all_ops


def _op(name):
    return load_all_ops().get(name)


@pytest.mark.parametrize("name, shape, flops", [
    ("embedding_fwd", {"tokens": 4, "d_model": 8, "vocab": 16}, 0.0),
    ("embedding_bwd", {"tokens": 4, "d_model": 8, "vocab": 16}, 32.0),  # one add per gathered element
    ("rmsnorm_fwd", {"rows": 2, "dim": 8}, 64.0),  # square, sum, scale, weight
    ("rmsnorm_bwd", {"rows": 2, "dim": 8}, 128.0),
    ("rotary_fwd", {"batch_heads": 2, "seq": 4, "head_dim": 8}, 192.0),  # two products and a sum per output
    ("rotary_bwd", {"batch_heads": 2, "seq": 4, "head_dim": 8}, 192.0),
    ("sdpa_fwd", {"batch_heads": 2, "seq": 4, "head_dim": 8}, 1024.0),  # 4 b h s^2 d
    ("sdpa_bwd", {"batch_heads": 2, "seq": 4, "head_dim": 8}, 2048.0),
    ("residual_add", {"numel": 10}, 10.0),
    ("swiglu_fwd", {"numel": 10}, 50.0),
    ("swiglu_bwd", {"numel": 10}, 100.0),
    ("cross_entropy_fwd", {"tokens": 4, "vocab": 16}, 256.0),  # max, subtract, exp, sum per logit
    ("cross_entropy_bwd", {"tokens": 4, "vocab": 16}, 128.0),
    ("adamw_step", {"tensor_numel": 10, "n_tensors": 3}, 420.0),  # 14 per parameter
    ("sgd_momentum_step", {"tensor_numel": 10, "n_tensors": 3}, 120.0),  # 4 per parameter
    ("linear_fwd", {"m": 3, "n": 5, "k": 7}, 210.0),
])
def test_flops_on_hand_counted_shapes(name, shape, flops):
    assert _op(name).flops(shape) == flops


@pytest.mark.parametrize("name, shape, dtype, nbytes", [
    ("embedding_fwd", {"tokens": 4, "d_model": 8, "vocab": 16}, "float32", 8 * 4 + 2 * 4 * 32),
    ("embedding_bwd", {"tokens": 4, "d_model": 8, "vocab": 16}, "float32", 8 * 4 + 4 * (4 + 16) * 8),
    ("rmsnorm_bwd", {"rows": 2, "dim": 8}, "float32", 4 * (3 * 16 + 2 * 8)),
    ("sdpa_fwd", {"batch_heads": 2, "seq": 4, "head_dim": 8}, "bfloat16", 4 * 2 * 64 + 4 * 8),
    ("sdpa_bwd", {"batch_heads": 2, "seq": 4, "head_dim": 8}, "bfloat16", 8 * 2 * 64 + 4 * 8),
    ("cross_entropy_fwd", {"tokens": 4, "vocab": 16}, "float32", 8 * 4 + 4 * (2 * 64 + 1)),
    ("cross_entropy_bwd", {"tokens": 4, "vocab": 16}, "float32", 8 * 4 + 2 * 4 * 64),
    ("adamw_step", {"tensor_numel": 10, "n_tensors": 3}, "bfloat16", 7 * 2 * 30),
    ("sgd_momentum_step", {"tensor_numel": 10, "n_tensors": 3}, "float32", 5 * 4 * 30),
    ("swiglu_bwd", {"numel": 10}, "float16", 5 * 2 * 10),
])
def test_bytes_on_hand_counted_shapes(name, shape, dtype, nbytes):
    assert _op(name).bytes_moved(shape, dtype) == nbytes


def test_rope_tables_use_base_10000():
    cos, sin = train_ops.rope_tables(2, 4, "float64", "cpu")
    # inverse frequencies 1 / 10000^(0/4) = 1 and 1 / 10000^(2/4) = 0.01
    assert cos.flatten().tolist() == pytest.approx([1.0, 1.0, math.cos(1.0), math.cos(0.01)])
    assert sin.flatten().tolist() == pytest.approx([0.0, 0.0, math.sin(1.0), math.sin(0.01)])


def test_causal_sdpa_lets_the_first_position_see_only_itself():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 5, 4, generator=gen) for _ in range(3))
    out = train_ops.causal_sdpa(q, k, v)
    assert torch.allclose(out[:, :, 0], v[:, :, 0], atol=1e-6)
    assert not torch.allclose(out[:, :, 4], v[:, :, 4], atol=1e-3)


def test_swiglu_is_silu_of_the_gate_times_up():
    out = train_ops.swiglu(torch.tensor([0.0, 1.0, -1.0, 2.0]), torch.tensor([3.0, 1.0, 1.0, 0.5]))
    silu = [0.0, 1 / (1 + math.exp(-1)), -1 / (1 + math.exp(1)), 2 / (1 + math.exp(-2))]
    assert out.tolist() == pytest.approx([3.0 * silu[0], silu[1], silu[2], 0.5 * silu[3]])


def test_the_cross_entropy_backward_is_seeded_with_one():
    shape = {"tokens": 3, "vocab": 5}
    grad_out, (logits,), loss = _op("cross_entropy_bwd").make_inputs(
        shape, "float32", "cpu", torch.Generator().manual_seed(0))
    assert grad_out.shape == () and grad_out.item() == 1.0
    (grad,) = _op("cross_entropy_bwd").impls["torch"](grad_out, (logits,), loss)
    assert torch.allclose(grad.sum(dim=1), torch.zeros(3), atol=1e-6)  # softmax - one-hot sums to 0 per row


@pytest.mark.parametrize("name", ["adamw_step", "sgd_momentum_step"])
def test_optimizer_variants_are_built_with_their_flags_one_at_a_time(name):
    op = _op(name)
    (state,) = op.make_inputs({"tensor_numel": 8, "n_tensors": 2}, "float32", "cpu", torch.Generator().manual_seed(0))
    expected = {"forloop": (False, None), "foreach": (True, None), "fused": (False, True)}
    for impl, (foreach, fused) in expected.items():
        op.impls[impl](state)
        assert list(state["built"]) == [impl]
        defaults = state["built"][impl].defaults
        assert bool(defaults["foreach"]) == foreach and defaults["fused"] == fused


def test_optimizer_options_are_adamw_with_decay_and_sgd_with_momentum():
    gen = torch.Generator().manual_seed(0)
    (adamw,) = _op("adamw_step").make_inputs({"tensor_numel": 4, "n_tensors": 1}, "float32", "cpu", gen)
    (sgd,) = _op("sgd_momentum_step").make_inputs({"tensor_numel": 4, "n_tensors": 1}, "float32", "cpu", gen)
    assert adamw["cls"] is torch.optim.AdamW and adamw["options"] == {"lr": 1e-3, "weight_decay": 0.01}
    assert sgd["cls"] is torch.optim.SGD and sgd["options"] == {"lr": 1e-3, "momentum": 0.9}
    # SGD momentum 0.9, lr 1e-3: two steps with the same gradient g move the parameter by lr (g + 1.9 g)
    p0 = sgd["params"][0].detach().clone()
    g = sgd["params"][0].grad.clone()
    _op("sgd_momentum_step").impls["forloop"](sgd)
    _op("sgd_momentum_step").impls["forloop"](sgd)
    assert torch.allclose(sgd["params"][0].detach(), p0 - 1e-3 * 2.9 * g, atol=1e-7)


def test_activations_arrive_as_the_strided_views_of_a_real_block():
    gen = torch.Generator().manual_seed(0)
    shape = {"batch_heads": 3, "seq": 5, "head_dim": 4}
    x, cos, sin = _op("rotary_fwd").make_inputs(shape, "float32", "cpu", gen)
    assert x.shape == (3, 5, 4) and not x.is_contiguous() and x.stride() == (4, 12, 1)
    q, k, v = _op("sdpa_fwd").make_inputs(shape, "float32", "cpu", gen)
    assert q.is_contiguous() and k.is_contiguous() and not v.is_contiguous() and v.shape == (1, 3, 5, 4)


def test_the_default_optimizer_grid_reaches_but_never_exceeds_2_to_the_30_parameters():
    sizes = [s["tensor_numel"] * s["n_tensors"] for s in _op("adamw_step").grid]
    assert max(sizes) == 1 << 30
    assert {s["n_tensors"] for s in _op("adamw_step").grid} == {1, 4, 16, 64, 256}
    assert max(s["numel"] for s in _op("residual_add").quick_grid) == 1 << 22
    assert max(s["tokens"] for s in _op("embedding_fwd").grid) == 1 << 14
