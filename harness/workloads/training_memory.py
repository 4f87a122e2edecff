"""Scenario kind ``training_memory``: peak training memory per device of a LLaMA-shaped model vs model size,
micro-batch, sequence length and technique, against a device capacity: does it fit, and the largest micro-batch
that does. Follows the memory profile of MoC (Wu, He, Wang, Yuan, arXiv 2511.09323).

One device holds the whole model (no sharding). Static memory and saved activations come from
`methods.memory.analytic` (parameters, gradients and optimizer states in the scenario dtype, as ``torch.optim``
keeps them; activations per token per module with FlashAttention-style attention), which the saved-tensor profiler
matches exactly (``tests/methods/memory``). The peak is `methods.memory.analytic.step_peak_bytes` (our model:
parameters + optimizer states + the larger of saved activations + backward working set + the head's gradient, and
all gradients; within 25% of the CPU allocator record on small models). Subset-training methods (LoRA, GaLore,
MISA, LISA, BAdam) enter only as ``trainable_fraction`` of the parameters having gradients and optimizer states: a
placeholder.

``measure: true`` also builds one real block at the model's widths on this CPU and measures what it keeps for
backward with the profiler over ``measure_tokens`` tokens (columns ``measured_block_bytes_per_token`` and
``analytic_block_bytes_per_token``).

Example scenario: ``scenarios/moc/memory_techniques.yaml``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.models.llama import LLAMA_PRESETS, LlamaDims, LlamaModel, check_rotary_heads, resolve_model
from harness.workloads.base import RunContext, RunOutput, register_workload
from methods.memory.analytic import (
    DTYPE_BYTES,
    Shape,
    StaticMemory,
    Technique,
    activation_bytes_per_token,
    backward_working_set_bytes_per_token,
    block_bytes_per_token,
    grouped,
    parameter_count,
    parameter_tensors,
    static_bytes,
    step_peak_bytes,
)

GIB = 1 << 30
#: the measured block is built in fp32 on this CPU: 2**30 parameters (4 GiB) is 5x LLaMA-7B's 202M-parameter block
MAX_MEASURED_BLOCK_PARAMS = 1 << 30
#: and its forward's saved tensors under 4 GiB (LLaMA-7B's block keeps 150 kB a token in bf16: 27,900 tokens)
MAX_MEASURED_ACTIVATION_BYTES = 4 * GIB


class TrainingMemoryWorkload(Strict):
    model: LlamaModel = Field(
        "llama-1b", description=f"preset ({', '.join(LLAMA_PRESETS)}) or explicit dims {{d_model, d_ff, ...}}"
    )
    micro_batch: PositiveInt = Field(1, le=1 << 20, description="sequences per device per micro-step")
    seq_len: PositiveInt = Field(256, le=1 << 22, description="tokens per sequence")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "bfloat16", description="parameter, gradient, optimizer-state and activation dtype"
    )
    ffn: Literal["dense", "moc"] = Field("dense", description="dense SwiGLU or Mixture-of-Channels")
    moc_k_fraction: float = Field(
        0.125, gt=0, le=1, description="MoC channels kept per token as a fraction of d_ff (K = round(f d_ff), >= 1)"
    )
    checkpointing: Literal["none", "block", "attention"] = Field(
        "none", description="gradient checkpointing: none, every block, or the attention half of every block"
    )
    optimizer: Literal["adamw", "sgd_momentum", "sgd"] = Field("adamw", description="torch optimizer")
    trainable_fraction: float = Field(
        1.0, gt=0, le=1, description="share of parameters with gradients and optimizer state (placeholder for "
        "subset methods: LoRA, GaLore, MISA, LISA, BAdam)"
    )
    capacity_gib: PositiveFloat = Field(80.0, le=1 << 20, description="device memory in GiB")
    measure: bool = Field(False, description="also measure one block at these widths with the profiler (CPU)")
    measure_tokens: PositiveInt = Field(64, le=8192, description="tokens of the measured block's input")

    @model_validator(mode="after")
    def _measurable(self) -> TrainingMemoryWorkload:
        if self.measure:  # the measured block is real: its rotary embedding needs heads of even size
            try:
                dims = resolve_model(self.model)
                check_rotary_heads(dims.d_model, dims.n_heads)
            except ValueError as err:
                raise ValueError(f"model: {err}; measure: true builds one real block") from None
            block = 4 * dims.d_model**2 + 3 * dims.d_model * dims.d_ff + 2 * dims.d_model
            if block > MAX_MEASURED_BLOCK_PARAMS:
                raise ValueError(f"model: one block holds {block:,} parameters, more than measure: true builds "
                                 f"({MAX_MEASURED_BLOCK_PARAMS:,}: 4 GiB in fp32 on this CPU, 5x LLaMA-7B's block); "
                                 "set measure: false or use smaller widths")
            # what its forward keeps (without checkpointing: a checkpointed forward still makes these tensors)
            dense = dataclasses.replace(technique_of(self, dims.d_ff), checkpointing="none")
            per_token = sum(block_bytes_per_token(_shape(dims), dense, DTYPE_BYTES[self.dtype]).values())
            if self.measure_tokens * per_token > MAX_MEASURED_ACTIVATION_BYTES:
                key = "measure_tokens" if self.measure_tokens > 64 else "model"
                raise ValueError(f"{key}: the measured block's forward keeps measure_tokens x {per_token:,} bytes = "
                                 f"{self.measure_tokens * per_token / GIB:.1f} GiB, more than "
                                 f"{MAX_MEASURED_ACTIVATION_BYTES // GIB} GiB on this CPU; lower measure_tokens or "
                                 "the widths, or set measure: false")
        return self


class TrainingMemoryScenario(ScenarioBase):
    """Peak training memory of a LLaMA-shaped model on one device: fits? largest micro-batch?"""

    kind: Literal["training_memory"] = "training_memory"
    workload: TrainingMemoryWorkload = Field(default_factory=TrainingMemoryWorkload)


def _shape(dims: LlamaDims) -> Shape:
    return Shape(dims.d_model, dims.d_ff, dims.n_heads, dims.n_layers, dims.vocab_size)


def technique_of(w: TrainingMemoryWorkload, d_ff: int) -> Technique:
    k = max(1, round(w.moc_k_fraction * d_ff)) if w.ffn == "moc" else None
    return Technique(w.ffn, k, w.checkpointing)


def _largest_micro_batch(
    shape: Shape, technique: Technique, w: TrainingMemoryWorkload, static: StaticMemory, capacity: float
) -> int:
    """The largest micro-batch whose modelled peak fits ``capacity`` (0 if none): the peak grows with it."""

    def fits(mb: int) -> bool:
        return step_peak_bytes(shape, technique, w.dtype, mb * w.seq_len, static) <= capacity

    if not fits(1):
        return 0
    high = 1
    while fits(high * 2):
        high *= 2
        if high > 1 << 40:
            return high
    low, high = high, high * 2  # fits(low), not fits(high)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


@register_workload("training_memory", TrainingMemoryScenario)
def run(scenario: TrainingMemoryScenario, ctx: RunContext) -> RunOutput:
    """One row: static memory, activations by group, modelled peak, fits, largest micro-batch that fits."""
    w = scenario.workload
    dims = resolve_model(w.model)
    shape = _shape(dims)
    technique = technique_of(w, dims.d_ff)
    n_params = parameter_count(shape)
    trainable = math.floor(w.trainable_fraction * n_params)
    tensors = parameter_tensors(shape) if w.trainable_fraction == 1.0 else math.ceil(
        w.trainable_fraction * parameter_tensors(shape))
    static = static_bytes(shape, dtype=w.dtype, optimizer=w.optimizer, trainable_params=trainable,
                          trainable_tensors=tensors)
    per_token = activation_bytes_per_token(shape, technique, w.dtype)
    groups = grouped(per_token)
    act_per_token = sum(per_token.values())
    working_per_token = backward_working_set_bytes_per_token(shape, technique, w.dtype)
    tokens = w.micro_batch * w.seq_len
    peak = step_peak_bytes(shape, technique, w.dtype, tokens, static)
    capacity = w.capacity_gib * GIB
    max_micro_batch = _largest_micro_batch(shape, technique, w, static, capacity)
    b = DTYPE_BYTES[w.dtype]
    row = {
        "model": w.model if isinstance(w.model, str) else f"d{dims.d_model}",
        "n_params": n_params, "d_model": dims.d_model, "d_ff": dims.d_ff, "n_layers": dims.n_layers,
        "micro_batch": w.micro_batch, "seq_len": w.seq_len, "dtype": w.dtype, "ffn": w.ffn,
        "moc_k": technique.moc_k or 0, "checkpointing": w.checkpointing, "optimizer": w.optimizer,
        "parameters_bytes": static.parameters, "gradients_bytes": static.gradients,
        "optimizer_states_bytes": static.optimizer_states,
        "activation_attention_bytes": tokens * groups["attention"], "activation_ffn_bytes": tokens * groups["ffn"],
        "activation_other_bytes": tokens * groups["other"], "activation_bytes": tokens * act_per_token,
        "activation_bytes_per_token": act_per_token,
        "analytic_block_bytes_per_token": sum(block_bytes_per_token(shape, technique, b).values()),
        "backward_working_set_bytes": tokens * working_per_token, "peak_bytes": peak, "peak_gib": peak / GIB,
        "capacity_gib": w.capacity_gib, "fits": peak <= capacity, "max_micro_batch": max_micro_batch,
    }
    info: dict[str, object] = {"moc_k": technique.moc_k, "peak_model": "analytic (methods.memory.analytic)"}
    if w.measure:
        from methods.memory.layer_table import measure_block

        measured = measure_block(dims.d_model, dims.d_ff, dims.n_heads, technique, dtype=w.dtype,
                                 tokens=w.measure_tokens, seed=int(ctx.seed_seq.generate_state(1)[0]))
        row["measured_block_bytes_per_token"] = measured["measured_bytes_per_token"]
        row["measure_tokens"] = w.measure_tokens
        info["measured"] = measured
    return RunOutput(metrics=pd.DataFrame([row]), info=info)
