"""One LLaMA training step as the list of ops it runs, each priced through the timing replay.

The list follows a real PyTorch step of the model of `harness.models.llama` (Touvron et al., arXiv 2302.13971;
``methods.models.gpt.TinyLlama`` with ``fused_qkv``), micro-batch ``B`` sequences of ``S`` tokens, ``T = B S``,
``h`` heads of ``hd`` dims:

* embed: gather ``(T, d)`` rows; backward: scatter-add into the ``(V, d)`` gradient.
* each block, forward: RMSNorm; q/k/v GEMMs (or one fused ``(T, 3d, d)``); rotary on q and k; causal attention
  (flash-style SDPA over ``(B h, S, hd)``, its own op); the heads merged back into ``(T, d)`` (a copy); o GEMM;
  residual add; RMSNorm; gate and up GEMMs; SwiGLU ``silu(gate) * up``; down GEMM; residual add.
* each block, backward, in reverse: per GEMM ``(m, n, k)`` an input gradient ``(m, k, n)`` and a weight gradient
  ``(n, k, m)`` (``nn.Linear``'s ``dW = dY^T X``); the backward op of every other op; and the adds autograd runs
  where a tensor feeds several ops (block input: norm + residual; mid-block residual: norm + residual; MLP input:
  gate + up; the attention input: q + k + v unless fused, where instead the three gradients are concatenated, a
  copy of ``3 T d``); the q and k gradients leave the rotary head-major and are copied back to token-major
  (v's leaves the attention in v's own strides).
* head: final RMSNorm, LM-head GEMM ``(T, V, d)``, cross-entropy over ``(T, V)``; backward of each.
* optimizer (after the gradients are reduced): one step of AdamW or SGD-momentum over every parameter, per group
  of equal-sized tensors (``forloop``: torch's CPU default; ``foreach``: its CUDA default; ``fused``).

Every op is one `TimingReplay.predict` (exact -> interpolated -> roofline, counted by source). A projection's
forward is ``linear_fwd`` on a CPU (timed as an ``nn.Linear`` call: module call and autograd recording included,
since nothing overlaps them there) and ``matmul`` on a GPU (`forward_gemm_op`). A pass also pays
``launches x dispatch_gap_us`` of the device (`harness.devices`; 0 where not measured): ``launches`` per op are
the aten kernels its torch code dispatches (counted on torch 2.13's CPU backend; a test recounts them). FLOPs and
bytes of every op come from its `kernels.ops.TimedOp` (exact counts; a test checks FLOPs against
`torch.utils.flop_counter`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from harness.models.llama import LlamaDims, block_params
from kernels.ops import load_all_ops

OptimizerName = Literal["adamw", "adamw_fused", "sgd_momentum", "none"]
OPTIMIZERS: tuple[str, ...] = ("adamw", "adamw_fused", "sgd_momentum", "none")

#: aten kernels one call dispatches (torch 2.13, CPU; views excluded). Optimizers: see `optimizer_launches`.
LAUNCHES: Mapping[str, int] = {
    "matmul": 1, "linear_fwd": 1, "copy": 1, "embedding_fwd": 1, "embedding_bwd": 1, "rmsnorm_fwd": 6, "rmsnorm_bwd": 14,
    "rotary_fwd": 7, "rotary_bwd": 10, "sdpa_fwd": 1, "sdpa_bwd": 1, "residual_add": 1, "swiglu_fwd": 2,
    "swiglu_bwd": 3, "cross_entropy_fwd": 2, "cross_entropy_bwd": 2,
}
#: optimizer kernels: (per tensor, per step) for each implementation
_OPTIMIZER_LAUNCHES: Mapping[str, Mapping[str, tuple[int, int]]] = {
    "adamw_step": {"forloop": (9, 0), "foreach": (0, 9), "fused": (0, 2)},
    "sgd_momentum_step": {"forloop": (3, 0), "foreach": (0, 3), "fused": (0, 1)},
}


def optimizer_launches(op: str, impl: str, n_tensors: int) -> int:
    per_tensor, per_step = _OPTIMIZER_LAUNCHES[op][impl]
    return per_tensor * n_tensors + per_step


@dataclass(frozen=True)
class OpCall:
    """``count`` identical calls of timed op ``op`` at ``shape`` (``label`` names them, e.g. ``q_proj.dgrad``)."""

    op: str
    shape: Mapping[str, int]
    label: str
    count: int = 1
    impl: str | None = None
    launches: int = 1

    def flops(self) -> float:
        return self.count * load_all_ops().get(self.op).flops(self.shape)

    def bytes_moved(self, dtype: str) -> float:
        return self.count * load_all_ops().get(self.op).bytes_moved(self.shape, dtype)


@dataclass(frozen=True)
class LayerOps:
    """One layer (``embed``, ``block.<i>``, ``head``): its parameters and the ops of its two passes."""

    name: str
    n_params: int
    forward: tuple[OpCall, ...]
    backward: tuple[OpCall, ...]


@dataclass(frozen=True)
class StepOps:
    """A whole step: layers in forward order, then the optimizer's ops."""

    layers: tuple[LayerOps, ...]
    optimizer: tuple[OpCall, ...] = ()

    def calls(self) -> list[OpCall]:
        return [c for layer in self.layers for c in (*layer.forward, *layer.backward)] + list(self.optimizer)


def _call(op: str, label: str, count: int = 1, impl: str | None = None, **shape: int) -> OpCall:
    return OpCall(op, shape, label, count, impl, LAUNCHES[op])


def forward_gemm_op(device: str) -> str:
    """The timed op of a projection's forward: ``linear_fwd`` on a CPU (an ``nn.Linear`` call with autograd
    recording: nothing overlaps that framework work there), ``matmul`` on a GPU (the same kernel; CUDA-event
    timing sees kernels only, and the matmul grid is the larger one)."""
    return "linear_fwd" if device == "cpu" else "matmul"


def _gemm(label: str, m: int, n: int, k: int, count: int = 1, *, forward_op: str = "matmul"
          ) -> tuple[OpCall, tuple[OpCall, OpCall]]:
    """A forward GEMM ``y = x W^T`` (``x`` m x k, ``W`` n x k, as ``nn.Linear``) and its backward pair: input
    gradient ``dy W`` (m, k, n) and weight gradient ``dy^T x`` (n, k, m)."""
    return (
        _call(forward_op, label, count, m=m, n=n, k=k),
        (_call("matmul", f"{label}.dgrad", count, m=m, n=k, k=n), _call("matmul", f"{label}.wgrad", count, m=n, n=k, k=m)),
    )


def _block(dims: LlamaDims, micro_batch: int, seq_len: int, fwd: str) -> tuple[tuple[OpCall, ...], tuple[OpCall, ...]]:
    d, f, hd = dims.d_model, dims.d_ff, dims.head_dim
    tokens, bh = micro_batch * seq_len, micro_batch * dims.n_heads
    attn = {"batch_heads": bh, "seq": seq_len, "head_dim": hd}
    if dims.fused_qkv:
        qkv, qkv_bwd = _gemm("qkv_proj", tokens, 3 * d, d, forward_op=fwd)
        qkv_fwd = [qkv]
        qkv_back = [_call("copy", "qkv.grad_concat", numel=3 * tokens * d), *qkv_bwd]
    else:
        qkv_fwd, qkv_back = [], []
        for name in ("q_proj", "k_proj", "v_proj"):
            forward, bwd = _gemm(name, tokens, d, d, forward_op=fwd)
            qkv_fwd.append(forward)
            qkv_back = [*bwd, *qkv_back]
        qkv_back.append(_call("residual_add", "attn_input.grad_accumulate", 2, numel=tokens * d))
    o, o_bwd = _gemm("o_proj", tokens, d, d, forward_op=fwd)
    gate, gate_bwd = _gemm("gate_proj", tokens, f, d, forward_op=fwd)
    up, up_bwd = _gemm("up_proj", tokens, f, d, forward_op=fwd)
    down, down_bwd = _gemm("down_proj", tokens, d, f, forward_op=fwd)
    forward = (
        _call("rmsnorm_fwd", "attn_norm", rows=tokens, dim=d),
        *qkv_fwd,
        _call("rotary_fwd", "rotary_qk", 2, **attn),
        _call("sdpa_fwd", "attention", **attn),
        _call("copy", "merge_heads", numel=tokens * d),
        o,
        _call("residual_add", "attn_residual", numel=tokens * d),
        _call("rmsnorm_fwd", "mlp_norm", rows=tokens, dim=d),
        gate, up,
        _call("swiglu_fwd", "swiglu", numel=tokens * f),
        down,
        _call("residual_add", "mlp_residual", numel=tokens * d),
    )
    backward = (
        *down_bwd,
        _call("swiglu_bwd", "swiglu.bwd", numel=tokens * f),
        *up_bwd, *gate_bwd,
        _call("residual_add", "mlp_input.grad_accumulate", numel=tokens * d),
        _call("rmsnorm_bwd", "mlp_norm.bwd", rows=tokens, dim=d),
        _call("residual_add", "mid_residual.grad_accumulate", numel=tokens * d),
        *o_bwd,
        _call("sdpa_bwd", "attention.bwd", **attn),
        _call("rotary_bwd", "rotary_qk.bwd", 2, **attn),
        _call("copy", "qk.grad_to_tokens", 2, numel=tokens * d),
        *qkv_back,
        _call("rmsnorm_bwd", "attn_norm.bwd", rows=tokens, dim=d),
        _call("residual_add", "block_input.grad_accumulate", numel=tokens * d),
    )
    return forward, backward


def layer_ops(dims: LlamaDims, micro_batch: int, seq_len: int, device: str = "cpu") -> list[LayerOps]:
    """Every layer's ops in forward order (``embed``, ``block.0`` ... ``block.<L-1>``, ``head``), one micro-batch,
    on ``device`` (``cpu`` or a GPU name; it picks `forward_gemm_op`)."""
    if micro_batch < 1 or seq_len < 1:
        raise ValueError(f"micro_batch and seq_len must be >= 1, got {micro_batch} and {seq_len}")
    d, v = dims.d_model, dims.vocab_size
    tokens = micro_batch * seq_len
    embed = {"tokens": tokens, "d_model": d, "vocab": v}
    fwd = forward_gemm_op(device)
    block_fwd, block_bwd = _block(dims, micro_batch, seq_len, fwd)
    head, head_bwd = _gemm("lm_head", tokens, v, d, forward_op=fwd)
    layers = [LayerOps("embed", v * d, (_call("embedding_fwd", "embed", **embed),),
                       (_call("embedding_bwd", "embed.bwd", **embed),))]
    layers += [LayerOps(f"block.{i}", block_params(dims), block_fwd, block_bwd) for i in range(dims.n_layers)]
    layers.append(LayerOps(
        "head", v * d + d,
        (_call("rmsnorm_fwd", "final_norm", rows=tokens, dim=d), head,
         _call("cross_entropy_fwd", "loss", tokens=tokens, vocab=v)),
        (_call("cross_entropy_bwd", "loss.bwd", tokens=tokens, vocab=v), *head_bwd,
         _call("rmsnorm_bwd", "final_norm.bwd", rows=tokens, dim=d)),
    ))
    return layers


def parameter_sizes(dims: LlamaDims) -> list[int]:
    """Elements of every parameter tensor: embedding; per block the attention projections (q, k, v or one fused
    q/k/v; o), gate, up, down and two norm weights; the final norm; the LM head."""
    d, f, v = dims.d_model, dims.d_ff, dims.vocab_size
    attention = [3 * d * d] if dims.fused_qkv else [d * d] * 3
    block = [*attention, d * d, d * f, d * f, f * d, d, d]
    return [v * d, *block * dims.n_layers, d, v * d]


def parameter_tensors(dims: LlamaDims) -> int:
    return len(parameter_sizes(dims))


def default_optimizer_impl(device: str) -> str:
    """What ``torch.optim`` runs when neither ``foreach`` nor ``fused`` is set: for-loop on CPU, foreach on GPU."""
    return "forloop" if device == "cpu" else "foreach"


def optimizer_ops(dims: LlamaDims, optimizer: str, device: str) -> tuple[OpCall, ...]:
    """The optimizer step's ops: none, or one step over every parameter (``device`` picks torch's default impl).

    Priced per group of equal-sized tensors (one call of ``n_tensors`` tensors of ``tensor_numel`` each): a
    for-loop step's time per element depends on the size of each tensor (cache), not only on the total. The
    per-step overhead is then counted once per group (4 groups for LLaMA), not once.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    if optimizer == "none":
        return ()
    op = "sgd_momentum_step" if optimizer == "sgd_momentum" else "adamw_step"
    impl = "fused" if optimizer == "adamw_fused" else default_optimizer_impl(device)
    groups = Counter(parameter_sizes(dims))
    return tuple(OpCall(op, {"tensor_numel": size, "n_tensors": n}, f"{optimizer}.{size}", 1, impl,
                        optimizer_launches(op, impl, n)) for size, n in sorted(groups.items()))


def step_ops(dims: LlamaDims, micro_batch: int, seq_len: int, *, optimizer: str = "adamw",
             device: str = "cpu") -> StepOps:
    """The whole step: `layer_ops` plus `optimizer_ops`."""
    return StepOps(tuple(layer_ops(dims, micro_batch, seq_len, device)), optimizer_ops(dims, optimizer, device))


#: the optimizer states of `OPTIMIZERS` as `methods.memory.analytic` names them
_STATE_OPTIMIZER = {"adamw": "adamw", "adamw_fused": "adamw", "sgd_momentum": "sgd_momentum", "none": "sgd"}


def step_touched_bytes(dims: LlamaDims, micro_batch: int, seq_len: int, *, optimizer: str = "adamw",
                       dtype: str = "float32") -> int:
    """Bytes one training step cycles through between two uses of the same data: parameters, gradients and
    optimizer states (`methods.memory.analytic.static_bytes`) plus the activations autograd saves for backward
    (`methods.memory.analytic.activation_bytes_per_token` x tokens). Every weight is read in the forward, the
    backward and the optimizer step, every saved activation written in the forward and read in the backward, so
    between two uses of one tensor the step writes about this much: our model of the cache state a CPU step's
    ops see (`harness.timing.cache_state`)."""
    from methods.memory.analytic import Shape, Technique, activation_bytes_per_token, static_bytes

    shape = Shape(d_model=dims.d_model, d_ff=dims.d_ff, n_heads=dims.n_heads, n_layers=dims.n_layers,
                  vocab_size=dims.vocab_size)
    static = static_bytes(shape, dtype=dtype, optimizer=_STATE_OPTIMIZER[optimizer])
    saved = sum(activation_bytes_per_token(shape, Technique(), dtype).values()) * micro_batch * seq_len
    return static.total + saved


# ---------------------------------------------------------------------------------------------------------------
# pricing


@dataclass(frozen=True)
class PassTime:
    """Predicted time of a list of calls: op time plus launches x dispatch gap; op time per op and per source
    (``exact`` / ``interpolated`` / ``roofline``) in ms."""

    time_ms: float
    ops_ms: float
    n_launches: int
    by_op_ms: Mapping[str, float] = field(default_factory=dict)
    by_source_ms: Mapping[str, float] = field(default_factory=dict)


def dispatch_gap_us(replay) -> float:
    """The device's measured gap between kernels (0.0 where the device does not know it)."""
    return float(getattr(replay.device, "dispatch_gap_us", 0.0) or 0.0)


def price(calls: Iterable[OpCall], replay, dtype: str) -> PassTime:
    """Sum of ``count x replay.predict(op, shape)`` over ``calls`` plus ``launches x dispatch gap``."""
    ops_ms, launches = 0.0, 0
    by_op: dict[str, float] = {}
    by_source: dict[str, float] = {}
    for call in calls:
        prediction = replay.predict(call.op, impl=call.impl, dtype=dtype, **call.shape)
        t = call.count * prediction.time_ms
        ops_ms += t
        by_op[call.op] = by_op.get(call.op, 0.0) + t
        by_source[prediction.source] = by_source.get(prediction.source, 0.0) + t
        launches += call.count * call.launches
    return PassTime(ops_ms + launches * dispatch_gap_us(replay) * 1e-3, ops_ms, launches, by_op, by_source)


def step_flops(calls: Sequence[OpCall], ops: Iterable[str] | None = None) -> float:
    """FLOPs of ``calls`` (only those of the ops named, when given)."""
    keep = None if ops is None else set(ops)
    return sum(c.flops() for c in calls if keep is None or c.op in keep)
