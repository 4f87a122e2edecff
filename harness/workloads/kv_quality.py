"""Scenario kind ``kv_quality``: quality of KV-cache presses on a tiny Llama trained on the synthetic long-context
suite (`methods.kvcache.tasks`, `methods.kvcache.evaluate`), the stand-in for Chelsea's LongBench, needle and
key-similarity experiments (arXiv 2506.11418, Tables 1, 4, 5 and Figures 2, 3, 5, 6 slots).

The model comes from ``workload.model`` and the scenario's ``seed``: the committed weights in ``results/kv_models``
when that (config, seed) is there and its sha256 checks out (`methods.kvcache.model_store`), else it is trained here
(deterministic; cached on disk by config and seed, so every figure of one seed reuses one model); the run says which
on stderr and in run.json. ``output`` picks the rows:

- ``accuracy``: one row per method x budget x context x task (``full`` at budget 1), plus held-out text loss;
- ``needle``: one needle per context x depth, per method, at ``budgets[0]``;
- ``key_similarity``: mean cosine similarity of cached keys vs token distance, per layer;
- ``head_sensitivity``: per (layer, KV head), the relative error of the last-token logits on held-out text when
  only that head is clustered at ``budgets[0]`` (Chelsea's outlier-head calibration).

``outlier_fraction`` > 0 keeps the most sensitive heads (ceil(fraction x heads), calibrated on held-out text
with another seed) uncompressed for Chelsea.
"""

from __future__ import annotations

import math
import sys
from typing import Annotated, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, PositiveInt, field_validator, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.workloads.base import RunContext, RunOutput, register_workload, torch_threads
from methods.kvcache.chelsea import windows_problem

Method = Literal["full", "streaming_llm", "snapkv", "h2o", "merging", "cam", "chelsea"]
#: longest prompt: the tiny model declares 8192 positions (`methods.kvcache.tasks.build_model`) and attends
#: eagerly, heads x n^2 fp32 weights per layer (1 GiB at 4 heads and 8192 tokens)
MAX_CONTEXT_TOKENS = 8192
DEFAULT_SINK, DEFAULT_RECENT = 4, 16  # Chelsea's windows scaled down to the tiny model's contexts


class TinyModel(Strict):
    hidden_size: PositiveInt = Field(64, le=4096, description="hidden size")
    layers: PositiveInt = Field(2, le=64, description="decoder layers")
    heads: PositiveInt = Field(4, le=64, description="query heads")
    kv_heads: PositiveInt = Field(2, le=64, description="key/value heads (GQA)")
    intermediate_size: PositiveInt = Field(128, le=16384, description="SwiGLU intermediate size")
    train_steps: PositiveInt = Field(2500, le=1_000_000, description="AdamW steps")
    batch_size: PositiveInt = Field(16, le=4096, description="sequences per step")
    train_context: PositiveInt = Field(192, ge=32, le=8192, description="longest training context (tokens)")
    learning_rate: float = Field(1e-3, gt=0, le=1, description="peak learning rate (one-cycle)")
    curriculum: float = Field(0.5, ge=0, le=1, description="share of the steps over which the longest training "
                              "context grows from 48 tokens to train_context")
    max_pairs: int = Field(8, ge=0, le=4096, description="most needles per training recall sample (0: one per six "
                           "tokens)")

    @model_validator(mode="after")
    def _heads(self) -> TinyModel:
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of heads ({self.heads})")
        return self


class KVQualityWorkload(Strict):
    model: TinyModel = Field(default_factory=TinyModel)
    output: Literal["accuracy", "needle", "key_similarity", "head_sensitivity"] = Field("accuracy")
    methods: list[Method] = Field(["full", "streaming_llm", "snapkv", "h2o", "cam", "chelsea"], min_length=1)
    budgets: list[float] = Field([0.1, 0.2, 0.3, 0.5], min_length=1, description="cache ratios, each in (0, 1]")
    context_tokens: list[Annotated[int, Field(gt=0, le=MAX_CONTEXT_TOKENS)]] = Field(
        [256, 512], min_length=1, description="prompt lengths, each at most 8192 tokens: the tiny model's "
        "position table, and eager attention holds heads x n^2 weights per layer")
    tasks: list[Literal["recall", "copy", "variables"]] = Field(["recall", "copy", "variables"], min_length=1)
    samples: PositiveInt = Field(16, le=100_000, description="samples per cell")
    depths: list[float] = Field([0.0, 0.25, 0.5, 0.75, 1.0], min_length=1, description="needle depths in [0, 1]")
    sink_tokens: int = Field(DEFAULT_SINK, ge=0, le=1 << 16,
                             description="Chelsea's protected first tokens (scaled down; at most 2**16, 8x the "
                             "longest context)")
    recent_tokens: int = Field(DEFAULT_RECENT, ge=0, le=1 << 16,
                               description="Chelsea's protected last tokens (scaled down; at most 2**16, 8x the "
                               "longest context)")
    chunk_size: PositiveInt = Field(32, le=1 << 16, description="Chelsea's chunk (scaled down from 256; at most "
                                    "2**16, 8x the longest context)")
    buffer_tokens: int = Field(8, ge=0, le=1 << 16, description="Chelsea's online trigger g (at most 2**16, 8x the "
                               "longest context)")
    outlier_fraction: float = Field(0.0, ge=0, lt=1, description="share of KV heads kept whole by Chelsea")
    snapkv_window: PositiveInt = Field(16, le=1 << 16, description="SnapKV observation window (tokens; shorter "
                                       "than every context where snapkv or merging runs)")
    max_distance: PositiveInt = Field(64, le=4096, description="key_similarity: largest token distance")

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, budgets: list[float]) -> list[float]:
        for b in budgets:
            if not 0 < b <= 1:
                raise ValueError(f"every budget must lie in (0, 1], got {b}")
            if b < 2.0**-53:  # else kvpress's compression_ratio = 1 - budget can round to 1.0, which it refuses
                raise ValueError(f"every budget must be at least 2**-53 (1.1e-16; below it the baselines' "
                                 f"compression ratio 1 - budget rounds to 1), got {b:g}")
        return budgets

    @field_validator("depths")
    @classmethod
    def _depths(cls, depths: list[float]) -> list[float]:
        if any(not 0 <= d <= 1 for d in depths):
            raise ValueError("every depth must lie in [0, 1]")
        return depths

    @model_validator(mode="after")
    def _windows_fit(self) -> KVQualityWorkload:
        shortest = min(self.context_tokens)
        problem = windows_problem(self.sink_tokens, self.recent_tokens, shortest, "context_tokens",
                                  defaults=(DEFAULT_SINK, DEFAULT_RECENT))
        if problem:
            raise ValueError(problem)
        windowed = sorted({"snapkv", "merging"} & set(self.methods))
        if windowed and self.output in ("accuracy", "needle") and self.snapkv_window >= shortest:
            # kvpress's SnapKV (merging's scorer too) needs a prefill longer than its observation window
            key = ("context_tokens" if shortest <= KVQualityWorkload.model_fields["snapkv_window"].default
                   else "snapkv_window")
            verb = "observes" if len(windowed) == 1 else "observe"
            raise ValueError(f"{key}: {' and '.join(windowed)} {verb} the last snapkv_window = "
                             f"{self.snapkv_window} tokens of a longer prefill, but the shortest context is "
                             f"{shortest} tokens; lower snapkv_window or lengthen context_tokens")
        if self.output == "key_similarity" and self.max_distance >= shortest:
            # a context too short for even the default distance is the culprit, else the distance was raised
            if shortest < KVQualityWorkload.model_fields["max_distance"].default:
                raise ValueError(f"context_tokens: the shortest context ({shortest} tokens) must be longer than "
                                 f"max_distance ({self.max_distance}); lengthen context_tokens or lower "
                                 f"max_distance")
            raise ValueError(f"max_distance: {self.max_distance} must be below the shortest context "
                             f"(context_tokens: {shortest} tokens); lower max_distance or lengthen context_tokens")
        return self


class KVQualityScenario(ScenarioBase):
    """KV-cache press quality on the synthetic long-context suite with a locally trained tiny Llama."""

    kind: Literal["kv_quality"] = "kv_quality"
    workload: KVQualityWorkload = Field(default_factory=KVQualityWorkload)


def head_sensitivity(model, vocab, w: KVQualityWorkload, seed: int) -> pd.DataFrame:
    """Relative error of the last-token logits when only one (layer, kv head) is clustered at ``budgets[0]``."""
    from methods.kvcache.evaluate import ChelseaSettings, press_for
    from methods.kvcache.tasks import haystack

    rng = np.random.default_rng([seed, 7])
    context = max(w.context_tokens)
    texts = [[vocab.BOS] + haystack(rng, vocab, context - 1) for _ in range(max(1, w.samples // 4))]
    layers, kv = model.config.num_hidden_layers, model.config.num_key_value_heads
    heads = [(layer, h) for layer in range(layers) for h in range(kv)]
    with torch.no_grad():
        reference = [model(torch.tensor([t])).logits[0, -1] for t in texts]
    rows = []
    for layer, h in heads:
        others = tuple(x for x in heads if x != (layer, h))
        settings = ChelseaSettings(w.sink_tokens, w.recent_tokens, w.chunk_size, w.buffer_tokens, others)
        errors = []
        for text, ref in zip(texts, reference):
            from transformers import DynamicCache

            cache = DynamicCache()
            press = press_for("chelsea", w.budgets[0], context, settings)
            with torch.no_grad(), press(model):
                model(torch.tensor([text[:-1]]), past_key_values=cache)
                out = model(torch.tensor([[text[-1]]]), past_key_values=cache,
                            position_ids=torch.tensor([[len(text) - 1]])).logits[0, -1]
            errors.append(float((out - ref).norm() / ref.norm()))
        rows.append({"layer": layer, "kv_head": h, "relative_error": float(np.mean(errors))})
    return pd.DataFrame(rows)


@register_workload("kv_quality", KVQualityScenario)
def run(scenario: KVQualityScenario, ctx: RunContext) -> RunOutput:
    """Train (or load) the tiny model of this seed, then evaluate the requested output (one torch thread)."""
    with torch_threads(1):
        return _evaluate(scenario)


def _evaluate(scenario: KVQualityScenario) -> RunOutput:
    from methods.kvcache import evaluate as ev
    from methods.kvcache.tasks import TinyModelConfig, text_loss, trained_model

    w = scenario.workload
    cfg = TinyModelConfig(**w.model.model_dump())
    model, train_info = trained_model(cfg, scenario.seed)
    print(f"kv_quality seed {scenario.seed}: {train_info['weights']}", file=sys.stderr)
    vocab = cfg.vocab
    outliers: tuple[tuple[int, int], ...] = ()
    info: dict[str, object] = {"training": train_info, "model_key": cfg.key(scenario.seed)}
    if w.outlier_fraction > 0 and w.output in ("accuracy", "needle"):
        sens = head_sensitivity(model, vocab, w, scenario.seed + 1000).sort_values("relative_error", ascending=False)
        n = math.ceil(w.outlier_fraction * len(sens))
        outliers = tuple((int(r.layer), int(r.kv_head)) for r in sens.head(n).itertuples())
        info["outlier_heads"] = [list(x) for x in outliers]
    settings = ev.ChelseaSettings(w.sink_tokens, w.recent_tokens, w.chunk_size, w.buffer_tokens, outliers)
    common = dict(methods=w.methods, samples=w.samples, seed=scenario.seed, chelsea=settings,
                  snapkv_window=w.snapkv_window)
    if w.output == "accuracy":
        metrics = ev.evaluate(model, vocab, budgets=w.budgets, contexts=w.context_tokens, tasks=w.tasks, **common)
        info["text_loss"] = {str(c): text_loss(model, np.random.default_rng([scenario.seed, c, 99]), vocab, c,
                                               max(1, w.samples // 4)) for c in w.context_tokens}
    elif w.output == "needle":
        metrics = ev.needle_grid(model, vocab, budget=w.budgets[0], contexts=w.context_tokens, depths=w.depths,
                                 **common)
    elif w.output == "key_similarity":
        metrics = ev.key_similarity(model, vocab, context=min(w.context_tokens), samples=max(1, w.samples // 4),
                                    seed=scenario.seed, max_distance=w.max_distance)
    else:
        metrics = head_sensitivity(model, vocab, w, scenario.seed)
    metrics.insert(0, "model_seed", scenario.seed)
    metrics["outlier_fraction"] = w.outlier_fraction
    metrics["chunk_size"] = w.chunk_size
    return RunOutput(metrics=metrics, info=info)
