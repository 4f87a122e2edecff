"""Gaps in the tests of `train` found by a mutation audit.

- `finetune`'s ``grad_norms``: the mean over all steps of each weight matrix's gradient norm (recorded by hooks on
  the parameters), a step without a gradient counting as zero; ``numel`` is the matrix's size;
- `finetune`'s rows: a row at every ``eval_every`` steps and at the last step, ``train_loss`` the mean of the steps
  since the previous row, ``wall_s`` the cumulative training time (a fake clock), ``trainable_params`` counted before
  the optimizer's step;
- `finetune`'s peaks: optimizer state and master bytes are maxima over the steps, not the last step's;
- `peak_state_bytes`: the larger of the state now and the inner optimizer's recorded peak;
- `evaluate`: ``eval_loss`` is the mean over the tasks' sets, ``acc_<task>`` the share of examples exactly right;
- `pretrain`: rows at every ``eval_every`` steps and the last, windowed ``train_loss``, perplexity = exp(eval loss);
- `corpus_batches`: at the shortest corpus allowed the one window is the corpus' start, targets shifted by one; one
  character shorter is refused with its own message;
- `lora_rank_for_budget`: a budget below one rank still gives rank 1, and the largest rank at the boundary;
- `pretrained_base`: ``on_step(done, steps)`` after each training step, 1-based, and none when read from cache.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from methods.data import tasks_finetune as tf
from methods.misa import train
from methods.misa.baselines import Finetuner
from methods.models.llama_family import LlamaFamily

CFG = train.model_config(16, 32, 2, 2, 24)
MATRICES = ("attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.o_proj", "mlp.gate_proj",
            "mlp.up_proj", "mlp.down_proj")


class _Clock:
    """perf_counter that advances by 1 s per call: each training step (two calls) lasts exactly 1 s."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now


class _ScriptedOptimizer:
    """No update (the model stays fixed); after step k it reports ``state[k]`` bytes, optionally freezes one
    parameter, and records nothing else."""

    def __init__(self, model, state=(), freeze=()):
        self.model, self.state, self.freeze, self.k = model, list(state), list(freeze), 0

    def step(self):
        if self.k < len(self.freeze):
            self.freeze[self.k].requires_grad_(False)
        self.k += 1

    def zero_grad(self, set_to_none=True):
        for p in self.model.parameters():
            p.grad = None

    def state_bytes(self):
        return self.state[self.k - 1] if self.k else 0


def _settings(steps, eval_every=100, **kw):
    return train.FinetuneSettings(tasks=("add",), steps=steps, batch_size=4, seq_len=16, eval_every=eval_every,
                                  eval_examples=2, **kw)


def _record_batches(monkeypatch):
    batches = []
    real = tf.sample_batch

    def sample(*args, **kwargs):
        batches.append(real(*args, **kwargs))
        return batches[-1]

    monkeypatch.setattr(tf, "sample_batch", sample)
    return batches


def test_grad_norms_are_the_mean_over_the_steps_of_each_matrix_gradient_norm():
    model = LlamaFamily(CFG, seed=0)
    params = dict(model.named_parameters())
    names = [f"layers.{i}.{m}.weight" for i in range(CFG.n_layers) for m in MATRICES]
    seen = {n: [] for n in names}
    for n in names:
        params[n].register_hook(lambda g, n=n: seen[n].append(float(g.norm())))
    ft = Finetuner("sgd", model, torch.optim.SGD(model.parameters(), lr=0.0))
    out = train.finetune(ft, _settings(3, grad_norms=True))
    got = {r["module"]: r for r in out.info["grad_norms"]}
    assert sorted(got) == sorted(names)
    for n in names:
        assert len(seen[n]) == 3 and max(seen[n]) > 1.001 * min(seen[n])  # three batches, three different norms
        assert got[n]["grad_norm"] == pytest.approx(sum(seen[n]) / 3, rel=1e-6)
        assert got[n]["numel"] == params[n].numel()
    assert got["layers.0.mlp.up_proj.weight"]["numel"] == 32 * 16


def test_a_step_without_a_gradient_counts_as_zero_in_the_mean():
    model = LlamaFamily(CFG, seed=0)
    frozen = model.get_parameter("layers.1.mlp.down_proj.weight")
    seen = []
    frozen.register_hook(lambda g: seen.append(float(g.norm())))
    # frozen after the first step: a gradient at step 1 only, the mean is over all 4 steps
    ft = Finetuner("sgd", model, _ScriptedOptimizer(model, state=[0] * 4, freeze=[frozen]))
    out = train.finetune(ft, _settings(4, grad_norms=True))
    got = {r["module"]: r["grad_norm"] for r in out.info["grad_norms"]}
    assert len(seen) == 1 and seen[0] > 0
    assert got["layers.1.mlp.down_proj.weight"] == pytest.approx(seen[0] / 4, rel=1e-6)


def test_rows_at_every_eval_and_the_last_step_with_windowed_train_loss_and_training_wall_clock(monkeypatch):
    monkeypatch.setattr(train, "time", _Clock())
    batches = _record_batches(monkeypatch)
    model = LlamaFamily(CFG, seed=0)
    ft = Finetuner("sgd", model, torch.optim.SGD(model.parameters(), lr=0.0))
    calls = []
    out = train.finetune(ft, _settings(5, eval_every=2), on_step=lambda s, n: calls.append((s, n)))
    with torch.no_grad():
        losses = [float(tf.masked_loss(model(b.tokens), b)) for b in batches]
    assert len(losses) == 5 and len(set(losses)) == 5
    assert [r["step"] for r in out.rows] == [0, 2, 4, 5]
    assert [r["wall_s"] for r in out.rows] == [0.0, 2.0, 4.0, 5.0]  # 1 s per step; evaluation not counted
    assert math.isnan(out.rows[0]["train_loss"])
    expected = [np.mean(losses[0:2]), np.mean(losses[2:4]), losses[4]]
    assert [r["train_loss"] for r in out.rows[1:]] == pytest.approx(expected, rel=1e-6)
    assert calls == [(s, 5) for s in range(1, 6)]
    assert "grad_norms" not in out.info  # not asked for


def test_trainable_params_are_counted_before_the_step_and_peaks_are_maxima():
    model = LlamaFamily(CFG, seed=0)
    total = sum(p.numel() for p in model.parameters())
    first, second = model.get_parameter("layers.0.mlp.up_proj.weight"), model.lm_head.weight
    opt = _ScriptedOptimizer(model, state=[30, 70, 20], freeze=[first, second])
    masters = iter([torch.zeros(4), torch.zeros(12), torch.zeros(8)])
    ft = Finetuner("scripted", model, opt, master=lambda: [next(masters)])
    out = train.finetune(ft, _settings(3, eval_every=1))
    assert [r["trainable_params"] for r in out.rows] == [total, total, total - 32 * 16,
                                                         total - 32 * 16 - second.numel()]
    assert [r["optimizer_state_bytes"] for r in out.rows] == [0, 30, 70, 20]
    assert out.info["peak_optimizer_state_bytes"] == 70
    assert out.info["peak_master_bytes"] == 12 * 4
    assert out.info["parameters"] == total


def test_peak_state_bytes_takes_the_inner_optimizer_peak_when_larger():
    model = LlamaFamily(CFG, seed=0)
    opt = _ScriptedOptimizer(model, state=[40])
    opt.step()
    assert train.peak_state_bytes(Finetuner("s", model, opt)) == 40
    opt.opt = SimpleNamespace(peak_state_bytes=100)
    assert train.peak_state_bytes(Finetuner("s", model, opt)) == 100
    opt.opt = SimpleNamespace(peak_state_bytes=10)
    assert train.peak_state_bytes(Finetuner("s", model, opt)) == 40


def test_eval_loss_is_the_mean_over_the_tasks_sets():
    model = LlamaFamily(CFG, seed=0)
    sets = train.eval_sets(("add", "even"), 3, 24, 2, 0)
    with torch.no_grad():
        per_task = [float(tf.masked_loss(model(b.tokens), b)) for b in sets.values()]
    assert abs(per_task[0] - per_task[1]) > 1e-3
    out = train.evaluate(model, sets)
    assert out["eval_loss"] == pytest.approx((per_task[0] + per_task[1]) / 2, rel=1e-6)
    assert set(out) == {"eval_loss", "acc_add", "acc_even"}


class _Oracle(torch.nn.Module):
    """Logits whose argmax is the target everywhere, except at the first answer character of the first ``wrong``
    examples of a set."""

    def __init__(self, sets, wrong):
        super().__init__()
        self.by_tokens, self.wrong = {id(b.tokens): b for b in sets.values()}, wrong

    def forward(self, tokens):
        b = self.by_tokens[id(tokens)]
        targets = b.targets.clone()
        for row in range(self.wrong[b.tasks[0]]):
            col = int(b.mask[row].nonzero()[0])
            targets[row, col] = (targets[row, col] + 1) % len(tf.VOCAB)
        return 5.0 * torch.nn.functional.one_hot(targets, len(tf.VOCAB)).float()


def test_exact_match_accuracy_is_the_share_of_examples_right_at_every_answer_character():
    sets = train.eval_sets(("add", "even"), 4, 24, 2, 0)
    out = train.evaluate(_Oracle(sets, {"add": 1, "even": 3}), sets)
    assert (out["acc_add"], out["acc_even"]) == (0.75, 0.25)


def test_pretrain_rows_windowed_losses_and_perplexity(monkeypatch):
    monkeypatch.setattr(train, "time", _Clock())
    model = LlamaFamily(CFG, seed=0)
    ft = Finetuner("sgd", model, torch.optim.SGD(model.parameters(), lr=0.0))

    def batch(step):
        x = torch.randint(0, CFG.vocab_size, (2, 16), generator=torch.Generator().manual_seed(step))
        return x, x.roll(-1, dims=1)

    held_out = [batch(100), batch(101)]
    with torch.no_grad():
        losses = {s: float(model.loss(*batch(s))) for s in range(1, 6)}
        ev = (float(model.loss(*held_out[0])) + float(model.loss(*held_out[1]))) / 2
    out = train.pretrain(ft, batch, held_out, steps=5, eval_every=2)
    assert [r["step"] for r in out.rows] == [2, 4, 5]
    assert [r["wall_s"] for r in out.rows] == [2.0, 4.0, 5.0]
    expected = [(losses[1] + losses[2]) / 2, (losses[3] + losses[4]) / 2, losses[5]]
    assert [r["train_loss"] for r in out.rows] == pytest.approx(expected, rel=1e-6)
    for r in out.rows:
        assert r["eval_loss"] == pytest.approx(ev, rel=1e-6)
        assert r["perplexity"] == pytest.approx(math.exp(ev), rel=1e-6)
    assert out.info["parameters"] == sum(p.numel() for p in model.parameters())


def _corpus_length(n_items, seed):
    return len(tf.encode(tf.pretraining_text(n_items, seed)))


def test_corpus_batches_at_the_shortest_corpus_allowed():
    n = _corpus_length(3, 0)
    ids = torch.tensor(tf.encode(tf.pretraining_text(3, 0)))
    x, y = train.corpus_batches(3, 0, n - 2, 3)(0)  # one window start only: 0
    assert torch.equal(x, ids[: n - 2].expand(3, -1)) and torch.equal(y, ids[1 : n - 1].expand(3, -1))
    with pytest.raises(ValueError, match="corpus A of 3 items is shorter than seq_len"):
        train.corpus_batches(3, 0, n - 1, 3)


def test_lora_rank_is_one_when_even_one_rank_exceeds_the_budget():
    model = LlamaFamily(CFG, seed=0)
    assert train.lora_rank_for_budget(model, 1e-6) == 1
    # 2 layers x (4 x (16 + 16) + 3 x (16 + 32)) = 544 per rank
    total = sum(p.numel() for p in model.parameters())
    assert train.lora_rank_for_budget(model, 3 * 544 / total) == 3
    assert train.lora_rank_for_budget(model, 3 * 544 / total - 1e-9) == 2


def test_pretrained_base_reports_progress_after_each_training_step_only(tmp_path):
    cfg = train.model_config(16, 32, 2, 1, 16)
    settings = train.PretrainSettings(steps=2, batch_size=2, n_items=50)
    calls = []
    _, info = train.pretrained_base(cfg, settings, tmp_path / "cache", tmp_path / "none",
                                    on_step=lambda s, n: calls.append((s, n)))
    assert info["source"] == "trained" and calls == [(1, 2), (2, 2)]
    _, info = train.pretrained_base(cfg, settings, tmp_path / "cache", tmp_path / "none",
                                    on_step=lambda s, n: calls.append((s, n)))
    assert info["source"] == "cache" and calls == [(1, 2), (2, 2)]  # read from the cache: no training steps
