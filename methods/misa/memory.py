"""Memory of MISA and its baselines: measured on a small model, and a stated formula for 7B/8B shapes.

Measured (`measure_finetuner`): after real steps, the bytes of the optimizer's state tensors (what
``optimizer.state`` holds, largest value seen right after a step), the bytes of extra weight copies (BAdam's fp32
masters), the gradient bytes after backward, and from `methods.memory.profiler.profile_step` the bytes autograd
saved for backward and the allocator peak of forward + backward above what was resident before.

Modelled (`modelled_bytes`, the static part of MISA's memory analysis as the research card's A9 table writes it,
our formula): bf16 weights ``2 P``; for the ``P_t`` trainable parameters bf16 gradients ``2 P_t``, fp32 master
copies ``4 P_t`` and fp32 AdamW moments ``8 P_t``. ``P_t`` per method: AdamW ``P``; MISA ``delta * P`` (the
budget; the greedy fill lands within one module of it); LISA one layer + embeddings + final norm + head; BAdam one
layer; LoRA r = 8 on the 7 projections of every layer ``r (d_in + d_out)`` each.

Activations (`activation_bytes_per_token`, `peak_bytes`; our model, bf16, FlashAttention-style attention, peft's
fp32 LoRA adapters; exact against the saved-tensor profiler for full training, LISA, BAdam and LoRA): a frozen
linear keeps no input, every layer the gradient passes through keeps its norms', attention's and SwiGLU's tensors;
per method the worst active set over a run (see the function's docstring).

Example::

    >>> p = parameter_count(LLAMA2_7B); round(p / 1e9, 2)
    6.74
    >>> round(modelled_bytes("misa", LLAMA2_7B, delta=0.03).optimizer / 2**30, 2)  # fp32 masters + AdamW moments
    2.26
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from methods.memory.profiler import profile_step
from methods.misa.baselines import Finetuner


@dataclass(frozen=True)
class Dims:
    """LLaMA dimensions; ``kv_dim`` = key/value projection width (d_model without grouped-query attention)."""

    d_model: int
    d_ff: int
    n_layers: int
    vocab_size: int
    kv_dim: int


# Touvron et al., "Llama 2", arXiv 2307.09288, Table 1 and the released config (d 4096, d_ff 11008, 32 layers).
LLAMA2_7B = Dims(d_model=4096, d_ff=11008, n_layers=32, vocab_size=32000, kv_dim=4096)
# Meta Llama 3 8B config (Grattafiori et al., arXiv 2407.21783, Table 3): 8 KV heads of 128 -> kv_dim 1024.
LLAMA3_8B = Dims(d_model=4096, d_ff=14336, n_layers=32, vocab_size=128256, kv_dim=1024)


def projections(dims: Dims) -> list[tuple[int, int]]:
    """(d_in, d_out) of q, k, v, o, gate, up, down in one layer."""
    d, f, kv = dims.d_model, dims.d_ff, dims.kv_dim
    return [(d, d), (d, kv), (d, kv), (d, d), (d, f), (d, f), (f, d)]


def layer_params(dims: Dims) -> int:
    return sum(i * o for i, o in projections(dims)) + 2 * dims.d_model


def parameter_count(dims: Dims) -> int:
    """Embedding + layers (projections + 2 norms) + final norm + untied head."""
    return 2 * dims.vocab_size * dims.d_model + dims.n_layers * layer_params(dims) + dims.d_model


def trainable_count(method: str, dims: Dims, delta: float = 0.03, lora_rank: int = 8) -> int:
    total = parameter_count(dims)
    counts = {
        "adamw": total,
        "misa": int(delta * total),
        "lisa": layer_params(dims) + 2 * dims.vocab_size * dims.d_model + dims.d_model,
        "badam": layer_params(dims),
        "lora": dims.n_layers * sum(lora_rank * (i + o) for i, o in projections(dims)),
    }
    if method not in counts:
        raise ValueError(f"no memory formula for {method!r}; known: {', '.join(counts)}")
    return counts[method]


@dataclass(frozen=True)
class StaticBytes:
    weights: int
    gradients: int
    optimizer: int  # fp32 masters + AdamW moments

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer


def modelled_bytes(method: str, dims: Dims, delta: float = 0.03) -> StaticBytes:
    p, pt = parameter_count(dims), trainable_count(method, dims, delta)
    return StaticBytes(weights=2 * p, gradients=2 * pt, optimizer=(4 + 8) * pt)


@dataclass(frozen=True)
class MeasuredMemory:
    method: str
    trainable_params: int
    gradient_bytes: int
    state_bytes: int
    master_bytes: int
    saved_bytes: int
    step_peak_bytes: int


def _grad_bytes(model: torch.nn.Module) -> int:
    return sum(p.grad.untyped_storage().nbytes() for p in model.parameters() if p.grad is not None)


def measure_finetuner(ft: Finetuner, loss_fn: Callable[[], torch.Tensor], steps: int = 3) -> MeasuredMemory:
    """Run ``steps`` steps of ``ft`` on ``loss_fn()``; the last one under the saved-tensor profiler."""
    state = grads = master = trainable = 0
    prof = None
    for i in range(steps):
        trainable = ft.trainable_params()
        if i == steps - 1:
            prof = profile_step(ft.model, loss_fn)
        else:
            loss_fn().backward()
        grads = max(grads, _grad_bytes(ft.model))
        ft.optimizer.step()
        state = max(state, ft.state_bytes(), getattr(getattr(ft.optimizer, "opt", None), "peak_state_bytes", 0))
        master = max(master, ft.master_bytes())
        ft.optimizer.zero_grad(set_to_none=True)
    assert prof is not None and prof.peak_bytes is not None
    return MeasuredMemory(ft.name, trainable, grads, state, master, prof.saved_bytes, prof.peak_bytes)


# ---------------------------------------------------------------------------------------------------- activations
# Our per-token model of what a step keeps for backward when only some weights train (bf16 values, FlashAttention-
# style attention; the per-module counts of `methods.memory.analytic`). A frozen linear needs no input for its weight
# gradient; the norms, attention and SwiGLU keep their tensors in every layer the gradient passes through.
BF16 = 2
#: peft keeps LoRA adapters in fp32 on a bf16 model (``LoraConfig.autocast_adapter_dtype``, default True) and casts
#: each adapter's input to fp32
ADAPTER = 4
#: bytes per value a training-mode dropout keeps for backward: CUDA's fused dropout a bool mask; on a CPU torch's
#: composite dropout keeps the scaled noise in the input's dtype (fp32 in peft's adapters: pass 4)
DROPOUT_MASK = 1


def _layer_nonlinear(dims: Dims, heads: int) -> int:
    """Per token and layer: two RMSNorm inputs + fp32 rstd, q, k, v, o + fp32 log-sum-exp, SwiGLU's g, SiLU(g), u."""
    d, e, kv = dims.d_model, dims.d_ff, dims.kv_dim
    return 2 * (d * BF16 + 4) + (2 * d + 2 * kv) * BF16 + 4 * heads + 3 * e * BF16


def _layer_inputs(dims: Dims) -> int:
    """Per token and layer, the inputs only weight gradients need: q/k/v's input, gate/up's input, down's input
    (o_proj's input is o, kept by attention anyway)."""
    return (2 * dims.d_model + dims.d_ff) * BF16


def _misa_inputs_upper_bound(dims: Dims, delta: float) -> int:
    """Per token, an upper bound on the input bytes an active set of at most ``delta`` of the parameters keeps: each
    module counted with its own input (no sharing), the knapsack's fractional relaxation (modules taken by input
    bytes per parameter, the last one in part)."""
    d, e, kv = dims.d_model, dims.d_ff, dims.kv_dim
    # (parameters, input values per token) of k, v, q, gate, up, down, o
    kinds = [(d * kv, d), (d * kv, d), (d * d, d), (d * e, d), (d * e, d), (e * d, e), (d * d, 0)]
    kinds.sort(key=lambda k: k[1] / k[0], reverse=True)
    budget, kept = delta * parameter_count(dims), 0
    for size, inp in kinds:
        take = min(float(dims.n_layers), budget / size)
        kept += take * inp * BF16
        budget -= take * size
    return int(np.ceil(kept))


def activation_bytes_per_token(method: str, dims: Dims, delta: float = 0.03, lora_rank: int = 8,
                               heads: int = 32, lora_dropout: bool = True, dropout_mask_bytes: int = DROPOUT_MASK
                               ) -> int:
    """Bytes kept for backward per token at the step's peak (the worst active set for MISA, LISA and BAdam).

    Full AdamW: every layer's tensors and linear inputs, the head's input. LoRA through peft on all 7 projections
    (every base weight, norm and the embedding frozen): per adapter the fp32 copy of its input and its fp32 rank-r
    activation and, with dropout (peft's default in the MISA scripts, 0.05), the dropout's mask
    (``dropout_mask_bytes`` per value); in layer 0 the attention norm keeps nothing and the q/k/v dropouts no mask
    (no gradient is needed below them), and no token ids are kept. LISA: gradient reaches layer 0 (embeddings
    train), one layer's inputs, the head's input. BAdam (blocks: the layers): the active layer can be layer 0, one
    layer's inputs, no token ids. MISA: layer 0 can hold an active module, the inputs of the worst active set
    (`_misa_inputs_upper_bound`). All: the final norm, the logits and their fp32 log-sum-exp and the int64
    targets; full training and LISA also the int64 token ids (MISA's bound counts them too).
    """
    d, e, v, n = dims.d_model, dims.d_ff, dims.vocab_size, dims.n_layers
    nonlin, inputs = _layer_nonlinear(dims, heads), _layer_inputs(dims)
    tail = d * BF16 + 4 + v * BF16 + 4 + 8  # final norm, logits + lse, int64 targets
    token_ids = 8  # int64, kept by the embedding when it trains (full, LISA); counted in MISA's upper bound
    head_input = d * BF16
    if method == "adamw":
        return n * (nonlin + inputs) + head_input + tail + token_ids
    if method == "lora":
        adapter_in = 6 * d + e  # q, k, v, o, gate, up read d values, down reads d_ff
        mask = dropout_mask_bytes if lora_dropout else 0
        per_layer = nonlin + adapter_in * (ADAPTER + mask) + 7 * lora_rank * ADAPTER
        layer0 = (d * BF16 + 4) + 3 * d * mask  # its attention norm's input and rstd, its q/k/v dropout masks
        return n * per_layer - layer0 + tail
    if method == "lisa":
        return n * nonlin + inputs + head_input + tail + token_ids
    if method == "badam":
        return n * nonlin + inputs + tail  # its blocks are the layers: the frozen embedding keeps no token ids
    if method == "misa":
        return n * nonlin + _misa_inputs_upper_bound(dims, delta) + tail + token_ids  # an upper bound
    raise ValueError(f"no activation model for {method!r}; known: adamw, lora, lisa, badam, misa")


def peak_bytes(method: str, dims: Dims, tokens: int, delta: float = 0.03, lora_rank: int = 8) -> int:
    """Static bytes (`modelled_bytes`) + activations for ``tokens`` tokens (micro-batch x sequence length)."""
    static = modelled_bytes(method, dims, delta)
    return static.total + tokens * activation_bytes_per_token(method, dims, delta, lora_rank)
