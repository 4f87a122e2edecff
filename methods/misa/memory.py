"""Memory of MISA and its baselines: measured on a small model, and a stated formula for 7B/8B shapes.

Measured (`measure_finetuner`): after real steps, the bytes of the optimizer's state tensors (what
``optimizer.state`` holds, largest value seen right after a step), the bytes of extra weight copies (BAdam's fp32
masters), the gradient bytes after backward, and from `methods.memory.profiler.profile_step` the bytes autograd
saved for backward and the allocator peak of forward + backward above what was resident before.

Modelled (`modelled_bytes`, the static part of MISA's memory analysis as the research card's A9 table writes it,
our formula): bf16 weights ``2 P``; for the ``P_t`` trainable parameters bf16 gradients ``2 P_t``, fp32 master
copies ``4 P_t`` and fp32 AdamW moments ``8 P_t``. ``P_t`` per method: AdamW ``P``; MISA ``delta * P`` (the
budget; the greedy fill lands within one module of it); LISA one layer + embeddings + final norm + head; BAdam one
layer; LoRA r = 8 on the 7 projections of every layer ``r (d_in + d_out)`` each. Activations are left out.

Example::

    >>> p = parameter_count(LLAMA2_7B); round(p / 1e9, 2)
    6.74
    >>> round(modelled_bytes("misa", LLAMA2_7B, delta=0.03).optimizer / 2**30, 2)  # fp32 masters + AdamW moments
    2.26
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
