"""Gaps in the tests of `moc_training` found by a mutation audit.

Closed here:

- K rounds K / d_ff to the nearest integer and keeps at least one channel; warm-up may end one step before the
  last step but not at it;
- the workload's schedule, decay, clipping and recording settings reach the training loop (the lr column matches
  hand-worked warm-up + cosine values), which runs on one thread on a batch per step;
- the throughput info comes from the median step time with p10 <= median <= p90 (fed known step times);
- a dense run reports no selection, the full width, the hand-counted parameters and the corpus's characters;
- the held-out text is its own corpus of ``eval_sentences``; more held-out batches change only the held-out loss;
- the random ablation draws its channels from the ``selection`` seed; checkpointing reaches the model, the
  analytic count and run.json; the memory info holds no allocation peak and is left out when not asked for;
- progress is reported once per step;
- a corpus too short for one sequence is one line naming its size key (it was a ValueError traceback).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.workloads import moc_training
from harness.workloads.base import RunContext
from methods.data import corpus
from methods.moc import training as moc_loop
from tests.harness.workloads.held_out_corpus import assert_held_out_corpus_apart

TINY = {"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 24, "seq_len": 16},
        "corpus": {"n_sentences": 200, "eval_sentences": 40, "eval_batches": 1}, "batch_size": 2, "steps": 4,
        "warmup_steps": 1, "eval_every": 2, "record_every": 1, "measure_memory": False}


def _workload(**changes) -> moc_training.MoCTrainingWorkload:
    return moc_training.MoCTrainingWorkload.model_validate({**TINY, **changes})


def _run(progress=None, **changes):
    scenario = moc_training.MoCTrainingScenario.model_validate({"name": "m", "workload": {**TINY, **changes}})
    seeds = np.random.SeedSequence(0)
    ctx = RunContext(seed_seq=seeds) if progress is None else RunContext(seed_seq=seeds, progress=progress)
    return moc_training.run(scenario, ctx)


class TrainSpy:
    """Stands in for `methods.moc.training.train`: records what the kind passes, then trains for real; with
    ``step_seconds`` it reports those step times instead of the measured ones."""

    def __init__(self, real, step_seconds=None):
        self.real, self.step_seconds, self.settings, self.threads, self.batches = real, step_seconds, None, None, []

    def __call__(self, model, batch, evaluate, settings, on_step=None):
        self.settings, self.threads = settings, torch.get_num_threads()
        self.batches = [batch(0), batch(1)]
        result = self.real(model, batch, evaluate, settings, on_step=on_step)
        if self.step_seconds is not None:
            result.step_seconds = list(self.step_seconds)
        return result


@pytest.fixture
def spy(monkeypatch):
    made = TrainSpy(moc_loop.train)
    monkeypatch.setattr(moc_loop, "train", made)
    return made


def test_k_rounds_to_the_nearest_channel_count_and_keeps_one():
    assert _workload(ffn="moc", k_fraction=0.15).k == 4  # 0.15 x 24 = 3.6 -> 4 (not truncated to 3)
    assert _workload(ffn="moc", k_fraction=0.01).k == 1  # 0.24 rounds to 0 -> 1 channel
    assert _workload().k is None


def test_warmup_may_end_one_step_before_the_last_but_not_at_it():
    assert _workload(steps=4, warmup_steps=3).warmup_steps == 3
    with pytest.raises(ValidationError, match="warmup_steps"):
        _workload(steps=4, warmup_steps=4)


def test_settings_reach_the_loop_which_runs_on_one_thread_with_a_batch_per_step(spy):
    out = _run(lr=0.01, min_lr_ratio=0.5, weight_decay=0.1, grad_clip=0.5)
    assert spy.settings == moc_loop.TrainSettings(steps=4, lr=0.01, warmup_steps=1, min_lr_ratio=0.5,
                                                  weight_decay=0.1, grad_clip=0.5, eval_every=2, record_every=1)
    assert spy.threads == 1
    assert not torch.equal(spy.batches[0][0], spy.batches[1][0])
    # warm-up to 0.01 at step 1, then cosine over 3 steps to 0.5 x 0.01: 0.5 + 0.25 (1 + cos(pi s / 3))
    assert out.metrics["lr"].tolist() == pytest.approx([0.01, 0.00875, 0.00625, 0.005])
    assert out.metrics["step"].tolist() == [1, 2, 3, 4]
    assert out.metrics["eval_loss"].isna().tolist() == [True, False, True, False]


def test_throughput_comes_from_the_median_step_time(monkeypatch):
    monkeypatch.setattr(moc_loop, "train", TrainSpy(moc_loop.train, step_seconds=[0.001, 0.002, 0.010, 0.003]))
    info = _run().info
    assert info["step_ms_median"] == pytest.approx(2.5)  # sorted 1, 2, 3, 10 ms (the mean is 4)
    assert info["step_ms_p10"] == pytest.approx(1.3) and info["step_ms_p90"] == pytest.approx(7.9)
    assert info["tokens_per_step"] == 32  # 2 sequences of 16
    assert info["tokens_per_s"] == pytest.approx(12_800)  # 32 tokens / 2.5 ms


def test_dense_info_has_no_selection_full_width_and_the_counted_parameters(monkeypatch):
    texts = []
    real = corpus.make_corpus
    monkeypatch.setattr(corpus, "make_corpus", lambda n, seed: texts.append(real(n, seed)) or texts[-1])
    info = _run().info
    assert (info["ffn"], info["selection"], info["k"], info["k_fraction"]) == ("dense", "none", None, 1.0)
    vocab = len(set(texts[0] + texts[1]))
    assert info["vocab_size"] == vocab
    # embedding + head 2 V d, one block 4 d^2 + 3 d d_ff + 2 d, final norm d
    assert info["parameters"] == 2 * vocab * 16 + (4 * 16 * 16 + 3 * 16 * 24 + 2 * 16) + 16
    assert "memory" not in info


def test_held_out_text_is_its_own_corpus_of_eval_sentences(monkeypatch):
    assert_held_out_corpus_apart(monkeypatch, _run, n_train=200, n_eval=40)


def test_more_held_out_batches_change_only_the_held_out_loss():
    one, two = _run(), _run(corpus={**TINY["corpus"], "eval_batches": 2})
    assert one.metrics["loss"].tolist() == two.metrics["loss"].tolist()
    assert one.info["final_eval_loss"] != two.info["final_eval_loss"]


def test_random_selection_draws_from_the_selection_seed():
    w = _workload(ffn="moc", k_fraction=0.25, selection="random")
    x = torch.arange(16).reshape(1, 16) % 20

    def logits(selection_seed: int) -> torch.Tensor:
        model, _ = moc_training._build_model(w, 20, {"model": 0, "selection": selection_seed})
        with torch.no_grad():
            return model(x)

    assert torch.equal(logits(1), logits(1))
    assert not torch.equal(logits(1), logits(2))


def test_checkpointing_reaches_the_model_the_analytic_count_and_the_info():
    info = _run(ffn="moc", k_fraction=0.25, checkpointing="block", measure_memory=True).info
    memory = info["memory"]
    assert info["checkpointing"] == "block"
    assert memory["saved_bytes_per_token"] == memory["analytic_saved_bytes_per_token"]
    plain = _run(ffn="moc", k_fraction=0.25, measure_memory=True).info["memory"]
    assert memory["saved_bytes_per_token"] < plain["saved_bytes_per_token"]
    assert set(memory) == {"saved_bytes_per_token", "saved_attention_bytes_per_token", "saved_ffn_bytes_per_token",
                           "saved_other_bytes_per_token", "analytic_saved_bytes_per_token"}  # no allocation peak


def test_progress_is_reported_once_per_step():
    calls = []
    _run(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize(("corpus_changes", "key"), [({"n_sentences": 1}, "workload.corpus.n_sentences"),
                                                     ({"eval_sentences": 1}, "workload.corpus.eval_sentences")])
def test_a_corpus_too_short_for_one_sequence_names_its_key(corpus_changes, key):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.") + ": 1 sentences give") as err:
        _run(corpus={**TINY["corpus"], **corpus_changes}, model={**TINY["model"], "seq_len": 64})
    assert len(err.value.problems) == 1
