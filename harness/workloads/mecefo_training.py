"""Scenario kind ``mecefo_training``: MeCeFO (Hu et al., arXiv 2510.16415) for real, at reduced scale: simulated
data-parallel ranks in one process train `methods.models.gpt.TinyLlama` on the generated grammar corpus
(`methods.data.corpus`); ranks fail during given steps and their neighbours take over with the paper's techniques
(`methods.mecefo`).

``workload.failures`` lists outages (``{rank, start, end}``, steps) or sets a process compressed to steps
(``interval_steps``: mean gap between failures anywhere, ``repair_steps``: time down), as the paper's Table 1 does
in hours. ``workload.everywhere`` (``skip_attention`` / ``skip_ffn``) makes every rank run that identity backward at
every step, and ``techniques.skip_ffn`` makes the neighbour skip the FFN instead of attention: the paper's
Figure 3 study. ``workload.cost_repeats`` > 0 also measures the neighbour's memory and time
against a normal rank on this CPU (`methods.mecefo.cost`) into run.json's ``neighbour_cost``.
``workload.probes`` scores the trained model on synthetic downstream probes (`methods.mecefo.probes`: zero-shot
items by likelihood, and fine-tuned classification) into run.json's ``probes`` (the paper's Tables 4-5).
``workload.model.architecture: moe_mla`` trains `methods.models.moe_mla.MoEMLA` (latent attention, routed
experts) instead of the tiny LLaMA (the paper's Table 10).

Metrics per recorded step: ``loss`` (mean micro-batch loss), ``eval_loss`` (held-out corpus of another seed, at
evaluation steps), ``n_failed``, ``n_neighbours``, ``n_dropped`` and ``grad_rel_error`` (||g~ - g|| / ||g|| against
the exact data-parallel gradient, at measured failure steps). Deterministic for a seed.

Example scenario: ``scenarios/mecefo/training_skip.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import pandas as pd
import torch
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.models.llama import check_rotary_heads
from harness.non_finite import NOT_APPLICABLE_KEY
from harness.workloads.base import (RunContext, RunOutput, corpus_shards, named_seeds, register_workload,
                                    torch_sandbox)
from methods.mecefo.failures import MIN_INTERVAL_STEPS, Outage, steps_with_every_rank_down
from methods.mecefo.probes import FinetuneSettings, evaluate_probes, probe_units

#: NaN by design (`methods.mecefo.training.train`): ``eval_loss`` between evaluation steps, ``grad_rel_error`` on
#: the steps where it is not measured (no rank down, or between every ``error_every``-th failure step)
NAN_MEANS_NOT_APPLICABLE = ("eval_loss", "grad_rel_error")


class ModelSpec(Strict):
    architecture: Literal["llama", "moe_mla"] = Field(
        "llama", description="llama: TinyLlama; moe_mla: latent attention + routed experts (Table 10)")
    d_model: PositiveInt = Field(32, le=4096)
    n_layers: PositiveInt = Field(2, le=64)
    n_heads: PositiveInt = Field(4, le=128)
    d_ff: PositiveInt = Field(86, le=16384, description="FFN hidden width (llama)")
    seq_len: PositiveInt = Field(32, le=4096)
    n_experts: PositiveInt = Field(4, le=256, description="routed experts (moe_mla)")
    top_k: PositiveInt = Field(2, le=256, description="experts per token (moe_mla)")
    d_ff_expert: PositiveInt = Field(43, le=16384, description="hidden width of one expert (moe_mla)")
    kv_rank: NonNegativeInt = Field(16, le=4096, description="joint key-value latent width (moe_mla; 0: plain "
                                    "multi-head attention)")

    @model_validator(mode="after")
    def _heads(self) -> ModelSpec:
        check_rotary_heads(self.d_model, self.n_heads)
        if self.top_k > self.n_experts:
            raise ValueError(f"top_k {self.top_k} must be at most n_experts {self.n_experts}")
        return self


class ProbesSpec(Strict):
    zero_shot_items: NonNegativeInt = Field(0, le=100_000, description="items per zero-shot probe (0: none)")
    finetune_steps: NonNegativeInt = Field(0, le=100_000, description="fine-tuning steps per probe (0: none)")
    finetune_train_items: PositiveInt = Field(512, le=1_000_000)
    finetune_test_items: PositiveInt = Field(256, le=1_000_000)
    finetune_batch: PositiveInt = Field(16, le=4096)
    finetune_lr: PositiveFloat = 1e-3


class CorpusSpec(Strict):
    n_sentences: PositiveInt = Field(3000, le=1_000_000, description="training corpus size")
    eval_sentences: PositiveInt = Field(300, le=100_000, description="held-out corpus size (another seed)")
    eval_batches: PositiveInt = Field(4, le=1000, description="held-out batches per evaluation")


class TechniquesSpec(Strict):
    skip_attention: bool = Field(True, description="I: identity backward through attention on the neighbour")
    recompute_ffn: bool = Field(True, description="II: keep only the FFN input, recompute in backward")
    low_rank: NonNegativeInt = Field(8, le=4096, description="III: rank r of FFN weight gradients (0: exact)")
    refresh_every: PositiveInt = Field(20, le=1_000_000, description="tau: steps between SVD refreshes")
    skip_ffn: bool = Field(False, description="identity backward through the FFN instead (Figure 3's contrast)")


class OutageSpec(Strict):
    rank: NonNegativeInt
    start: NonNegativeInt
    end: PositiveInt

    @model_validator(mode="after")
    def _order(self) -> OutageSpec:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class FailuresSpec(Strict):
    outages: list[OutageSpec] = Field(default_factory=list, description="explicit outages (steps)")
    interval_steps: float | None = Field(None, ge=MIN_INTERVAL_STEPS, description=(
        f"mean steps between failures anywhere; at least {MIN_INTERVAL_STEPS}: 100 arrivals per step on average "
        "already leave only one rank up at almost every step (n_ranks <= 64), and every arrival is one draw"))
    repair_steps: PositiveInt | None = Field(None, le=1_000_000, description="steps a failed rank stays down")

    @model_validator(mode="after")
    def _process(self) -> FailuresSpec:
        if (self.interval_steps is None) != (self.repair_steps is None):
            raise ValueError("interval_steps and repair_steps go together")
        return self


class MeCeFOTrainingWorkload(Strict):
    model: ModelSpec = Field(default_factory=ModelSpec)
    corpus: CorpusSpec = Field(default_factory=CorpusSpec)
    n_ranks: PositiveInt = Field(4, ge=2, le=64, description="simulated data-parallel ranks")
    batch_size: PositiveInt = Field(4, le=4096, description="sequences per rank micro-batch")
    steps: PositiveInt = Field(200, le=100_000)
    lr: PositiveFloat = 3e-3
    weight_decay: NonNegativeFloat = 0.0
    techniques: TechniquesSpec = Field(default_factory=TechniquesSpec)
    everywhere: Literal["none", "skip_attention", "skip_ffn"] = Field(
        "none", description="every rank skips this block in backward at every step (Figure 3)")
    failures: FailuresSpec = Field(default_factory=FailuresSpec)
    error_every: NonNegativeInt = Field(1, le=100_000, description="gradient error every k failure steps (0: off)")
    eval_every: PositiveInt = Field(20, le=100_000)
    record_every: PositiveInt = Field(5, le=100_000)
    cost_repeats: NonNegativeInt = Field(0, le=1000, description="timed passes of the neighbour cost (0: skip)")
    probes: ProbesSpec = Field(default_factory=ProbesSpec, description="downstream probes after training")

    @model_validator(mode="after")
    def _ranks(self) -> MeCeFOTrainingWorkload:
        for i, outage in enumerate(self.failures.outages):
            if outage.rank >= self.n_ranks:
                raise ValueError(f"failures.outages.{i}.rank: {outage.rank} is not one of the {self.n_ranks} ranks")
        outages = tuple(Outage(o.rank, o.start, o.end) for o in self.failures.outages)
        if all_down := steps_with_every_rank_down(outages, self.n_ranks, self.steps):
            raise ValueError(f"failures.outages: all {self.n_ranks} ranks are down at step {all_down[0]}, so no rank "
                             "is left to take over their micro-batches")
        return self


class MeCeFOTrainingScenario(ScenarioBase):
    """MeCeFO: tiny-LLaMA data-parallel training with failed ranks covered by their neighbours (real, reduced scale)."""

    kind: Literal["mecefo_training"] = "mecefo_training"
    workload: MeCeFOTrainingWorkload = Field(default_factory=MeCeFOTrainingWorkload)


@register_workload("mecefo_training", MeCeFOTrainingScenario)
def run(scenario: MeCeFOTrainingScenario, ctx: RunContext) -> RunOutput:
    with torch_sandbox(threads=1):
        return _run(scenario.workload, named_seeds(ctx.seed_seq, ("data", "model", "batches", "failures", "probes")),
                    ctx.progress)


def _run(w: MeCeFOTrainingWorkload, seeds: dict[str, int], progress: Callable[[int, int], None]) -> RunOutput:
    from methods.data.corpus import CharTokenizer, make_corpus
    from methods.mecefo.cost import neighbour_cost
    from methods.mecefo.failures import poisson_schedule
    from methods.mecefo.neighbour import Techniques
    from methods.mecefo.training import TrainSettings, train

    train_text, eval_text = make_corpus(w.corpus.n_sentences, seeds["data"]), make_corpus(
        w.corpus.eval_sentences, seeds["data"] + 1)
    tokenizer = CharTokenizer.from_text(train_text + eval_text)
    shards = corpus_shards(tokenizer.encode(train_text), w.n_ranks, w.model.seq_len, w.batch_size, seeds["batches"],
                           "workload.corpus.n_sentences", w.corpus.n_sentences)
    held_out = corpus_shards(tokenizer.encode(eval_text), 1, w.model.seq_len, w.batch_size, seeds["batches"] + 1,
                             "workload.corpus.eval_sentences", w.corpus.eval_sentences)
    eval_set = [held_out.batch(0, i) for i in range(w.corpus.eval_batches)]
    model = _model(w.model, tokenizer.vocab_size, seeds["model"])

    def evaluate(m: torch.nn.Module) -> float:
        with torch.no_grad():
            return float(sum(float(m.loss(x, y)) for x, y in eval_set) / len(eval_set))

    tech = Techniques(**w.techniques.model_dump())
    everywhere = {"none": None, "skip_attention": Techniques(skip_attention=True),
                  "skip_ffn": Techniques(skip_ffn=True)}[w.everywhere]
    outages = tuple(Outage(o.rank, o.start, o.end) for o in w.failures.outages)
    if w.failures.interval_steps is not None:
        outages += poisson_schedule(w.n_ranks, w.steps, w.failures.interval_steps, int(w.failures.repair_steps),
                                    seeds["failures"], explicit=outages)
    info: dict = {"seeds": seeds, "vocab_size": tokenizer.vocab_size,
                  "parameters": sum(p.numel() for p in model.parameters()),
                  "outages": [[o.rank, o.start, o.end] for o in outages],
                  NOT_APPLICABLE_KEY: list(NAN_MEANS_NOT_APPLICABLE)}
    if w.cost_repeats:
        info["neighbour_cost"] = neighbour_cost(model, shards.batch(0, 0), shards.batch(1, 0), tech, w.cost_repeats)
        info["neighbour_cost"]["device"] = "this CPU, 1 thread"
    settings = TrainSettings(n_ranks=w.n_ranks, steps=w.steps, techniques=tech, everywhere=everywhere,
                             outages=outages, lr=w.lr, weight_decay=w.weight_decay, error_every=w.error_every,
                             eval_every=w.eval_every, record_every=w.record_every)
    finetune = _finetune_settings(w.probes)
    probe_steps = probe_units(w.probes.zero_shot_items, finetune)
    result = train(model, shards.batch, settings, evaluate,
                   on_step=lambda done, steps: progress(done, steps + probe_steps))
    info.update(result.info)
    if probe_steps:
        info["probes"] = evaluate_probes(
            model, tokenizer, zero_shot_items_per_task=w.probes.zero_shot_items, finetune=finetune,
            seed=seeds["probes"], on_step=lambda done, units: progress(w.steps + done, w.steps + units))
    return RunOutput(metrics=pd.DataFrame(result.rows), info=info)


def _model(spec: ModelSpec, vocab_size: int, seed: int) -> torch.nn.Module:
    if spec.architecture == "moe_mla":
        from methods.models.moe_mla import MoEMLA, MoEMLAConfig

        return MoEMLA(MoEMLAConfig(vocab_size=vocab_size, d_model=spec.d_model, n_layers=spec.n_layers,
                                   n_heads=spec.n_heads, d_ff_expert=spec.d_ff_expert, n_experts=spec.n_experts,
                                   top_k=spec.top_k, kv_rank=spec.kv_rank, max_seq_len=spec.seq_len), seed=seed)
    from methods.models.gpt import TinyLlama

    return TinyLlama(vocab_size, spec.d_model, spec.n_layers, spec.n_heads, spec.d_ff, spec.seq_len, seed=seed)


def _finetune_settings(spec: ProbesSpec) -> FinetuneSettings | None:
    return (FinetuneSettings(train_items=spec.finetune_train_items, test_items=spec.finetune_test_items,
                             steps=spec.finetune_steps, batch_size=spec.finetune_batch, lr=spec.finetune_lr)
            if spec.finetune_steps else None)
