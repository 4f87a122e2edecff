"""Scenario kind ``compressed_training``: deterministic for a seed, loss decreases, bytes are the compressor's,
dense warm-up, every task runs, bad input is a clear validation error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from harness.workloads.base import RunContext
from harness.workloads.compressed_training import (
    CompressedTrainingScenario,
    TextClassificationTask,
    make_text_classification,
    run,
)
from methods.compress import make_compressor


def _scenario(task, method="arc_topk", params=None, seed=0, **workload):
    params = {"ratio": 0.2, "rank": 2} if params is None else params
    defaults = dict(n_workers=2, steps=20, eval_every=10, record_every=1)
    return CompressedTrainingScenario.model_validate(
        dict(name="ct", seed=seed, technique=dict(name=method, params=params), workload={**defaults, "task": task, **workload})
    )


def _run(scenario):
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(scenario.seed))).metrics


LOGISTIC = dict(name="logistic", n_samples=2000, batch_size=50)


def test_same_seed_same_metrics_and_other_seed_differs():
    a = _run(_scenario(LOGISTIC, optimizer=dict(lr=0.1)))
    b = _run(_scenario(LOGISTIC, optimizer=dict(lr=0.1)))
    c = _run(_scenario(LOGISTIC, optimizer=dict(lr=0.1), seed=1))
    assert a.equals(b)
    assert not np.allclose(a["loss"], c["loss"])


def test_loss_decreases_on_a_tiny_problem_and_bytes_match_comm_plan():
    m = _run(_scenario(LOGISTIC, steps=40, optimizer=dict(lr=0.2)))
    assert m["loss"].iloc[-1] < 0.8 * m["loss"].iloc[0]
    assert m["grad_norm"].iloc[-1] < m["grad_norm"].iloc[0]
    plan = make_compressor("arc_topk", ratio=0.2, rank=2).comm_plan((10, 4), 2, dtype=torch.float64)
    assert (m["payload_bytes_per_worker"] == sum(c.size_bytes for c in plan)).all()
    assert m["cum_payload_bytes_per_worker"].iloc[-1] == 40 * sum(c.size_bytes for c in plan)


def test_dense_warmup_rows_send_dense_bytes():
    m = _run(_scenario(LOGISTIC, steps=6, warmup_steps=3, error_feedback=dict(name="ef14")))
    assert list(m["dense"]) == [True, True, True, False, False, False]
    assert (m.loc[m["dense"], "payload_bytes_per_worker"] == 40 * 8).all()
    assert (m.loc[~m["dense"], "payload_bytes_per_worker"] < 40 * 8).all()


def test_record_every_keeps_first_multiples_and_last():
    m = _run(_scenario(LOGISTIC, steps=23, record_every=10))
    assert list(m["step"]) == [0, 9, 19, 22]
    assert m["cum_payload_bytes_per_worker"].iloc[-1] == 23 * m["payload_bytes_per_worker"].iloc[-1]


@pytest.mark.parametrize("task,optimizer,extra", [
    (dict(name="robust_shifted", blocks=20, noise_blocks=10), dict(name="sgd", lr=0.01), {"dist"}),
    (dict(name="digits", model="logreg", batch_size=8), dict(name="momentum", lr=0.05), {"accuracy", "eval_loss"}),
    (dict(name="digits", model="cnn", channels=(4, 4), batch_size=8), dict(name="adam", lr=1e-3), {"accuracy"}),
    (dict(name="tiny_gpt", d_model=16, d_ff=32, n_heads=2, seq_len=16, batch_size=2, n_sentences=200,
          eval_sentences=30, eval_batches=1), dict(name="adamw", lr=1e-3, schedule="cosine"), {"eval_loss"}),
    (dict(name="text_classification", n_train=200, n_test=50, d_model=16, d_ff=16, n_heads=2, batch_size=8),
     dict(name="adamw", lr=1e-3), {"accuracy", "f1", "mcc"}),
])
def test_every_task_runs_and_reports_its_metrics(task, optimizer, extra):
    m = _run(_scenario(task, steps=10, eval_every=5, optimizer=optimizer))
    assert extra <= set(m.columns)
    assert np.isfinite(m["loss"]).all()
    assert m[sorted(extra)].iloc[-1].notna().all()


@pytest.mark.parametrize("rule", ["planted", "majority", "order"])
def test_text_classification_rules_hold(rule):
    task = TextClassificationTask(rule=rule, seq_len=12, vocab_size=8)
    x, y = make_text_classification(task, 300, seed=3)
    assert 0.35 < float(y.double().mean()) < 0.65
    count0, count1 = (x == 0).sum(1), (x == 1).sum(1)
    if rule == "planted":
        assert torch.equal((count0 > 0).long(), y)
    elif rule == "majority":
        assert torch.equal((count0 > count1).long(), y)
    else:
        first0, first1 = (x == 0).long().argmax(1), (x == 1).long().argmax(1)
        assert torch.equal((first0 < first1).long(), y)


def test_bad_input_names_the_field():
    with pytest.raises(ValidationError, match="technique"):
        _scenario(LOGISTIC, method="topk", params={"rank": 3})
    with pytest.raises(ValidationError, match="error_feedback"):
        _scenario(LOGISTIC, error_feedback=dict(name="ef21m", params=dict(eta=2.0)))
    with pytest.raises(ValidationError, match="n_samples"):
        _scenario(dict(name="logistic", n_samples=1001))
    with pytest.raises(ValidationError):
        _scenario(dict(name="mnist"))
