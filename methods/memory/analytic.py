"""Analytic training memory of a LLaMA model: parameters, gradients, optimizer states, and activations per token.

Follows the memory profile of MoC (Wu, He, Wang, Yuan, arXiv 2511.09323): with FlashAttention (Dao et al., arXiv
2205.14135) attention keeps only q, k, v, o and the log-sum-exp, so what a block keeps for backward is linear in the
tokens. The per-module counts are those of `methods.models.llama_family` (its module names are the keys here), and
`methods.memory.profiler` must measure exactly these bytes (``tests/methods/memory``). Per token, with d = d_model,
E = d_ff, H = heads, K = MoC channels, b = bytes per value of the compute dtype, 4-byte fp32 statistics (8 bytes in
fp64 models):

==========================  ==========================================  ====================================
module                      keeps                                       bytes per token
==========================  ==========================================  ====================================
attn_norm / mlp_norm        input, fp32 reciprocal RMS                  d b + 4
attn.q_proj                 normed input (k_proj, v_proj share it)      d b
attn                        q, k, v, o, fp32 log-sum-exp per head       4 d b + 4 H
attn.o_proj                 its input is a view of o                    0
mlp.gate_proj (dense)       normed input (up_proj shares it)            d b
mlp (dense)                 g, SiLU(g), u                               3 E b
mlp.down_proj (dense)       SiLU(g) * u                                 E b
mlp (MoC)                   normed input, g_I, u_I, indices             d b + 2 K b + K i  (i = 2: int16)
block, checkpointed         its input only                              d b
attention half checkpointed input of the attention half; MLP half as is d b + (mlp_norm + MLP)
embed_tokens                int64 token ids                             8
norm, lm_head               final norm as above; normed input           d b + 4; d b
loss_fn                     logits, fp32 log-sum-exp, int64 targets     V b + 4 + 8
==========================  ==========================================  ====================================

Peak of a step (`step_peak_bytes`, our model, checked against the CPU allocator record within 25% on small
models in ``tests/methods/memory``): parameters + optimizer states + the larger of (saved activations + backward
working set + the head's gradient) and (all gradients).

Static memory: parameters (embedding, blocks 4 d^2 + 3 d E + 2 d each, final norm, untied head) in the parameter
dtype; gradients of the trainable ones in the same dtype; optimizer states as ``torch.optim`` keeps them, in the
parameter dtype: AdamW ``exp_avg`` + ``exp_avg_sq`` per trainable parameter plus one fp32 ``step`` scalar per
trainable tensor, SGD with momentum one ``momentum_buffer``, plain SGD none. Methods that train a subset
(LoRA, GaLore, MISA, LISA, BAdam) enter only through the number of trainable parameters and tensors (a placeholder
for their own state, which this module does not model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Optimizer = Literal["adamw", "sgd_momentum", "sgd"]
DTYPE_BYTES = {"float64": 8, "float32": 4, "bfloat16": 2, "float16": 2}
TOKEN_ID_BYTES = 8  # int64 token ids / targets
STAT_BYTES = 4  # fp32 reciprocal RMS / log-sum-exp per row (fp64 for fp64 models)


def stat_bytes(b: int) -> int:
    """Bytes of one per-row statistic for values of ``b`` bytes: fp32, or fp64 in fp64 models."""
    return max(b, STAT_BYTES)
#: state values per trainable parameter (besides AdamW's per-tensor step)
STATES_PER_PARAM = {"adamw": 2, "sgd_momentum": 1, "sgd": 0}


@dataclass(frozen=True)
class Shape:
    """Model dimensions (the GaLore LLaMA presets are in ``harness.models.llama``)."""

    d_model: int
    d_ff: int
    n_heads: int
    n_layers: int
    vocab_size: int = 32000


@dataclass(frozen=True)
class Technique:
    """FFN (dense or MoC with ``moc_k`` channels) and gradient checkpointing (none, block, attention half)."""

    ffn: Literal["dense", "moc"] = "dense"
    moc_k: int | None = None
    checkpointing: Literal["none", "block", "attention"] = "none"


def index_bytes(d_ff: int) -> int:
    """Bytes of one stored MoC channel index (int16 up to 32768 channels, else int32; `kernels.moc`)."""
    return 2 if d_ff <= 32768 else 4


def mlp_bytes_per_token(shape: Shape, technique: Technique, b: int) -> dict[str, int]:
    """Saved bytes per token of the MLP half's modules (relative names), norm included."""
    d, e = shape.d_model, shape.d_ff
    out = {"mlp_norm": d * b + stat_bytes(b)}
    if technique.ffn == "moc":
        k = technique.moc_k
        if k is None or not 1 <= k <= e:
            raise ValueError(f"MoC needs moc_k in 1..d_ff={e}, got {k}")
        out["mlp"] = d * b + 2 * k * b + k * index_bytes(e)
    else:
        out.update({"mlp.gate_proj": d * b, "mlp": 3 * e * b, "mlp.down_proj": e * b})
    return out


def attention_bytes_per_token(shape: Shape, b: int) -> dict[str, int]:
    """Saved bytes per token of the attention half's modules (relative names), norm included."""
    d = shape.d_model
    return {"attn_norm": d * b + stat_bytes(b), "attn.q_proj": d * b, "attn": 4 * d * b + shape.n_heads * stat_bytes(b)}


def block_bytes_per_token(shape: Shape, technique: Technique, b: int) -> dict[str, int]:
    """Saved bytes per token of one block, by module name relative to the block (``""``: the block itself)."""
    if technique.checkpointing == "block":
        return {"": shape.d_model * b}
    mlp = mlp_bytes_per_token(shape, technique, b)
    if technique.checkpointing == "attention":
        return {"": shape.d_model * b, **mlp}
    return {**attention_bytes_per_token(shape, b), **mlp}


def activation_bytes_per_token(shape: Shape, technique: Technique, dtype: str) -> dict[str, int]:
    """Saved bytes per token of the whole model by module name (``layers.<i>.<module>``, as the profiler names
    them)."""
    b = DTYPE_BYTES[dtype]
    d = shape.d_model
    out = {"embed_tokens": TOKEN_ID_BYTES}
    block = block_bytes_per_token(shape, technique, b)
    for i in range(shape.n_layers):
        out.update({f"layers.{i}" + (f".{name}" if name else ""): v for name, v in block.items()})
    out.update({"norm": d * b + stat_bytes(b), "lm_head": d * b,
                "loss_fn": shape.vocab_size * b + stat_bytes(b) + TOKEN_ID_BYTES})
    return out


def module_group(name: str) -> str:
    """``attention`` / ``ffn`` / ``other`` for a module name (norms go with their sub-layer; a checkpointed
    block's input, embedding, final norm, head and loss are ``other``)."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "layers":
        if parts[2] in ("attn", "attn_norm"):
            return "attention"
        if parts[2] in ("mlp", "mlp_norm"):
            return "ffn"
    return "other"


def grouped(per_module: dict[str, int]) -> dict[str, int]:
    out = {"attention": 0, "ffn": 0, "other": 0}
    for name, value in per_module.items():
        out[module_group(name)] += value
    return out


def parameter_count(shape: Shape) -> int:
    """Embedding + blocks (4 d^2 + 3 d E + 2 d) + final norm + untied head."""
    d, e, v = shape.d_model, shape.d_ff, shape.vocab_size
    return 2 * v * d + shape.n_layers * (4 * d * d + 3 * d * e + 2 * d) + d


def parameter_tensors(shape: Shape) -> int:
    """Parameter tensors: embedding, 9 per block (7 projections, 2 norms), final norm, head."""
    return 3 + 9 * shape.n_layers


@dataclass(frozen=True)
class StaticMemory:
    parameters: int
    gradients: int
    optimizer_states: int

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer_states


def static_bytes(
    shape: Shape,
    *,
    dtype: str,
    optimizer: Optimizer,
    trainable_params: int | None = None,
    trainable_tensors: int | None = None,
) -> StaticMemory:
    """Parameters, gradients and optimizer states in bytes (all in the parameter dtype, as torch.optim keeps
    them). ``trainable_*`` default to every parameter; fewer stand for methods that train a subset."""
    if optimizer not in STATES_PER_PARAM:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: {', '.join(STATES_PER_PARAM)}")
    b = DTYPE_BYTES[dtype]
    total = parameter_count(shape)
    trainable = total if trainable_params is None else trainable_params
    tensors = (parameter_tensors(shape) if trainable else 0) if trainable_tensors is None else trainable_tensors
    if not 0 <= trainable <= total:
        raise ValueError(f"trainable_params must be in 0..{total}, got {trainable}")
    states = STATES_PER_PARAM[optimizer] * trainable * b + (STAT_BYTES * tensors if optimizer == "adamw" else 0)
    return StaticMemory(parameters=total * b, gradients=trainable * b, optimizer_states=states)


def backward_working_set_bytes_per_token(shape: Shape, technique: Technique, dtype: str) -> int:
    """Our model of what backward holds per token besides the saved activations: the logits' gradient (one value
    per vocabulary entry) plus, under checkpointing, what one recomputed region keeps while it is differentiated
    (a whole block for ``block``, the attention half for ``attention``)."""
    b = DTYPE_BYTES[dtype]
    recompute = {
        "block": sum(block_bytes_per_token(shape, Technique(technique.ffn, technique.moc_k), b).values()),
        "attention": sum(attention_bytes_per_token(shape, b).values()),
        "none": 0,
    }[technique.checkpointing]
    return recompute + shape.vocab_size * b


def step_peak_bytes(shape: Shape, technique: Technique, dtype: str, tokens: int, static: StaticMemory) -> int:
    """Modelled peak of one training step: parameters and optimizer states live throughout; gradients are allocated
    during backward while activations are freed, so the rest peaks either at the start of backward (all saved
    activations, the working set and the LM head's gradient) or at its end (every gradient)."""
    head_grad = min(shape.vocab_size * shape.d_model * DTYPE_BYTES[dtype], static.gradients)
    per_token = sum(activation_bytes_per_token(shape, technique, dtype).values()) + \
        backward_working_set_bytes_per_token(shape, technique, dtype)
    return static.parameters + static.optimizer_states + max(tokens * per_token + head_grad, static.gradients)
