"""Timed ops of one LLaMA training step besides the GEMMs: what `harness.cost.training_step` prices op by op.

Each op is the torch code a real step runs, timed in isolation: a projection's forward (``nn.Linear``; its
backward GEMMs are plain ``matmul``), the embedding gather and its backward, RMSNorm,
rotary embedding (the formula of ``methods.models.gpt.apply_rope``: pairs (even, odd) rotated by position),
causal scaled-dot-product attention (``F.scaled_dot_product_attention``, flash-style on CPU and GPU) over
``(batch_heads, seq, head_dim)``, the residual add (also autograd's gradient accumulation), the SwiGLU
activation ``silu(gate) * up``, cross-entropy over ``(tokens, vocab)``, and the optimizer steps of
``torch.optim.AdamW`` and ``torch.optim.SGD`` (momentum 0.9) over ``n_tensors`` tensors of ``tensor_numel``
parameters, as ``forloop`` (single-tensor; torch's CPU default), ``foreach`` (torch's CUDA default) and ``fused``.

A ``*_fwd`` op (and the residual add) runs as in a training step: its inputs require gradients, so the timed
call includes autograd recording the graph, and the ops a model holds as modules (``nn.Linear``,
``nn.RMSNorm``, ``nn.Embedding``) are timed as module calls: on a CPU, where nothing overlaps, that framework
work is a real part of a step's time (on a GPU, CUDA-event timing sees the kernels only). On both, the
profiler evicts the caches before every timed call (`kernels.profiler`): in a step some 40 other ops run
between two calls of one op, so its weights and code are no longer in the core's caches. A
``*_bwd`` op is the autograd backward of its forward op alone: the inputs build the forward graph once and the
timed call is ``torch.autograd.grad(out, inputs, grad_out, retain_graph=True)``, so the time is exactly the
backward kernels torch runs for it (plus the autograd call itself). Activations arrive in the layouts a real
block produces: rotary and attention take ``(batch, seq, heads, head_dim)`` projections viewed as
``(batch, heads, seq, head_dim)`` (q and k leave the rotary contiguous; v stays a strided view).

Counting conventions (the roofline fallback and the tests use them): bytes are the minimal traffic, every input
tensor read once and every output written once (a residual add reads two inputs; a backward reads the gradient
and the tensors its formula needs, listed per op); FLOPs are those `torch.utils.flop_counter.FlopCounterMode`
counts for attention (``4 b h s^2 d`` forward, twice that backward; no causal saving) and, for element-wise ops,
the arithmetic of the formula per element, stated per op (e.g. AdamW 14 per parameter).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.basic_ops import MATMUL_QUICK_GRID, dtype_bytes
from kernels.inputs import device_generator
from kernels.ops import Shape, TimedOp, register_op

FLOAT_DTYPES = ("float32", "bfloat16", "float16")
OPTIMIZER_IMPLS = ("forloop", "foreach", "fused")
INDEX_BYTES = 8  # int64 token ids and targets


def _randn(shape, dtype: str, device: str, gen: torch.Generator, *, grad: bool = False, scale: float = 1.0):
    x = torch.randn(shape, generator=device_generator(gen, device), device=device) * scale
    return x.to(getattr(torch, dtype)).requires_grad_(grad)


def _backward(grad_out: torch.Tensor, wrt: tuple[torch.Tensor, ...], out: torch.Tensor):
    """The timed call of a backward op: gradients of the graph root ``out`` w.r.t. ``wrt``."""
    return torch.autograd.grad(out, wrt, grad_out, retain_graph=True)


def _pow2(lo: int, hi: int, step: int = 1) -> list[int]:
    return [1 << e for e in range(lo, hi + 1, step)]


def _product(**axes) -> list[dict[str, int]]:
    shapes = [{}]
    for name, values in axes.items():
        shapes = [{**s, name: v} for s in shapes for v in values]
    return shapes


# ---------------------------------------------------------------------------------------------------------------
# embedding gather: out[t] = weight[ids[t]]; backward scatter-adds the rows into a zeroed (vocab, d) gradient


def _module(cls, weight: torch.Tensor, *args) -> torch.nn.Module:
    """``cls(*args)`` (no bias) holding ``weight``: the op is timed as a model calls it (module call included)."""
    module = torch.nn.utils.skip_init(cls, *args, device=weight.device, dtype=weight.dtype)
    module.weight = torch.nn.Parameter(weight.detach())
    return module


def _call(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return module(x)


def _embedding_fwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    weight = _randn((shape["vocab"], shape["d_model"]), dtype, device, gen)
    ids = torch.randint(0, shape["vocab"], (shape["tokens"],), generator=device_generator(gen, device), device=device)
    return _module(torch.nn.Embedding, weight, shape["vocab"], shape["d_model"]), ids


def _embedding_bwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    module, ids = _embedding_fwd_inputs(shape, dtype, device, gen)
    out = module(ids)
    return _randn(out.shape, dtype, device, gen), (module.weight,), out


def _embedding_bytes(s: Shape, dt: str) -> float:
    return float(INDEX_BYTES * s["tokens"] + 2 * dtype_bytes(dt) * s["tokens"] * s["d_model"])


EMBED_GRID = _product(tokens=[128, 256, 512, 1024], d_model=[64, 128, 256, 512], vocab=[512, 1024, 2048])
EMBED_GRID_DEFAULT = _product(tokens=_pow2(8, 14, 2), d_model=[512, 1024, 2048, 4096], vocab=[32000])

register_op(TimedOp(
    name="embedding_fwd",
    shape_columns=("tokens", "d_model", "vocab"),
    flops=lambda s: 0.0,
    # read ids and the gathered rows, write the rows
    bytes_moved=_embedding_bytes,
    grid=EMBED_GRID_DEFAULT, quick_grid=EMBED_GRID,
    make_inputs=_embedding_fwd_inputs,
    impls={"torch": _call},
    dtypes=FLOAT_DTYPES,
))

register_op(TimedOp(
    name="embedding_bwd",
    shape_columns=("tokens", "d_model", "vocab"),
    flops=lambda s: float(s["tokens"] * s["d_model"]),  # one add per gathered element
    # read ids and the output gradient, write the (vocab, d_model) weight gradient
    bytes_moved=lambda s, dt: float(INDEX_BYTES * s["tokens"]
                                    + dtype_bytes(dt) * (s["tokens"] + s["vocab"]) * s["d_model"]),
    grid=EMBED_GRID_DEFAULT, quick_grid=EMBED_GRID,
    make_inputs=_embedding_bwd_inputs,
    impls={"torch": _backward},
    dtypes=FLOAT_DTYPES,
))


# ---------------------------------------------------------------------------------------------------------------
# a projection's forward as a model runs it: nn.Linear (no bias) on (1, m, k) activations that require grad


def _linear_fwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    weight = _randn((shape["n"], shape["k"]), dtype, device, gen, scale=shape["k"] ** -0.5)
    x = _randn((1, shape["m"], shape["k"]), dtype, device, gen, grad=True)
    return _module(torch.nn.Linear, weight, shape["k"], shape["n"], False), x


register_op(TimedOp(
    name="linear_fwd",
    shape_columns=("m", "n", "k"),
    flops=lambda s: 2.0 * s["m"] * s["n"] * s["k"],
    bytes_moved=lambda s, dt: float(dtype_bytes(dt) * (s["m"] * s["k"] + s["k"] * s["n"] + s["m"] * s["n"])),
    # the same GEMM kernel as ``matmul``; on a CPU the call also pays the module call and autograd's recording
    grid=_product(m=[16, 512, 4096, 16384], n=[512, 2048, 4096, 11008, 32000], k=[512, 2048, 4096, 11008]),
    quick_grid=MATMUL_QUICK_GRID,
    make_inputs=_linear_fwd_inputs,
    impls={"torch": _call},
    dtypes=FLOAT_DTYPES,
))


# ---------------------------------------------------------------------------------------------------------------
# RMSNorm over the last dim: y = x * rsqrt(mean(x^2) + eps) * weight


def _rmsnorm_fwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    x = _randn((shape["rows"], shape["dim"]), dtype, device, gen, grad=True)
    return _module(torch.nn.RMSNorm, _randn((shape["dim"],), dtype, device, gen), shape["dim"]), x


def _rmsnorm_bwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    norm, x = _rmsnorm_fwd_inputs(shape, dtype, device, gen)
    out = norm(x)
    return _randn(out.shape, dtype, device, gen), (x, norm.weight), out


NORM_GRID = _product(rows=[64, 128, 256, 512, 1024, 2048], dim=[64, 128, 256, 512, 1024])
NORM_GRID_DEFAULT = _product(rows=_pow2(8, 14, 2), dim=[512, 768, 1024, 2048, 4096])

register_op(TimedOp(
    name="rmsnorm_fwd",
    shape_columns=("rows", "dim"),
    flops=lambda s: 4.0 * s["rows"] * s["dim"],  # square, sum, scale, weight
    bytes_moved=lambda s, dt: float(dtype_bytes(dt) * (2 * s["rows"] * s["dim"] + s["dim"])),  # x, w -> y
    grid=NORM_GRID_DEFAULT, quick_grid=NORM_GRID,
    make_inputs=_rmsnorm_fwd_inputs,
    impls={"torch": _call},
    dtypes=FLOAT_DTYPES,
))

register_op(TimedOp(
    name="rmsnorm_bwd",
    shape_columns=("rows", "dim"),
    flops=lambda s: 8.0 * s["rows"] * s["dim"],
    # read grad_out, x, w; write grad_x, grad_w
    bytes_moved=lambda s, dt: float(dtype_bytes(dt) * (3 * s["rows"] * s["dim"] + 2 * s["dim"])),
    grid=NORM_GRID_DEFAULT, quick_grid=NORM_GRID,
    make_inputs=_rmsnorm_bwd_inputs,
    impls={"torch": _backward},
    dtypes=FLOAT_DTYPES,
))


# ---------------------------------------------------------------------------------------------------------------
# rotary position embedding on one (batch_heads, seq, head_dim) tensor (q or k)


def rope_tables(seq: int, head_dim: int, dtype: str, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables (seq, head_dim // 2), base 10000 (as ``methods.models.gpt.rope_tables``)."""
    inv = 1.0 / 10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim)
    angles = torch.outer(torch.arange(seq, dtype=torch.float32, device=device), inv)
    dt = getattr(torch, dtype)
    return angles.cos().to(dt), angles.sin().to(dt)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (even, odd) of the last dim of x (..., seq, head_dim); the formula of TinyLlama's rotary."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


def _heads_view(shape: Shape, dtype: str, device: str, gen: torch.Generator, *, grad: bool = False):
    """(batch_heads, seq, head_dim) viewed from a (seq, batch_heads, head_dim) projection output."""
    base = _randn((shape["seq"], shape["batch_heads"], shape["head_dim"]), dtype, device, gen, grad=True)
    return base, base.transpose(0, 1)


def _rotary_fwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    _, x = _heads_view(shape, dtype, device, gen, grad=True)
    return (x, *rope_tables(shape["seq"], shape["head_dim"], dtype, device))


def _rotary_bwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    base, x = _heads_view(shape, dtype, device, gen, grad=True)
    out = apply_rope(x, *rope_tables(shape["seq"], shape["head_dim"], dtype, device))
    return _randn(out.shape, dtype, device, gen), (base,), out


def _bsd(s: Shape) -> int:
    return s["batch_heads"] * s["seq"] * s["head_dim"]


ATTN_GRID = _product(batch_heads=[4, 8, 16, 32, 64], seq=[64, 128, 256], head_dim=[16, 32, 64])
ATTN_GRID_DEFAULT = _product(batch_heads=[8, 32, 128, 512], seq=[256, 1024, 4096], head_dim=[64, 128])

register_op(TimedOp(
    name="rotary_fwd",
    shape_columns=("batch_heads", "seq", "head_dim"),
    flops=lambda s: 3.0 * _bsd(s),  # two products and a sum per output
    bytes_moved=lambda s, dt: float(dtype_bytes(dt) * (2 * _bsd(s) + s["seq"] * s["head_dim"])),  # x, cos, sin -> y
    grid=ATTN_GRID_DEFAULT, quick_grid=ATTN_GRID,
    make_inputs=_rotary_fwd_inputs,
    impls={"torch": apply_rope},
    dtypes=FLOAT_DTYPES,
))

register_op(TimedOp(
    name="rotary_bwd",
    shape_columns=("batch_heads", "seq", "head_dim"),
    flops=lambda s: 3.0 * _bsd(s),
    bytes_moved=lambda s, dt: float(dtype_bytes(dt) * (2 * _bsd(s) + s["seq"] * s["head_dim"])),  # g, cos, sin -> dx
    grid=ATTN_GRID_DEFAULT, quick_grid=ATTN_GRID,
    make_inputs=_rotary_bwd_inputs,
    impls={"torch": _backward},
    dtypes=FLOAT_DTYPES,
))


# ---------------------------------------------------------------------------------------------------------------
# causal scaled-dot-product attention over (1, batch_heads, seq, head_dim)


def causal_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def _sdpa_fwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    q, k = (_randn((1, shape["batch_heads"], shape["seq"], shape["head_dim"]), dtype, device, gen, grad=True)
            for _ in range(2))
    v_base, v = _heads_view(shape, dtype, device, gen, grad=True)
    return q, k, v.unsqueeze(0)


def _sdpa_bwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    q, k, v = _sdpa_fwd_inputs(shape, dtype, device, gen)
    out = causal_sdpa(q, k, v)
    return _randn(out.shape, dtype, device, gen), (q, k, v), out


def sdpa_flops(s: Shape) -> float:
    """Forward FLOPs as `torch.utils.flop_counter` counts them: scores and weighted values, ``4 b h s^2 d``."""
    return 4.0 * s["batch_heads"] * s["seq"] ** 2 * s["head_dim"]


register_op(TimedOp(
    name="sdpa_fwd",
    shape_columns=("batch_heads", "seq", "head_dim"),
    flops=sdpa_flops,
    # read q, k, v; write out and the fp32 log-sum-exp per row (the flash backward's input)
    bytes_moved=lambda s, dt: float(4 * dtype_bytes(dt) * _bsd(s) + 4 * s["batch_heads"] * s["seq"]),
    grid=ATTN_GRID_DEFAULT, quick_grid=ATTN_GRID,
    make_inputs=_sdpa_fwd_inputs,
    impls={"torch": causal_sdpa},
    dtypes=FLOAT_DTYPES,
))

register_op(TimedOp(
    name="sdpa_bwd",
    shape_columns=("batch_heads", "seq", "head_dim"),
    flops=lambda s: 2.0 * sdpa_flops(s),
    # read q, k, v, out, grad_out and the log-sum-exp; write dq, dk, dv
    bytes_moved=lambda s, dt: float(8 * dtype_bytes(dt) * _bsd(s) + 4 * s["batch_heads"] * s["seq"]),
    grid=ATTN_GRID_DEFAULT, quick_grid=ATTN_GRID,
    make_inputs=_sdpa_bwd_inputs,
    impls={"torch": _backward},
    dtypes=FLOAT_DTYPES,
))


# ---------------------------------------------------------------------------------------------------------------
# element-wise: residual add (and gradient accumulation), SwiGLU activation silu(gate) * up


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return F.silu(gate) * up


def _pair_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    return tuple(_randn((shape["numel"],), dtype, device, gen, grad=True) for _ in range(2))


def _swiglu_bwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    gate, up = _pair_inputs(shape, dtype, device, gen)
    out = swiglu(gate, up)
    return _randn(out.shape, dtype, device, gen), (gate, up), out


ELEMENTWISE_GRID = [{"numel": n} for n in _pow2(10, 22)]
ELEMENTWISE_GRID_DEFAULT = [{"numel": n} for n in _pow2(16, 30, 2)]

register_op(TimedOp(
    name="residual_add",
    shape_columns=("numel",),
    flops=lambda s: float(s["numel"]),
    bytes_moved=lambda s, dt: 3.0 * dtype_bytes(dt) * s["numel"],  # read a and b, write a + b
    grid=ELEMENTWISE_GRID_DEFAULT, quick_grid=ELEMENTWISE_GRID,
    make_inputs=_pair_inputs,
    impls={"torch": torch.add},
    dtypes=FLOAT_DTYPES,
))

register_op(TimedOp(
    name="swiglu_fwd",
    shape_columns=("numel",),
    flops=lambda s: 5.0 * s["numel"],  # silu(g) = g / (1 + exp(-g)): negate, exp, add, divide; times up
    bytes_moved=lambda s, dt: 3.0 * dtype_bytes(dt) * s["numel"],  # read gate, up; write out
    grid=ELEMENTWISE_GRID_DEFAULT, quick_grid=ELEMENTWISE_GRID,
    make_inputs=_pair_inputs,
    impls={"torch": swiglu},
    dtypes=FLOAT_DTYPES,
))

register_op(TimedOp(
    name="swiglu_bwd",
    shape_columns=("numel",),
    flops=lambda s: 10.0 * s["numel"],  # silu(g) again, d silu, two products
    bytes_moved=lambda s, dt: 5.0 * dtype_bytes(dt) * s["numel"],  # read grad_out, gate, up; write d gate, d up
    grid=ELEMENTWISE_GRID_DEFAULT, quick_grid=ELEMENTWISE_GRID,
    make_inputs=_swiglu_bwd_inputs,
    impls={"torch": _backward},
    dtypes=FLOAT_DTYPES,
))


# ---------------------------------------------------------------------------------------------------------------
# cross-entropy over (tokens, vocab) logits, mean over tokens


def _ce_fwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    logits = _randn((shape["tokens"], shape["vocab"]), dtype, device, gen, grad=True)
    targets = torch.randint(0, shape["vocab"], (shape["tokens"],), generator=device_generator(gen, device),
                            device=device)
    return logits, targets


def _ce_bwd_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    logits, targets = _ce_fwd_inputs(shape, dtype, device, gen)
    loss = F.cross_entropy(logits, targets)
    return torch.ones((), dtype=loss.dtype, device=device), (logits,), loss


CE_GRID = _product(tokens=[64, 128, 256, 512, 1024, 2048], vocab=[512, 1024, 2048, 4096])
CE_GRID_DEFAULT = _product(tokens=_pow2(8, 14, 2), vocab=[32000, 128256])

register_op(TimedOp(
    name="cross_entropy_fwd",
    shape_columns=("tokens", "vocab"),
    flops=lambda s: 4.0 * s["tokens"] * s["vocab"],  # max, subtract, exp, sum per logit
    # read logits and targets, write the log-softmax the backward uses (torch saves it) and the loss
    bytes_moved=lambda s, dt: float(INDEX_BYTES * s["tokens"] + dtype_bytes(dt) * (2 * s["tokens"] * s["vocab"] + 1)),
    grid=CE_GRID_DEFAULT, quick_grid=CE_GRID,
    make_inputs=_ce_fwd_inputs,
    impls={"torch": F.cross_entropy},
    dtypes=FLOAT_DTYPES,
))

register_op(TimedOp(
    name="cross_entropy_bwd",
    shape_columns=("tokens", "vocab"),
    flops=lambda s: 2.0 * s["tokens"] * s["vocab"],  # exp of the log-softmax, minus the one-hot, scaled
    # read the saved log-softmax and the targets, write the logits' gradient
    bytes_moved=lambda s, dt: float(INDEX_BYTES * s["tokens"] + 2 * dtype_bytes(dt) * s["tokens"] * s["vocab"]),
    grid=CE_GRID_DEFAULT, quick_grid=CE_GRID,
    make_inputs=_ce_bwd_inputs,
    impls={"torch": _backward},
    dtypes=FLOAT_DTYPES,
))


# ---------------------------------------------------------------------------------------------------------------
# optimizer steps over n_tensors tensors of tensor_numel parameters each (gradients set, states warm)


def _optimizer_inputs(cls, options: dict, shape: Shape, dtype: str, device: str, gen: torch.Generator):
    params = [_randn((shape["tensor_numel"],), dtype, device, gen, grad=True, scale=0.02)
              for _ in range(shape["n_tensors"])]
    for p in params:
        p.grad = _randn(p.shape, dtype, device, gen, scale=0.01)
    return ({"cls": cls, "options": options, "params": params, "built": {}},)


def _step(impl: str):
    """One ``step()`` of the ``impl`` variant. Its first call (untimed: the profiler's warm-up) builds the
    optimizer and creates its states, dropping any other variant's, so one set of states lives at a time."""

    def step(state: dict) -> None:
        built = state["built"]
        if impl not in built:
            built.clear()
            flags = {"foreach": impl == "foreach", "fused": True if impl == "fused" else None}
            built[impl] = state["cls"](state["params"], **state["options"], **flags)
        built[impl].step()

    return step


def _params(s: Shape) -> int:
    return s["tensor_numel"] * s["n_tensors"]


# per-tensor size is an axis of its own: a for-loop optimizer's time per element jumps where a tensor's four
# buffers stop fitting in a core's cache (on the 2-core dev VM, between 2^19 and 3 * 2^18 fp32 elements), so the
# quick grid steps by 2 and 1.5 near there; sizes from a norm weight (64) to an embedding (4M)
_TENSOR_SIZES = [64, 256, 1024, 4096, 16384, 65536, 131072, 196608, 262144, 393216, 524288, 786432, 1 << 20,
                 1 << 21, 1 << 22]
OPTIMIZER_GRID = _product(tensor_numel=_TENSOR_SIZES, n_tensors=[1, 4, 16])
# GPUs: LLaMA-60M..7B tensors (norm weights to a 7B embedding, 131M), at most 2^30 parameters per measurement
OPTIMIZER_GRID_DEFAULT = [s for s in _product(tensor_numel=[1 << e for e in (12, 16, 20, 22, 24, 25, 26, 27)],
                                              n_tensors=[1, 4, 16, 64, 256]) if _params(s) <= 1 << 30]

register_op(TimedOp(
    name="adamw_step",
    shape_columns=("tensor_numel", "n_tensors"),
    # decay 1, first moment (lerp) 3, second moment 4, denominator 3, update 3
    flops=lambda s: 14.0 * _params(s),
    # read param, grad, exp_avg, exp_avg_sq; write param, exp_avg, exp_avg_sq
    bytes_moved=lambda s, dt: 7.0 * dtype_bytes(dt) * _params(s),
    grid=OPTIMIZER_GRID_DEFAULT, quick_grid=OPTIMIZER_GRID,
    make_inputs=lambda *a: _optimizer_inputs(torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.01}, *a),
    impls={impl: _step(impl) for impl in OPTIMIZER_IMPLS},
    dtypes=FLOAT_DTYPES,
))

register_op(TimedOp(
    name="sgd_momentum_step",
    shape_columns=("tensor_numel", "n_tensors"),
    flops=lambda s: 4.0 * _params(s),  # buf = momentum * buf + grad; param -= lr * buf
    bytes_moved=lambda s, dt: 5.0 * dtype_bytes(dt) * _params(s),  # read param, grad, buf; write param, buf
    grid=OPTIMIZER_GRID_DEFAULT, quick_grid=OPTIMIZER_GRID,
    make_inputs=lambda *a: _optimizer_inputs(torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}, *a),
    impls={impl: _step(impl) for impl in OPTIMIZER_IMPLS},
    dtypes=FLOAT_DTYPES,
))
