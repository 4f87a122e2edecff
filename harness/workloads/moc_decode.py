"""Scenario kind ``moc_decode``: one decode token through one LLaMA layer on this CPU, dense SwiGLU vs
Mixture-of-Channels' gather-GEMVs over a sweep of K / d_ff, measured side by side in one run (MoC, Wu, He, Wang,
Yuan, arXiv 2511.09323: partial weight loading at decode).

Defaults are the GaLore LLaMA-1B layer (d_model 2048, d_ff 5461, 32 heads) with a KV cache of 1024 tokens, fp32
(the CPU path; the paper's kernels run bf16 on a GPU). Timed (`methods.moc.decode`, interleaved rounds, one new
token per round, ``threads`` torch threads): the attention half (q, k, v, o GEMVs and attention over the cache),
dense SwiGLU, and MoC at every K = max(1, round(f x d_ff)).

Metrics, one row per timed call: ``part`` (attention / ffn), ``impl`` (dense / moc), ``k``, ``k_fraction`` (1 for
dense), ``time_ms_median`` / ``_p10`` / ``_p90``, ``n_reps``, ``weight_bytes`` (FFN weights a token must read),
``bytes_ratio`` (MoC / dense weight bytes: 1/3 + 2K/(3E)), ``ffn_speedup`` (dense / this FFN's median) and
``block_speedup`` ((attention + dense FFN) / (attention + this FFN), the layer without embedding, head or norms).

Example scenario: ``scenarios/moc/decode.yaml``.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
import torch
from pydantic import Field, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.non_finite import NOT_APPLICABLE_KEY
from harness.workloads.base import RunContext, RunOutput, register_workload, torch_threads

#: the FFN-only columns: NaN on the attention row (`harness.non_finite`)
NAN_MEANS_NOT_APPLICABLE = ("bytes_ratio", "ffn_speedup", "block_speedup")


class MoCDecodeWorkload(Strict):
    d_model: PositiveInt = Field(2048, le=65536, description="hidden size (LLaMA-1B: 2048)")
    d_ff: PositiveInt = Field(5461, le=65536, description="SwiGLU width E (LLaMA-1B: 5461)")
    n_heads: PositiveInt = Field(32, le=1024, description="attention heads")
    context: PositiveInt = Field(1024, le=1 << 20, description="tokens in the KV cache")
    k_fractions: list[float] = Field([0.0625, 0.125, 0.25, 0.5, 1.0], min_length=1, max_length=64,
                                     description="MoC K / d_ff values (each in (0, 1])")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="weight and activation dtype")
    repeats: PositiveInt = Field(15, le=100_000, description="timed rounds")
    warmup: int = Field(2, ge=0, le=1000, description="untimed rounds first")
    threads: PositiveInt = Field(1, le=256, description="torch CPU threads")

    @model_validator(mode="after")
    def _check(self) -> MoCDecodeWorkload:
        bad = [f for f in self.k_fractions if not 0 < f <= 1]
        if bad:
            raise ValueError(f"k_fractions: each must be in (0, 1], got {bad[0]}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must split into n_heads {self.n_heads} heads")
        return self


class MoCDecodeScenario(ScenarioBase):
    """MoC: one decode token through one LLaMA layer on this CPU, dense SwiGLU vs Top-K channels."""

    kind: Literal["moc_decode"] = "moc_decode"
    workload: MoCDecodeWorkload = Field(default_factory=MoCDecodeWorkload)


@register_workload("moc_decode", MoCDecodeScenario)
def run(scenario: MoCDecodeScenario, ctx: RunContext) -> RunOutput:
    from methods.moc.decode import decode_sweep, make_layer

    w = scenario.workload
    seed = int(ctx.seed_seq.generate_state(1)[0])
    with torch_threads(w.threads):
        layer = make_layer(w.d_model, w.d_ff, w.n_heads, w.context, getattr(torch, w.dtype), seed)
        ks = sorted({max(1, round(f * w.d_ff)) for f in w.k_fractions})
        rows = pd.DataFrame(decode_sweep(layer, ks, w.repeats, w.warmup, seed=seed + 1))
    ffn = rows["part"] == "ffn"
    dense = rows[ffn & (rows["impl"] == "dense")].iloc[0]
    attention = float(rows.loc[rows["part"] == "attention", "time_ms_median"].iloc[0])
    rows["k_fraction"] = [k / w.d_ff if impl == "moc" else 1.0 for k, impl in zip(rows["k"], rows["impl"])]
    rows["bytes_ratio"] = rows["weight_bytes"] / dense["weight_bytes"]
    rows["ffn_speedup"] = dense["time_ms_median"] / rows["time_ms_median"]
    rows["block_speedup"] = (attention + dense["time_ms_median"]) / (attention + rows["time_ms_median"])
    rows.loc[~ffn, list(NAN_MEANS_NOT_APPLICABLE)] = float("nan")
    info = {"threads": w.threads, "dtype": w.dtype, "ks": ks, "seed": seed,
            NOT_APPLICABLE_KEY: list(NAN_MEANS_NOT_APPLICABLE)}
    return RunOutput(metrics=rows, info=info)
