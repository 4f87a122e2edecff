"""Scenario kind ``finetune_training``: MISA (Liu et al., arXiv 2511.00056) and its baselines trained for real on a
tiny character-level LLaMA, at reduced scale.

``mode: finetune``: a base model pre-trained with AdamW on corpus A (grammar sentences and counting lines;
`methods.data.tasks_finetune`), taken from ``results/misa_base/`` when committed for these settings, else from the
cache or trained and cached, is fine-tuned with ``method.name`` (MISA, LISA,
BAdam, LoRA, DoRA, GaLore or full AdamW; `methods.misa.baselines`) on a uniform mixture of synthetic tasks (math:
``add``, ``mod``; commonsense-style multiple choice: ``category``, ``larger``, ``even``, ``next``), loss on the
answer characters. ``mode: pretrain``: the model is trained from scratch on corpus A by the method (the paper's C4
table: Adam vs GaLore vs MISA).

Budgets: MISA's ``delta`` is its trainable share of all parameters; ``lora_rank: 0`` (default) gives LoRA / DoRA
the largest rank whose adapters fit in ``delta`` of the parameters (matched trainable budget) and GaLore the same
rank; LISA trains ``lisa_layers`` layers plus embeddings and head, BAdam one layer, as in the MISA repository.

Metrics per evaluation: ``step``, ``wall_s`` (training time so far, evaluation excluded), ``train_loss``,
``eval_loss``; fine-tuning adds ``acc_<task>`` (exact match on held-out examples), pre-training ``perplexity``;
both ``optimizer_state_bytes`` (tensors in the optimizer's state now) and ``trainable_params``. run.json info: the
peak optimizer-state and master-copy bytes, the bytes autograd saved and the allocator peak of one measured step,
the base model's held-out loss and where it came from (``base_source``: committed, cache or trained), and with
``grad_norms: true`` each weight matrix's mean gradient norm.

Example scenario: ``scenarios/misa/finetune.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.errors import ScenarioError
from harness.models.llama import check_rotary_heads
from harness.non_finite import NOT_APPLICABLE_KEY
from harness.workloads.base import RunContext, RunOutput, register_workload, torch_sandbox

Method = Literal["adamw", "misa", "lisa", "badam", "lora", "dora", "galore"]
Task = Literal["add", "mod", "category", "larger", "even", "next"]
#: ``mode: finetune``'s first row (step 0) scores the base model before any step (`methods.misa.train.finetune`):
#: no training loss yet, so ``train_loss`` is NaN there; a divergence still shows in ``eval_loss``, evaluated on
#: every row (`harness.non_finite`)
NAN_MEANS_NOT_APPLICABLE = ("train_loss",)


class ModelSpec(Strict):
    d_model: PositiveInt = Field(32, le=1024, description="hidden size")
    d_ff: PositiveInt = Field(86, le=4096, description="SwiGLU width")
    n_heads: PositiveInt = Field(2, le=64, description="attention heads (d_model / n_heads must be even)")
    n_layers: PositiveInt = Field(4, le=64, description="transformer layers")
    seq_len: PositiveInt = Field(40, ge=8, le=1024, description="characters per training sequence")

    @model_validator(mode="after")
    def _heads(self) -> ModelSpec:
        check_rotary_heads(self.d_model, self.n_heads)
        return self


class PretrainSpec(Strict):
    steps: PositiveInt = Field(300, le=100_000, description="AdamW steps of the base model on corpus A")
    batch_size: PositiveInt = Field(16, le=1024)
    lr: PositiveFloat = Field(3e-3, le=1.0)
    n_items: PositiveInt = Field(4000, le=1_000_000, description="sentences and counting lines in corpus A")
    seed: NonNegativeInt = Field(0, description="the base model's seed (every fine-tuning run starts from it)")


class MethodSpec(Strict):
    name: Method = "misa"
    delta: float = Field(0.03, gt=0, le=1, description="MISA's trainable share; LoRA/GaLore rank matched to it")
    interval: PositiveInt = Field(50, le=100_000, description="T: steps between active-set redraws (MISA/LISA/BAdam)")
    eta: float = Field(1.0, ge=0, le=1e6, description="MISA's softmax temperature on the importance")
    granularity: Literal["module", "layer"] = "module"
    sampling: Literal["importance", "uniform"] = "importance"
    sample_last: NonNegativeInt = Field(2, le=1000, description="least-recently-used modules tried first")
    train_embedding_and_head: bool = Field(False, description="MISA also trains embeddings, final norm and head")
    lisa_layers: PositiveInt = Field(1, le=64, description="layers LISA samples per period")
    lora_rank: NonNegativeInt = Field(0, le=1024, description="LoRA/DoRA/GaLore rank; 0 = matched to delta")


class FinetuneTrainingWorkload(Strict):
    mode: Literal["finetune", "pretrain"] = "finetune"
    model: ModelSpec = Field(default_factory=ModelSpec)
    pretrain: PretrainSpec = Field(default_factory=PretrainSpec)
    method: MethodSpec = Field(default_factory=MethodSpec)
    tasks: list[Task] = Field(["add", "mod", "category", "larger", "even", "next"], min_length=1)
    digits: PositiveInt = Field(2, le=4, description="operands below 10**digits in the math tasks")
    steps: PositiveInt = Field(150, le=100_000)
    batch_size: PositiveInt = Field(16, le=1024)
    lr: PositiveFloat = Field(3e-3, le=1.0)
    eval_every: PositiveInt = Field(25, le=100_000)
    eval_examples: PositiveInt = Field(64, le=100_000, description="held-out examples per task")
    grad_norms: bool = Field(False, description="record each weight matrix's mean gradient norm")
    measure_step: bool = Field(True, description="profile one extra forward + backward for saved bytes and peak")

    @model_validator(mode="after")
    def _check(self) -> FinetuneTrainingWorkload:
        if self.mode == "pretrain" and self.method.name not in ("adamw", "galore", "misa"):
            raise ValueError(f"method.name: pre-training compares adamw, galore and misa, got {self.method.name!r}")
        if self.method.lisa_layers > self.model.n_layers:
            raise ValueError(f"method.lisa_layers: {self.method.lisa_layers} exceeds model.n_layers "
                             f"{self.model.n_layers}")
        if self.mode == "finetune":
            from methods.data.tasks_finetune import longest_example

            need, task = max((longest_example(task, self.digits), task) for task in self.tasks)
            if need > self.model.seq_len + 1:
                raise ValueError(f"model.seq_len: {self.model.seq_len} is too short for the tasks' examples (task "
                                 f"{task} with digits {self.digits} draws up to {need} characters: seq_len >= "
                                 f"{need - 1})")
        return self


class FinetuneTrainingScenario(ScenarioBase):
    """Pre-train a tiny LLaMA, fine-tune it with one method on synthetic tasks (or pre-train per method)."""

    kind: Literal["finetune_training"] = "finetune_training"
    workload: FinetuneTrainingWorkload = Field(default_factory=FinetuneTrainingWorkload)


def _finetuner(w: FinetuneTrainingWorkload, model: torch.nn.Module, seed: int):
    from methods.misa.baselines import make_finetuner
    from methods.misa.train import lora_rank_for_budget

    m = w.method
    rank = m.lora_rank or lora_rank_for_budget(model, m.delta)
    params: dict = {"lr": w.lr, "weight_decay": 0.0}
    if m.name == "misa":
        params.update(delta=m.delta, interval=m.interval, eta=m.eta, granularity=m.granularity,
                      sampling=m.sampling, sample_last=m.sample_last, seed=seed,
                      train_embedding_and_head=m.train_embedding_and_head)
    elif m.name == "lisa":
        params.update(n_layers=m.lisa_layers, interval=m.interval, seed=seed)
    elif m.name == "badam":
        params.update(interval=m.interval)
    elif m.name in ("lora", "dora"):
        params.update(r=rank, alpha=2 * rank, dropout=0.05)
    elif m.name == "galore":
        params.update(rank=rank, update_proj_gap=m.interval)
    return make_finetuner(m.name, model, **params), rank


@register_workload("finetune_training", FinetuneTrainingScenario)
def run(scenario: FinetuneTrainingScenario, ctx: RunContext) -> RunOutput:
    with torch_sandbox(threads=1):  # tiny tensors: one thread avoids OpenMP barriers on a shared CPU
        seed = int(ctx.seed_seq.generate_state(1)[0])
        torch.manual_seed(seed)  # LoRA's init and dropout draw from torch's generator
        from methods.misa.train import CorpusTooShort

        try:
            return _run(scenario.workload, seed, ctx.progress)
        except CorpusTooShort as err:  # its length is known once the text is drawn
            raise ScenarioError([f"workload.pretrain.n_items: {scenario.workload.pretrain.n_items} items are too "
                                 f"few ({err})"]) from None


def _run(w: FinetuneTrainingWorkload, seed: int, progress: Callable[[int, int], None]) -> RunOutput:
    from methods.data import tasks_finetune as tf
    from methods.misa import train
    from methods.models.llama_family import LlamaFamily

    s = w.model
    cfg = train.model_config(s.d_model, s.d_ff, s.n_heads, s.n_layers, s.seq_len)
    info: dict = {"seed": seed, "vocab_size": len(tf.VOCAB)}
    if w.mode == "finetune":
        p = w.pretrain
        model, base = train.pretrained_base(cfg, train.PretrainSettings(p.steps, p.batch_size, p.lr, p.n_items,
                                                                         p.seed), on_step=progress)
        info.update(base_held_out_loss=base["held_out_loss"], base_source=base["source"])
        info[NOT_APPLICABLE_KEY] = list(NAN_MEANS_NOT_APPLICABLE)
    else:
        model = LlamaFamily(cfg, seed=seed)
    ft, rank = _finetuner(w, model, seed)
    info.update(method=w.method.name, rank=rank, trainable_at_start=ft.trainable_params())
    if w.mode == "finetune":
        settings = train.FinetuneSettings(tasks=tuple(w.tasks), steps=w.steps, batch_size=w.batch_size,
                                          seq_len=s.seq_len, digits=w.digits, eval_every=w.eval_every,
                                          eval_examples=w.eval_examples, seed=seed, grad_norms=w.grad_norms)
        result = train.finetune(ft, settings, on_step=progress)
        probe = tf.sample_batch(tuple(w.tasks), w.batch_size, s.seq_len, np.random.default_rng(seed), w.digits)

        def loss_fn() -> torch.Tensor:
            return tf.masked_loss(model(probe.tokens), probe)
    else:
        batch = train.corpus_batches(w.pretrain.n_items, seed, s.seq_len, w.batch_size)
        held = train.corpus_batches(w.pretrain.n_items // 4, 10_007, s.seq_len, w.batch_size)
        result = train.pretrain(ft, batch, [held(i) for i in range(8)], w.steps, w.eval_every, on_step=progress)

        def loss_fn() -> torch.Tensor:
            return model.loss(*batch(0))
    info.update(result.info)
    if w.measure_step:
        info.update(train.step_peak_bytes(ft, loss_fn))
    return RunOutput(metrics=pd.DataFrame(result.rows), info=info)
