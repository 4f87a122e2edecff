"""Gaps in the tests of `mecefo_training` found by a mutation audit.

Closed here:

- validation at its edges: ``top_k`` may equal ``n_experts``; an outage's rank must be below ``n_ranks``; all
  ranks down at the very last step is refused; ``interval_steps`` without ``repair_steps`` is refused;
- the workload's techniques, ``everywhere`` mode, outages and loop settings reach the training loop; the corpus
  is cut into one slice per rank (one for the held-out text);
- the held-out text is its own corpus of ``eval_sentences``; the held-out loss is the mean over the held-out
  batches, which change nothing else;
- the failure process keeps clear of explicitly failed ranks and its outages last ``repair_steps``;
- the neighbour cost compares two ranks' own micro-batches and names the device;
- the probes run when only fine-tuning probes are asked for, on the ``probes`` seed;
- the model helpers build what the spec says, seeded; the probe fine-tuning settings come from the spec;
- a corpus too short for its slices names the length a slice needs (seq_len + 1).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.workloads import mecefo_training as kind
from harness.workloads.base import RunContext
from methods.data import corpus
from methods.mecefo import cost as cost_module
from methods.mecefo import training as loop
from methods.mecefo.failures import Outage
from methods.mecefo.neighbour import Techniques
from methods.mecefo.probes import FinetuneSettings
from tests.harness.workloads.held_out_corpus import assert_held_out_corpus_apart

TINY = {"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 24, "seq_len": 16},
        "corpus": {"n_sentences": 200, "eval_sentences": 40, "eval_batches": 1}, "n_ranks": 3, "batch_size": 2,
        "steps": 6, "eval_every": 3, "record_every": 2}


def _workload(**changes) -> kind.MeCeFOTrainingWorkload:
    return kind.MeCeFOTrainingWorkload.model_validate({**TINY, **changes})


def _run(**changes):
    scenario = kind.MeCeFOTrainingScenario.model_validate({"name": "m", "workload": {**TINY, **changes}})
    return kind.run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))


class Recorder:
    """Stands in for a function: records its arguments, then calls the real one."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.real(*args, **kwargs)


def test_top_k_may_equal_the_number_of_experts():
    spec = kind.ModelSpec(architecture="moe_mla", n_experts=3, top_k=3)
    assert spec.top_k == 3
    with pytest.raises(ValidationError, match="top_k 4 must be at most n_experts 3"):
        kind.ModelSpec(architecture="moe_mla", n_experts=3, top_k=4)


def test_an_outage_rank_must_be_below_n_ranks():
    assert _workload(failures={"outages": [{"rank": 2, "start": 0, "end": 2}]}).failures.outages[0].rank == 2
    with pytest.raises(ValidationError, match="failures.outages.0.rank: 3 is not one of the 3 ranks"):
        _workload(failures={"outages": [{"rank": 3, "start": 0, "end": 2}]})


@pytest.mark.parametrize("failures", [{"interval_steps": 2}, {"repair_steps": 2}])
def test_the_failure_process_needs_both_of_its_keys(failures):
    with pytest.raises(ValidationError, match="interval_steps and repair_steps go together"):
        _workload(failures=failures)


def test_all_ranks_down_at_the_last_step_only_is_refused():
    every_rank_at = [{"rank": r, "start": 5, "end": 6} for r in range(3)]  # step 5 of steps 0..5
    with pytest.raises(ValidationError, match="all 3 ranks are down at step 5"):
        _workload(failures={"outages": every_rank_at})
    assert len(_workload(failures={"outages": every_rank_at[:2]}).failures.outages) == 2


@pytest.mark.parametrize(("everywhere", "expected"), [("none", None),
                                                      ("skip_attention", Techniques(skip_attention=True)),
                                                      ("skip_ffn", Techniques(skip_ffn=True))])
def test_settings_reach_the_loop(monkeypatch, everywhere, expected):
    spy = Recorder(loop.train)
    monkeypatch.setattr(loop, "train", spy)
    _run(techniques={"skip_attention": False, "recompute_ffn": True, "low_rank": 2, "refresh_every": 3},
         everywhere=everywhere, failures={"outages": [{"rank": 2, "start": 1, "end": 4}]}, lr=0.01,
         weight_decay=0.1, error_every=2)
    (_, _, settings, *_), _ = spy.calls[0]
    assert settings == loop.TrainSettings(
        n_ranks=3, steps=6, techniques=Techniques(recompute_ffn=True, low_rank=2, refresh_every=3),
        everywhere=expected, outages=(Outage(2, 1, 4),), lr=0.01, weight_decay=0.1, error_every=2, eval_every=3,
        record_every=2)


def test_the_corpus_is_cut_into_one_slice_per_rank(monkeypatch):
    slices = []

    class Shards(corpus.CorpusShards):
        def __init__(self, tokens, n_workers, *rest):
            slices.append(n_workers)
            super().__init__(tokens, n_workers, *rest)

    monkeypatch.setattr(corpus, "CorpusShards", Shards)
    _run()
    assert slices == [3, 1]  # training corpus per rank, held-out corpus whole


def test_held_out_text_is_its_own_corpus_of_eval_sentences(monkeypatch):
    assert_held_out_corpus_apart(monkeypatch, _run, n_train=200, n_eval=40)


def test_held_out_loss_is_the_mean_over_held_out_batches():
    one, two = _run(), _run(corpus={**TINY["corpus"], "eval_batches": 2})
    assert one.metrics["loss"].tolist() == two.metrics["loss"].tolist()
    first, second = one.metrics["eval_loss"].iloc[-1], two.metrics["eval_loss"].iloc[-1]
    assert first != second
    assert 0.5 * first < second < 1.5 * first  # a mean of two like batches, not their sum


def test_the_failure_process_keeps_clear_of_explicitly_failed_ranks():
    explicit = [{"rank": 0, "start": 0, "end": 6}, {"rank": 1, "start": 0, "end": 6}]
    out = _run(failures={"outages": explicit, "interval_steps": 0.5, "repair_steps": 2})
    assert out.info["outages"] == [[0, 0, 6], [1, 0, 6]]  # rank 2 is the only one up: every arrival is skipped


def test_process_outages_last_repair_steps_and_come_after_the_explicit_ones():
    out = _run(failures={"outages": [{"rank": 0, "start": 0, "end": 1}], "interval_steps": 1, "repair_steps": 3})
    outages = out.info["outages"]
    assert outages[0] == [0, 0, 1] and len(outages) > 1
    assert all(end - start == 3 for _, start, end in outages[1:])


def test_neighbour_cost_uses_two_ranks_batches_and_names_the_device(monkeypatch):
    spy = Recorder(cost_module.neighbour_cost)
    monkeypatch.setattr(cost_module, "neighbour_cost", spy)
    out = _run(steps=2, eval_every=2, cost_repeats=1)
    (_, own, other, *_), _ = spy.calls[0]
    assert not torch.equal(own[0], other[0])
    assert out.info["neighbour_cost"]["device"] == "this CPU, 1 thread"


def test_fine_tuning_probes_alone_run_on_the_probes_seed(monkeypatch):
    spy = Recorder(kind.evaluate_probes)
    monkeypatch.setattr(kind, "evaluate_probes", spy)
    probes = {"finetune_steps": 1, "finetune_train_items": 8, "finetune_test_items": 4}
    out = _run(steps=2, eval_every=2, model={**TINY["model"], "seq_len": 32}, probes=probes)
    assert set(out.info["probes"]) >= {"finetune"} and "zero_shot" not in out.info["probes"]
    seeds = out.info["seeds"]
    assert spy.calls[0][1]["seed"] == seeds["probes"] != seeds["model"]


def test_the_llama_model_is_seeded_and_the_moe_model_follows_its_spec():
    spec = kind.ModelSpec(d_model=16, n_layers=1, n_heads=2, d_ff=24, seq_len=16)
    a, b, c = (kind._model(spec, 20, seed) for seed in (1, 1, 2))
    assert torch.equal(a.embed_tokens.weight, b.embed_tokens.weight)
    assert not torch.equal(a.embed_tokens.weight, c.embed_tokens.weight)
    moe = kind._model(kind.ModelSpec(architecture="moe_mla", d_model=16, n_layers=1, n_heads=2, n_experts=3, top_k=2,
                                     d_ff_expert=8, kv_rank=4, seq_len=16), 20, 0)
    cfg = moe.cfg
    assert (cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads) == (20, 16, 1, 2)
    assert (cfg.n_experts, cfg.top_k, cfg.d_ff_expert, cfg.kv_rank, cfg.max_seq_len) == (3, 2, 8, 4, 16)


def test_probe_fine_tuning_settings_come_from_the_spec():
    spec = kind.ProbesSpec(finetune_steps=1, finetune_train_items=10, finetune_test_items=5, finetune_batch=3,
                           finetune_lr=0.01)
    assert kind._finetune_settings(spec) == FinetuneSettings(train_items=10, test_items=5, steps=1, batch_size=3,
                                                             lr=0.01)
    assert kind._finetune_settings(kind.ProbesSpec()) is None


def test_a_too_short_corpus_names_the_length_a_slice_needs():
    with pytest.raises(ScenarioError, match=r"too few for 3 slice\(s\) of more than seq_len \+ 1 = 17"):
        _run(corpus={**TINY["corpus"], "n_sentences": 1})
