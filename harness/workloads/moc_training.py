"""Scenario kind ``moc_training``: pre-training of the tiny LLaMA with a dense SwiGLU or a Mixture-of-Channels FFN
(Wu, He, Wang, Yuan, arXiv 2511.09323) on the generated grammar corpus, at reduced scale on this CPU.

Model: `methods.models.llama_family.LlamaFamily` (RMSNorm, rotary, FlashAttention-style attention, untied head),
character vocabulary of the corpus (`methods.data.corpus`, held-out text from another seed). FFN:

- ``ffn: dense``: SwiGLU;
- ``ffn: moc`` with ``selection: gate`` (the paper's rule): the K = max(1, round(k_fraction x d_ff)) channels with
  the largest raw gate per token, through the memory-lean training path (`kernels.moc`);
- ``selection: abs_up`` / ``random``: the same K channels chosen by |W_u x| or at random
  (`methods.moc.selection`, mask form: quality only);
- ``checkpointing``: none, every block, or the attention half (`torch.utils.checkpoint`).

Optimisation (`methods.moc.training`): AdamW, linear warm-up then cosine to ``min_lr_ratio``, gradient clipping.
Torch runs on one thread. Metrics per recorded step: ``step``, ``tokens``, ``lr``, ``loss`` (train, the step's
batch), ``eval_loss`` (held-out, at evaluation steps; NaN elsewhere). run.json info: the arm (``ffn``,
``selection``, ``checkpointing``, ``k``, ``k_fraction``, ``d_model``, ``n_layers``, ``d_ff``), ``parameters``,
``vocab_size``, ``final_eval_loss`` / ``final_eval_ppl``, throughput (``tokens_per_s`` from the median step time,
``step_ms_median`` / ``_p10`` / ``_p90``; forward, backward, clipping and update, one thread) and ``memory``: one
step of the initial model under the saved-tensor profiler (bytes kept for backward per token, total and by
attention / FFN / other), beside the analytic count
(`methods.memory.analytic`) for the gate rule and dense. Deterministic for a seed except the timings.

Example scenario: ``scenarios/moc/training.yaml``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.models.llama import check_rotary_heads
from harness.non_finite import NOT_APPLICABLE_KEY
from harness.workloads.base import (RunContext, RunOutput, corpus_shards, named_seeds, register_workload,
                                    torch_sandbox)
from methods.perplexity import perplexity

#: ``eval_loss`` is NaN on the recorded steps between evaluations (`harness.non_finite`)
NAN_MEANS_NOT_APPLICABLE = ("eval_loss",)


class MoCModelSpec(Strict):
    d_model: PositiveInt = Field(64, le=4096, description="hidden size")
    n_layers: PositiveInt = Field(2, le=64, description="blocks")
    n_heads: PositiveInt = Field(4, le=128, description="attention heads")
    d_ff: PositiveInt = Field(172, le=32768, description="SwiGLU width E")
    seq_len: PositiveInt = Field(32, le=4096, description="tokens per sequence")

    @model_validator(mode="after")
    def _heads(self) -> MoCModelSpec:
        check_rotary_heads(self.d_model, self.n_heads)
        return self


class MoCCorpusSpec(Strict):
    n_sentences: PositiveInt = Field(4000, le=1_000_000, description="training corpus size (sentences)")
    eval_sentences: PositiveInt = Field(400, le=100_000, description="held-out corpus size (another seed)")
    eval_batches: PositiveInt = Field(4, le=1000, description="held-out batches per evaluation")


class MoCTrainingWorkload(Strict):
    model: MoCModelSpec = Field(default_factory=MoCModelSpec)
    corpus: MoCCorpusSpec = Field(default_factory=MoCCorpusSpec)
    ffn: Literal["dense", "moc"] = Field("dense", description="dense SwiGLU or Mixture-of-Channels")
    k_fraction: float = Field(0.125, gt=0, le=1, description="MoC channels per token as a share of d_ff")
    selection: Literal["gate", "abs_up", "random"] = Field(
        "gate", description="MoC channel score: raw gate (the paper), |up| or random (ablation)")
    checkpointing: Literal["none", "block", "attention"] = Field("none", description="gradient checkpointing")
    batch_size: PositiveInt = Field(8, le=4096, description="sequences per step")
    steps: PositiveInt = Field(300, le=1_000_000, description="optimizer steps")
    lr: PositiveFloat = Field(3e-3, le=10, description="peak AdamW learning rate")
    warmup_steps: int = Field(30, ge=0, le=1_000_000, description="linear warm-up steps")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="cosine floor as a share of lr")
    weight_decay: NonNegativeFloat = Field(0.0, le=10)
    grad_clip: NonNegativeFloat = Field(1.0, le=1e6, description="gradient-norm clipping (0: off)")
    eval_every: PositiveInt = Field(25, le=1_000_000, description="held-out loss every this many steps")
    record_every: PositiveInt = Field(5, le=1_000_000, description="train-loss row every this many steps")
    measure_memory: bool = Field(True, description="profile one step's activation memory")

    @model_validator(mode="after")
    def _consistent(self) -> MoCTrainingWorkload:
        if self.selection != "gate" and self.ffn != "moc":
            raise ValueError(f"selection: {self.selection!r} needs ffn: moc")
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps: expected fewer than steps ({self.steps}), got {self.warmup_steps}")
        return self

    @property
    def k(self) -> int | None:
        return max(1, round(self.k_fraction * self.model.d_ff)) if self.ffn == "moc" else None


class MoCTrainingScenario(ScenarioBase):
    """MoC: tiny-LLaMA pre-training with a dense SwiGLU or a Mixture-of-Channels FFN (loss, tokens/s, activation
    bytes)."""

    kind: Literal["moc_training"] = "moc_training"
    workload: MoCTrainingWorkload = Field(default_factory=MoCTrainingWorkload)


@register_workload("moc_training", MoCTrainingScenario)
def run(scenario: MoCTrainingScenario, ctx: RunContext) -> RunOutput:
    with torch_sandbox(threads=1):
        return _run(scenario.workload, named_seeds(ctx.seed_seq, ("data", "model", "batches", "selection")),
                    ctx.progress)


def _build_model(w: MoCTrainingWorkload, vocab_size: int, seeds: dict[str, int]):
    from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
    from methods.moc.selection import use_selection

    m = w.model
    lean = w.ffn == "moc" and w.selection == "gate"
    cfg = LlamaFamilyConfig(d_model=m.d_model, d_ff=m.d_ff, n_heads=m.n_heads, n_layers=m.n_layers,
                            vocab_size=vocab_size, ffn="moc" if lean else "dense", moc_k=w.k if lean else None,
                            checkpointing=w.checkpointing, max_seq_len=m.seq_len)
    model = LlamaFamily(cfg, seed=seeds["model"])
    if w.ffn == "moc" and not lean:
        use_selection(model, w.k, w.selection, seed=seeds["selection"])
    return model, cfg


def _analytic_bytes_per_token(w: MoCTrainingWorkload, vocab_size: int) -> float | None:
    from methods.memory.analytic import Shape, Technique, activation_bytes_per_token

    if w.selection != "gate":
        return None  # mask form: not the memory-lean layout the analytic model counts
    m = w.model
    shape = Shape(m.d_model, m.d_ff, m.n_heads, m.n_layers, vocab_size)
    technique = Technique(ffn=w.ffn, moc_k=w.k, checkpointing=w.checkpointing)
    return float(sum(activation_bytes_per_token(shape, technique, "float32").values()))


def _run(w: MoCTrainingWorkload, seeds: dict[str, int], progress: Callable[[int, int], None]) -> RunOutput:
    from methods.data.corpus import CharTokenizer, make_corpus
    from methods.moc.training import TrainSettings, held_out_loss, measure_activations, train

    train_text = make_corpus(w.corpus.n_sentences, seeds["data"])
    eval_text = make_corpus(w.corpus.eval_sentences, seeds["data"] + 1)
    tokenizer = CharTokenizer.from_text(train_text + eval_text)
    shards = corpus_shards(tokenizer.encode(train_text), 1, w.model.seq_len, w.batch_size, seeds["batches"],
                           "workload.corpus.n_sentences", w.corpus.n_sentences)
    held_out = corpus_shards(tokenizer.encode(eval_text), 1, w.model.seq_len, w.batch_size, seeds["batches"] + 1,
                             "workload.corpus.eval_sentences", w.corpus.eval_sentences)
    eval_set = [held_out.batch(0, i) for i in range(w.corpus.eval_batches)]
    model, _ = _build_model(w, tokenizer.vocab_size, seeds)

    m = w.model
    info: dict = {"seeds": seeds, "ffn": w.ffn, "selection": w.selection if w.ffn == "moc" else "none",
                  "checkpointing": w.checkpointing, "k": w.k, "k_fraction": w.k_fraction if w.ffn == "moc" else 1.0,
                  "d_model": m.d_model, "n_layers": m.n_layers, "d_ff": m.d_ff, "vocab_size": tokenizer.vocab_size,
                  "parameters": sum(p.numel() for p in model.parameters()), "threads": 1,
                  NOT_APPLICABLE_KEY: list(NAN_MEANS_NOT_APPLICABLE)}
    if w.measure_memory:
        memory = measure_activations(model, *shards.batch(0, 0), peak=False)
        memory["analytic_saved_bytes_per_token"] = _analytic_bytes_per_token(w, tokenizer.vocab_size)
        info["memory"] = memory
    settings = TrainSettings(steps=w.steps, lr=w.lr, warmup_steps=w.warmup_steps, min_lr_ratio=w.min_lr_ratio,
                             weight_decay=w.weight_decay, grad_clip=w.grad_clip, eval_every=w.eval_every,
                             record_every=w.record_every)
    result = train(model, lambda step: shards.batch(0, step), lambda m: held_out_loss(m, eval_set), settings,
                   on_step=progress)
    step_ms = [1000 * s for s in result.step_seconds]
    p10, p90 = np.percentile(step_ms, [10, 90])
    median = statistics.median(step_ms)
    final = result.rows[-1]["eval_loss"]
    info.update({"final_eval_loss": final, "final_eval_ppl": perplexity(final),
                 "tokens_per_step": w.batch_size * w.model.seq_len,
                 "tokens_per_s": w.batch_size * w.model.seq_len / (median / 1000),
                 "step_ms_median": median, "step_ms_p10": float(p10), "step_ms_p90": float(p90)})
    return RunOutput(metrics=pd.DataFrame(result.rows), info=info)

