"""Scenario kind ``moc_throughput``: training tokens/s of the tiny LLaMA on this CPU for dense SwiGLU, MoC, dense
with gradient checkpointing and MoC with gradient checkpointing, measured side by side in one run, with each
variant's activation memory (MoC, Wu, He, Wang, Yuan, arXiv 2511.09323: the training-throughput table).

`methods.moc.throughput`: the four variants hold the same seeded weights; every round runs one training step
(forward, backward, AdamW update) of each on the same batch of random tokens, ``rounds`` rounds after ``warmup``;
``threads`` torch threads. MoC keeps K = max(1, round(k_fraction x d_ff)) channels per token through the torch
training path of `kernels.moc` (on a GPU the Triton kernels do the per-row work). Checkpointing is
``torch.utils.checkpoint`` of every block (or of its attention half).

Metrics, one row per variant: ``variant``, ``ffn``, ``checkpointing``, ``k``, ``time_ms_median`` / ``_p10`` /
``_p90`` per step, ``n_reps``, ``tokens_per_s`` (tokens per step / median), ``relative_throughput`` (over dense),
``saved_bytes_per_token`` (and by attention / FFN / other) and ``peak_bytes_per_token`` (CPU allocation peak).

Example scenario: ``scenarios/moc/throughput.yaml``.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from pydantic import Field, PositiveInt

from harness.config.blocks import ScenarioBase, Strict
from harness.workloads.base import RunContext, RunOutput, register_workload, torch_sandbox
from harness.workloads.moc_training import MoCModelSpec


class MoCThroughputWorkload(Strict):
    model: MoCModelSpec = Field(default_factory=MoCModelSpec)
    vocab_size: PositiveInt = Field(32, le=1 << 20, description="vocabulary of the random tokens")
    batch_size: PositiveInt = Field(8, le=4096, description="sequences per step")
    k_fraction: float = Field(0.125, gt=0, le=1, description="MoC channels per token as a share of d_ff")
    checkpointing: Literal["block", "attention"] = Field("block", description="what the checkpointed variants keep")
    rounds: PositiveInt = Field(20, le=100_000, description="timed rounds (one step of every variant each)")
    warmup: int = Field(2, ge=0, le=1000, description="untimed rounds first")
    threads: PositiveInt = Field(1, le=256, description="torch CPU threads")


class MoCThroughputScenario(ScenarioBase):
    """MoC: training tokens/s of the tiny LLaMA on this CPU, dense vs MoC, each with and without checkpointing."""

    kind: Literal["moc_throughput"] = "moc_throughput"
    workload: MoCThroughputWorkload = Field(default_factory=MoCThroughputWorkload)


@register_workload("moc_throughput", MoCThroughputScenario)
def run(scenario: MoCThroughputScenario, ctx: RunContext) -> RunOutput:
    from methods.models.llama_family import LlamaFamilyConfig
    from methods.moc.throughput import measure_throughput

    w = scenario.workload
    m = w.model
    seed = int(ctx.seed_seq.generate_state(1)[0])
    k = max(1, round(w.k_fraction * m.d_ff))
    cfg = LlamaFamilyConfig(d_model=m.d_model, d_ff=m.d_ff, n_heads=m.n_heads, n_layers=m.n_layers,
                            vocab_size=w.vocab_size, max_seq_len=m.seq_len)
    with torch_sandbox(threads=w.threads):
        rows = pd.DataFrame(measure_throughput(cfg, k, w.batch_size, m.seq_len, w.rounds, w.warmup, seed,
                                               checkpointing=w.checkpointing))
    rows["relative_throughput"] = rows["tokens_per_s"] / float(rows.loc[rows["variant"] == "dense",
                                                                         "tokens_per_s"].iloc[0])
    return RunOutput(metrics=rows, info={"threads": w.threads, "k": k, "seed": seed})
