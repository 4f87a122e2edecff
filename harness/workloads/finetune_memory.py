"""Scenario kind ``finetune_memory``: optimizer-state and step memory of MISA and its baselines.

Follows MISA's memory comparison (Liu et al., arXiv 2511.00056: MISA vs full AdamW, LISA, BAdam and LoRA at a
trainable budget delta). Two sources, one row per method and model:

- ``measured``: a small LLaMA (`methods.models.llama_family`) trained ``steps`` real steps on random tokens through
  `methods.misa.baselines.make_finetuner`; bytes of the optimizer's state tensors, extra master copies, gradients,
  what autograd saved for backward and the allocator peak of forward + backward (`methods.misa.memory`).
- ``modelled``: the static bytes of LLaMA-2-7B / LLaMA-3-8B by the formula in `methods.misa.memory` (bf16 weights,
  for trainable parameters bf16 gradients + fp32 masters + fp32 AdamW moments), and per sequence length in
  ``seq_lens`` (micro-batch ``micro_batch``) the activations kept for backward and the peak (static + activations)
  by its activation model; MISA once per ``deltas`` value (the budget ``delta`` included).

The two measured activation columns count on different bases. ``saved_activation_bytes`` is every storage autograd
keeps for backward, once each, except the model's parameters and buffers: the batch's token ids included (the
embedding and the loss keep them), which exist before the step. ``step_peak_bytes`` is the allocator's peak above
what was resident before the step, so it leaves those ids out. At tiny widths, where the ids weigh as much as the
activations, the peak can therefore lie below the saved bytes; what holds is ``step_peak_bytes >=
saved_activation_bytes - batch x seq_len x 8`` (int64 ids; `tests/harness/workloads/test_finetune_memory.py`).
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
import torch
from pydantic import Field, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.models.llama import check_rotary_heads
from harness.workloads.base import RunContext, RunOutput, register_workload, torch_threads

Method = Literal["adamw", "misa", "lisa", "badam", "lora", "dora", "galore"]
Large = Literal["llama2-7b", "llama3-8b"]


class SmallModel(Strict):
    d_model: PositiveInt = Field(64, le=4096, description="hidden size of the measured model")
    d_ff: PositiveInt = Field(172, le=16384, description="SwiGLU width of the measured model")
    n_heads: PositiveInt = Field(4, le=64, description="attention heads (d_model / n_heads must be even)")
    n_layers: PositiveInt = Field(8, le=64, description="transformer layers of the measured model")
    vocab_size: PositiveInt = Field(256, le=262144, description="vocabulary of the measured model")

    @model_validator(mode="after")
    def _even_heads(self) -> SmallModel:
        check_rotary_heads(self.d_model, self.n_heads)
        return self


class FinetuneMemoryWorkload(Strict):
    methods: list[Method] = Field(
        ["adamw", "misa", "lisa", "badam", "lora"], min_length=1, description="fine-tuning methods compared"
    )
    delta: float = Field(0.03, gt=0, le=1, description="MISA's trainable-parameter budget (share of all parameters)")
    model: SmallModel = Field(default_factory=SmallModel, description="the small model measured on this machine")
    batch: PositiveInt = Field(4, le=1024, description="sequences per measured step")
    seq_len: PositiveInt = Field(32, le=8192, description="tokens per sequence in the measured steps")
    steps: PositiveInt = Field(3, le=100, description="measured steps (the last one under the memory profiler)")
    modelled: list[Large] = Field(["llama2-7b", "llama3-8b"], description="large shapes evaluated by the formula")
    measure: bool = Field(True, description="also measure the small model on this machine")
    seq_lens: list[PositiveInt] = Field([2048], min_length=1, description="sequence lengths of the modelled peak")
    micro_batch: PositiveInt = Field(1, le=1024, description="sequences per micro-batch in the modelled peak")
    deltas: list[float] = Field([], description="further MISA budgets evaluated by the formula")

    @model_validator(mode="after")
    def _deltas(self) -> FinetuneMemoryWorkload:
        for i, d in enumerate(self.deltas):
            if not 0 < d <= 1:
                raise ValueError(f"deltas.{i}: expected a share in (0, 1], got {d}")
        if not self.measure and not self.modelled:
            raise ValueError("modelled: no large shape and measure: false leave no row to compute; list a shape "
                             "in modelled or set measure: true")
        return self


class FinetuneMemoryScenario(ScenarioBase):
    """Measured (small model) and modelled (7B/8B) memory of MISA vs AdamW / LISA / BAdam / LoRA."""

    kind: Literal["finetune_memory"] = "finetune_memory"
    workload: FinetuneMemoryWorkload = Field(default_factory=FinetuneMemoryWorkload)


def _params(method: str, delta: float) -> dict:
    return {"misa": {"delta": delta}, "lora": {"dropout": 0.0}, "dora": {"dropout": 0.0}}.get(method, {})


def _measured(w: FinetuneMemoryWorkload, seed: int) -> list[dict]:
    from methods.misa.baselines import make_finetuner
    from methods.misa.memory import measure_finetuner
    from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

    m = w.model
    cfg = LlamaFamilyConfig(d_model=m.d_model, d_ff=m.d_ff, n_heads=m.n_heads, n_layers=m.n_layers,
                            vocab_size=m.vocab_size, max_seq_len=w.seq_len)
    tokens = torch.randint(0, m.vocab_size, (w.batch, w.seq_len), generator=torch.Generator().manual_seed(seed))
    rows = []
    for method in w.methods:
        model = LlamaFamily(cfg, seed=seed)
        total = sum(p.numel() for p in model.parameters())
        ft = make_finetuner(method, model, lr=1e-3, **_params(method, w.delta))
        r = measure_finetuner(ft, lambda: model.loss(tokens, tokens), steps=w.steps)  # noqa: B023 (used at once)
        rows.append({"source": "measured", "model": "small", "method": method, "delta": w.delta,
                     "seq_len": w.seq_len, "parameters": total,
                     "trainable_params": r.trainable_params, "weights_bytes": 4 * total,
                     "gradient_bytes": r.gradient_bytes, "optimizer_state_bytes": r.state_bytes,
                     "master_bytes": r.master_bytes, "saved_activation_bytes": r.saved_bytes,
                     "step_peak_bytes": r.step_peak_bytes})
    return rows


def _modelled(w: FinetuneMemoryWorkload) -> list[dict]:
    from methods.misa.memory import (
        LLAMA2_7B,
        LLAMA3_8B,
        activation_bytes_per_token,
        modelled_bytes,
        parameter_count,
        trainable_count,
    )

    dims = {"llama2-7b": LLAMA2_7B, "llama3-8b": LLAMA3_8B}
    rows = []
    for name in w.modelled:
        for method in w.methods:
            if method in ("dora", "galore"):
                continue  # no formula (DoRA's magnitude vectors, GaLore's projected states) in the model
            for delta in sorted({w.delta, *w.deltas}) if method == "misa" else [w.delta]:
                b = modelled_bytes(method, dims[name], delta)
                pt = trainable_count(method, dims[name], delta)
                per_token = activation_bytes_per_token(method, dims[name], delta)
                for seq in w.seq_lens:
                    acts = per_token * seq * w.micro_batch
                    rows.append({"source": "modelled", "model": name, "method": method, "delta": delta,
                                 "seq_len": seq, "parameters": parameter_count(dims[name]), "trainable_params": pt,
                                 "weights_bytes": b.weights, "gradient_bytes": b.gradients,
                                 "optimizer_state_bytes": 8 * pt, "master_bytes": 4 * pt,
                                 "saved_activation_bytes": acts, "step_peak_bytes": b.total + acts})
    return rows


@register_workload("finetune_memory", FinetuneMemoryScenario)
def run(scenario: FinetuneMemoryScenario, ctx: RunContext) -> RunOutput:
    w = scenario.workload
    seed = int(ctx.seed_seq.generate_state(1)[0])
    with torch_threads(1):  # tiny tensors: one thread avoids OpenMP barriers on a shared CPU
        rows = (_measured(w, seed) if w.measure else []) + _modelled(w)
    metrics = pd.DataFrame(rows)
    metrics["trainable_share"] = metrics["trainable_params"] / metrics["parameters"]
    return RunOutput(metrics=metrics, info={"delta": w.delta, "measured_steps": w.steps})
