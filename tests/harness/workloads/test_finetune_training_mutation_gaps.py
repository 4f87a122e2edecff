"""Gaps in the tests of `finetune_training` found by a mutation audit.

Closed here:

- ``lisa_layers`` may equal ``model.n_layers``; ``mode: pretrain`` refuses the fine-tuning-only methods (the
  existing key test for it is refused earlier, as an override of a sweep axis);
- each method gets its own knobs from ``method`` (MISA's delta, interval, eta, granularity, sampling, sample_last,
  embedding switch and seed; LISA's layers, interval and seed; BAdam's interval; LoRA / DoRA's rank, alpha and
  dropout; GaLore's rank and projection gap) with the workload's learning rate; a set ``lora_rank`` wins over
  the budget-matched one;
- the base model is pre-trained with the ``pretrain`` block's settings at the model's ``seq_len``; fine-tuning
  gets the workload's tasks, digits, batch, evaluation and seed; the measured step uses a training-sized batch;
- ``mode: pretrain`` draws its corpus from the run's seed and scores every run on the same 8 held-out batches
  (fixed seed), starting from a model seeded by the run; a LoRA run seeds torch's global generator itself;
- run.json's info: vocabulary size, the base's held-out loss, trainable parameters at the start, and no measured
  step when ``measure_step`` is off;
- a corpus A too short for a sequence is one line naming its key (it was a ValueError traceback), the base model's
  held-out corpus included, before any pre-training step; a ``seq_len`` shorter than the tasks' longest example is
  refused when the scenario is validated (it was found only after pre-training).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.errors import ScenarioError
from harness.workloads import finetune_training as kind
from harness.workloads.base import RunContext
from methods.data import tasks_finetune as tf
from methods.misa import baselines, train
from methods.models import llama_family

pytest.importorskip("peft")

TINY = {"model": {"d_model": 16, "d_ff": 32, "n_heads": 2, "n_layers": 2, "seq_len": 32},
        "pretrain": {"steps": 2, "batch_size": 4, "n_items": 200, "lr": 0.01, "seed": 1}, "tasks": ["add", "even"],
        "digits": 1, "steps": 2, "batch_size": 3, "lr": 0.02, "eval_every": 1, "eval_examples": 4}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_MISA_MODELS", str(tmp_path / "models"))


class Recorder:
    """Stands in for a function: records its arguments, then calls the real one (or returns ``result``)."""

    def __init__(self, real, result=None):
        self.real, self.result, self.calls = real, result, []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.real(*args, **kwargs) if self.result is None else self.result


def _workload(**changes) -> kind.FinetuneTrainingWorkload:
    return kind.FinetuneTrainingWorkload.model_validate({**TINY, **changes})


def _run(seed: int = 0, **changes):
    scenario = kind.FinetuneTrainingScenario.model_validate({"name": "f", "workload": {**TINY, **changes}})
    return kind.run(scenario, RunContext(seed_seq=np.random.SeedSequence(seed)))


def test_lisa_may_sample_every_layer():
    assert _workload(method={"name": "lisa", "lisa_layers": 2}).method.lisa_layers == 2
    with pytest.raises(ValueError, match="lisa_layers: 3 exceeds model.n_layers 2"):
        _workload(method={"name": "lisa", "lisa_layers": 3})


@pytest.mark.parametrize("name", ["lisa", "badam", "lora", "dora"])
def test_pre_training_refuses_the_fine_tuning_only_methods(name):
    for allowed in ("adamw", "galore", "misa"):
        assert _workload(mode="pretrain", method={"name": allowed}).method.name == allowed
    with pytest.raises(ValueError, match=f"pre-training compares adamw, galore and misa, got '{name}'"):
        _workload(mode="pretrain", method={"name": name})


METHOD = {"delta": 0.2, "interval": 7, "eta": 0.5, "granularity": "layer", "sampling": "uniform", "sample_last": 3,
          "train_embedding_and_head": True, "lisa_layers": 2, "lora_rank": 3}


@pytest.mark.parametrize(("name", "expected"), [
    ("misa", {"delta": 0.2, "interval": 7, "eta": 0.5, "granularity": "layer", "sampling": "uniform",
              "sample_last": 3, "seed": 11, "train_embedding_and_head": True}),
    ("lisa", {"n_layers": 2, "interval": 7, "seed": 11}),
    ("badam", {"interval": 7}),
    ("lora", {"r": 3, "alpha": 6, "dropout": 0.05}),
    ("dora", {"r": 3, "alpha": 6, "dropout": 0.05}),
    ("galore", {"rank": 3, "update_proj_gap": 7}),
    ("adamw", {}),
])
def test_each_method_gets_its_own_knobs(monkeypatch, name, expected):
    spy = Recorder(None, result="finetuner")
    monkeypatch.setattr(baselines, "make_finetuner", spy)
    model = llama_family.LlamaFamily(train.model_config(16, 32, 2, 2, 32), seed=0)
    ft, rank = kind._finetuner(_workload(method={"name": name, **METHOD}), model, 11)
    assert (ft, rank) == ("finetuner", 3)
    (got_name, got_model), params = spy.calls[0]
    assert got_name == name and got_model is model
    assert params == {"lr": 0.02, "weight_decay": 0.0, **expected}


def test_pretraining_fine_tuning_and_the_measured_step_get_the_workload_settings(monkeypatch):
    base, tune, batches = (Recorder(train.pretrained_base), Recorder(train.finetune),
                           Recorder(tf.sample_batch))
    monkeypatch.setattr(train, "pretrained_base", base)
    monkeypatch.setattr(train, "finetune", tune)
    monkeypatch.setattr(tf, "sample_batch", batches)
    out = _run(method={"name": "adamw"})
    (cfg, settings), _ = base.calls[0]
    assert cfg.max_seq_len == 32 and (cfg.d_model, cfg.d_ff, cfg.n_heads, cfg.n_layers) == (16, 32, 2, 2)
    assert settings == train.PretrainSettings(steps=2, batch_size=4, lr=0.01, n_items=200, seed=1)
    (_, ft_settings), _ = tune.calls[0]
    seed = out.info["seed"]
    assert ft_settings == train.FinetuneSettings(tasks=("add", "even"), steps=2, batch_size=3, seq_len=32, digits=1,
                                                 eval_every=1, eval_examples=4, seed=seed, grad_norms=False)
    assert len(batches.calls) == 3 and all(args[1] == 3 for args, _ in batches.calls)  # 2 steps + the measured one
    info = out.info
    assert info["vocab_size"] == 46
    assert np.isfinite(info["base_held_out_loss"]) and info["base_held_out_loss"] > 0
    params = sum(p.numel() for p in llama_family.LlamaFamily(cfg, seed=0).parameters())
    assert info["trainable_at_start"] == params  # full AdamW trains everything


def test_pretrain_mode_seeds_its_corpus_and_model_and_shares_held_out_batches(monkeypatch):
    batches, loop, models = Recorder(train.corpus_batches), Recorder(train.pretrain), Recorder(
        llama_family.LlamaFamily)
    monkeypatch.setattr(train, "corpus_batches", batches)
    monkeypatch.setattr(train, "pretrain", loop)
    monkeypatch.setattr(llama_family, "LlamaFamily", models)
    first = _run(seed=0, mode="pretrain", method={"name": "adamw"})
    second = _run(seed=1, mode="pretrain", method={"name": "adamw"})
    seeds = [first.info["seed"], second.info["seed"]]
    assert [args for args, _ in batches.calls] == [(200, seeds[0], 32, 3), (50, 10_007, 32, 3),
                                                   (200, seeds[1], 32, 3), (50, 10_007, 32, 3)]
    assert [kwargs["seed"] for _, kwargs in models.calls] == seeds
    (_, _, held_first, steps, eval_every), _ = loop.calls[0]
    (_, _, held_second, *_), _ = loop.calls[1]
    assert (steps, eval_every, len(held_first)) == (2, 1, 8)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(held_first, held_second))
    assert first.metrics["step"].tolist() == [1, 2]


def test_no_measured_step_when_it_is_off():
    info = _run(mode="pretrain", method={"name": "adamw"}, measure_step=False).info
    assert "saved_activation_bytes" not in info and "step_peak_bytes" not in info


@pytest.mark.parametrize(("changes", "key"), [
    ({"mode": "pretrain", "method": {"name": "adamw"}, "pretrain": {**TINY["pretrain"], "n_items": 1}},
     "workload.pretrain.n_items: 1 items are too few"),
    ({"pretrain": {**TINY["pretrain"], "n_items": 1}}, "workload.pretrain.n_items: 1 items are too few"),
])
def test_a_corpus_too_short_for_a_sequence_names_its_key(changes, key):
    """Schema-valid sizes whose drawn corpus does not fit a sequence: one line naming the key (it was a ValueError
    traceback from the corpus encoder)."""
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")) as err:
        _run(**changes)
    assert len(err.value.problems) == 1


def test_the_base_models_held_out_corpus_is_checked_before_pre_training(monkeypatch, tmp_path):
    """A corpus whose quarter (the held-out text) is too short is refused before any pre-training step."""
    steps: list[int] = []
    settings = train.PretrainSettings(steps=2, batch_size=2, n_items=8, seed=1)
    cfg = train.model_config(16, 32, 2, 1, seq_len=64)
    assert len(tf.pretraining_text(8, 1)) > 65 and len(tf.pretraining_text(2, 2)) <= 65
    with pytest.raises(train.CorpusTooShort, match="corpus A of 2 items"):
        train.pretrained_base(cfg, settings, cache_dir=tmp_path, store=tmp_path,
                              on_step=lambda done, total: steps.append(done))
    assert steps == []


@pytest.mark.parametrize(("seq_len", "digits", "tasks", "fits"), [
    (9, 2, ["add"], True), (8, 2, ["add"], False),  # "99+99=198." has 10 characters
    (15, 4, ["add", "mod"], True), (14, 4, ["add", "mod"], False),  # "9999+9999=19998." has 16
    (22, 4, ["add", "even"], True), (21, 1, ["even"], False),  # "is 98 even? yes no:yes." has 23
])
def test_fine_tuning_refuses_a_sequence_shorter_than_the_longest_task_example(seq_len, digits, tasks, fits):
    """Checked when the scenario is validated (it was found only after the base model's pre-training)."""
    changes = {"model": {**TINY["model"], "seq_len": seq_len}, "digits": digits, "tasks": tasks}
    if fits:
        assert _workload(**changes).model.seq_len == seq_len
        return
    with pytest.raises(ValueError, match=rf"model\.seq_len: {seq_len} is too short for the tasks' examples"):
        _workload(**changes)
    assert _workload(**changes, mode="pretrain", method={"name": "adamw"}).mode == "pretrain"


def test_lora_runs_do_not_depend_on_the_callers_torch_generator():
    """LoRA's init and dropout draw from torch's global generator: the run seeds it from its own seed."""
    torch.manual_seed(123)
    first = _run(method={"name": "lora", "lora_rank": 2})
    torch.manual_seed(456)
    second = _run(method={"name": "lora", "lora_rank": 2})
    assert first.metrics["train_loss"].iloc[1:].tolist() == second.metrics["train_loss"].iloc[1:].tolist()
    assert first.metrics["eval_loss"].tolist() == second.metrics["eval_loss"].tolist()
