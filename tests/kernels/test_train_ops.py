"""kernels/train_ops.py: every training-step op runs in every dtype, rotary is TinyLlama's, bytes equal the tensors'
sizes, FLOPs equal torch's flop counter, and the optimizer variants compute the same step."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from kernels.ops import load_all_ops
from methods.models.gpt import apply_rope as tiny_llama_rope
from methods.models.gpt import rope_tables as tiny_llama_rope_tables

TRAIN_OPS = ("linear_fwd", "embedding_fwd", "embedding_bwd", "rmsnorm_fwd", "rmsnorm_bwd", "rotary_fwd", "rotary_bwd", "sdpa_fwd",
             "sdpa_bwd", "residual_add", "swiglu_fwd", "swiglu_bwd", "cross_entropy_fwd", "cross_entropy_bwd",
             "adamw_step", "sgd_momentum_step")
SMALL = {
    "linear": {"m": 9, "n": 7, "k": 5},
    "embedding": {"tokens": 12, "d_model": 8, "vocab": 20},
    "rmsnorm": {"rows": 6, "dim": 16},
    "rotary": {"batch_heads": 3, "seq": 10, "head_dim": 8},
    "sdpa": {"batch_heads": 3, "seq": 10, "head_dim": 8},
    "residual": {"numel": 50},
    "swiglu": {"numel": 50},
    "cross": {"tokens": 7, "vocab": 30},
    "adamw": {"tensor_numel": 13, "n_tensors": 3},
    "sgd": {"tensor_numel": 13, "n_tensors": 3},
}


def _small(name: str) -> dict[str, int]:
    return SMALL[name.split("_")[0]]


def _inputs(name: str, dtype: str = "float32", seed: int = 0):
    op = load_all_ops().get(name)
    return op, op.make_inputs(_small(name), dtype, "cpu", torch.Generator().manual_seed(seed))


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for v in value for t in _tensors(v)]
    return []


def _nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("name", TRAIN_OPS)
def test_every_op_runs_in_every_dtype_and_its_grids_have_three_points_per_axis(name, dtype):
    op, args = _inputs(name, dtype)
    assert dtype in op.dtypes
    for impl, fn in op.impls.items():
        out = fn(*args)
        for t in _tensors(out):
            assert torch.isfinite(t.float()).all(), (name, impl)
    for column in op.shape_columns:  # leave-one-out needs an interior point on every axis of the quick grid
        assert len({s[column] for s in op.quick_grid}) >= 3, (name, column)


def test_rotary_is_the_tiny_llama_formula():
    op, (x, cos, sin) = _inputs("rotary_fwd")
    ref_cos, ref_sin = tiny_llama_rope_tables(x.shape[-2], x.shape[-1])
    assert torch.allclose(cos, ref_cos) and torch.allclose(sin, ref_sin)
    assert torch.equal(op.impls["torch"](x, cos, sin), tiny_llama_rope(x, cos, sin))


def test_backward_ops_return_the_gradients_autograd_computes():
    op, (grad_out, wrt, out) = _inputs("rmsnorm_bwd")
    grads = op.impls["torch"](grad_out, wrt, out)
    x, weight = (t.detach().clone().requires_grad_(True) for t in wrt)
    torch.nn.functional.rms_norm(x, (x.shape[-1],), weight).backward(grad_out)
    assert torch.allclose(grads[0], x.grad) and torch.allclose(grads[1], weight.grad)


def test_module_ops_compute_what_the_functional_form_does():
    _, (linear, x) = _inputs("linear_fwd")
    assert torch.allclose(linear(x), x @ linear.weight.T) and linear.bias is None
    _, (norm, x) = _inputs("rmsnorm_fwd")
    assert torch.allclose(norm(x), torch.nn.functional.rms_norm(x, (x.shape[-1],), norm.weight))
    _, (embedding, ids) = _inputs("embedding_fwd")
    assert torch.equal(embedding(ids), embedding.weight[ids])


# what each op reads (from its inputs) and writes (its outputs), as tensors of the real call
def _read_write(name: str, args, out) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if name == "embedding_fwd":
        module, ids = args
        return [ids, out], [out]  # the gathered rows (one per token), not the whole table
    if name in ("linear_fwd", "rmsnorm_fwd"):
        module, x = args
        return [x, module.weight], [out]
    if name.endswith("_bwd"):
        grad_out, wrt, root = args
        if name == "embedding_bwd":
            return [grad_out, torch.empty(grad_out.shape[0], dtype=torch.int64)], list(out)
        if name == "rmsnorm_bwd":
            return [grad_out, *wrt], list(out)
        if name == "rotary_bwd":
            seq, head_dim = grad_out.shape[-2:]
            table = torch.empty(seq, head_dim // 2, dtype=grad_out.dtype)
            return [grad_out, table, table], list(out)
        if name == "sdpa_bwd":
            lse = torch.empty(grad_out.shape[:-1], dtype=torch.float32)
            return [*wrt, root, grad_out, lse], list(out)
        if name == "swiglu_bwd":
            return [grad_out, *wrt], list(out)
        if name == "cross_entropy_bwd":
            logits = wrt[0]
            log_softmax, targets = torch.empty_like(logits), torch.empty(logits.shape[0], dtype=torch.int64)
            return [log_softmax, targets], list(out)
    if name == "sdpa_fwd":
        lse = torch.empty(out.shape[:-1], dtype=torch.float32)
        return list(args), [out, lse]
    if name == "cross_entropy_fwd":
        logits, targets = args
        return [logits, targets], [torch.empty_like(logits), out]  # the saved log-softmax and the loss
    return list(args), _tensors(out)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", [n for n in TRAIN_OPS if not n.endswith("_step")])
def test_bytes_are_inputs_read_once_plus_outputs_written_once(name, dtype):
    op, args = _inputs(name, dtype)
    out = op.impls["torch"](*args)
    reads, writes = _read_write(name, args, out)
    assert op.bytes_moved(_small(name), dtype) == _nbytes(reads) + _nbytes(writes)


@pytest.mark.parametrize("name", ["adamw_step", "sgd_momentum_step"])
def test_optimizer_bytes_are_its_states_params_and_grads(name):
    op, (state,) = _inputs(name)
    op.impls["forloop"](state)
    opt = state["built"]["forloop"]
    params = state["params"]
    states = [t for p in params for t in opt.state[p].values() if isinstance(t, torch.Tensor) and t.numel() > 1]
    # read param, grad and every state; write param and every state
    expected = _nbytes(params) * 2 + _nbytes([p.grad for p in params]) + 2 * _nbytes(states)
    assert op.bytes_moved(_small(name), "float32") == expected


def test_matmul_and_attention_flops_equal_the_flop_counter():
    ops = load_all_ops()
    for name in ("sdpa_fwd", "sdpa_bwd"):
        op, args = _inputs(name)
        if name == "sdpa_bwd":  # rebuild the graph under the math backend: the counter sees its bmm's
            q, k, v = (t.detach().clone().requires_grad_(True) for t in args[1])
            with sdpa_kernel(SDPBackend.MATH):
                out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            args = (args[0], (q, k, v), out)
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            op.impls["torch"](*args)
        assert op.flops(_small(name)) == counter.get_total_flops(), name
    for name in ("matmul", "linear_fwd"):
        op = ops.get(name)
        shape = {"m": 5, "n": 7, "k": 3}
        args = op.make_inputs(shape, "float32", "cpu", torch.Generator().manual_seed(0))
        with FlopCounterMode(display=False) as counter:
            op.impls["torch"](*args)
        assert op.flops(shape) == counter.get_total_flops(), name


@pytest.mark.parametrize("name", ["adamw_step", "sgd_momentum_step"])
def test_optimizer_variants_compute_the_same_step(name):
    results = {}
    for impl in ("forloop", "foreach", "fused"):
        op, (state,) = _inputs(name, seed=3)
        for _ in range(3):
            op.impls[impl](state)
        results[impl] = torch.cat([p.detach().flatten() for p in state["params"]])
    assert torch.allclose(results["forloop"], results["foreach"], atol=1e-6)
    assert torch.allclose(results["forloop"], results["fused"], atol=1e-6)
    start = torch.cat([p.detach().flatten() for p in _inputs(name, seed=3)[1][0]["params"]])
    assert not torch.allclose(results["forloop"], start)
