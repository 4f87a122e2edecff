"""``compressed_training``: ``workload.dense_parameters`` (the authors' dense embedding and LM head) and what
run.json's info reports: names sent dense by choice, the share of parameters compressed, dense fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.workloads.base import RunContext
from harness.workloads.compressed_training import NETWORK_TASKS, CompressedTrainingScenario, Seeds, run
from methods.compress import make_compressor

GPT = dict(name="tiny_gpt", d_model=16, d_ff=32, n_heads=2, seq_len=16, batch_size=2, n_sentences=200,
           eval_sentences=30, eval_batches=1)
LOGISTIC = dict(name="logistic", n_samples=2000, batch_size=50)
ARC = {"ratio": 0.2, "rank": 2}


def _scenario(task, params=ARC, method="arc_topk", **workload):
    defaults = dict(n_workers=2, steps=4, eval_every=2, optimizer=dict(name="adamw", lr=1e-3))
    return CompressedTrainingScenario.model_validate(
        dict(name="ct", technique=dict(name=method, params=params),
             workload={**defaults, "task": task, **workload}))


def _run(scenario):
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(scenario.seed)))


def _gpt_shapes(scenario) -> dict[str, tuple[int, ...]]:
    seeds = Seeds.from_sequence(np.random.SeedSequence(scenario.seed))
    task = NETWORK_TASKS["tiny_gpt"](scenario.workload.task, 2, seeds)
    return {n: tuple(p.shape) for n, p in task.model.named_parameters()}


def test_tiny_gpt_sends_embedding_and_head_dense_and_bytes_show_it():
    plain_scenario = _scenario(GPT)
    dense_scenario = _scenario(GPT, dense_parameters=["embed_tokens*", "lm_head*"])
    plain, dense = _run(plain_scenario), _run(dense_scenario)
    assert dense.info["dense_parameters"] == ["embed_tokens.weight", "lm_head.weight"]
    assert plain.info["dense_parameters"] == []
    shapes = _gpt_shapes(dense_scenario)
    arc = make_compressor("arc_topk", **ARC)
    extra = sum(4 * int(np.prod(shapes[n])) - sum(c.size_bytes for c in arc.comm_plan(shapes[n], 2))
                for n in ("embed_tokens.weight", "lm_head.weight"))
    assert extra > 0
    diff = dense.metrics["payload_bytes_per_worker"] - plain.metrics["payload_bytes_per_worker"]
    assert (diff == extra).all()
    # share of parameter elements really compressed: every matrix, minus the two chosen ones (1-D norms are dense)
    total = sum(int(np.prod(s)) for s in shapes.values())
    matrices = sum(int(np.prod(s)) for s in shapes.values() if len(s) == 2)
    chosen = sum(int(np.prod(shapes[n])) for n in ("embed_tokens.weight", "lm_head.weight"))
    assert plain.info["compressed_parameter_share"] == pytest.approx(matrices / total)
    assert dense.info["compressed_parameter_share"] == pytest.approx((matrices - chosen) / total)
    # the compressor never saw the chosen tensors; its own fallbacks are the 1-D norm weights, every step
    assert not set(dense.info["dense_fallbacks"]) & {"embed_tokens.weight", "lm_head.weight"}
    vectors = [n for n, s in shapes.items() if len(s) == 1]
    assert vectors and sorted(dense.info["dense_fallbacks"]) == sorted(n for n in shapes if n not in
                                                                     ("embed_tokens.weight", "lm_head.weight"))
    assert dense.info["dense_fallback_calls"] == 4 * len(vectors)
    assert {dense.info["dense_fallbacks"][n]["reason"] for n in vectors} == {"vector"}


def test_a_pattern_that_matches_no_parameter_names_the_key():
    with pytest.raises(ScenarioError, match=r"workload\.dense_parameters: 'lm_haed\*' match no parameter"):
        _run(_scenario(GPT, dense_parameters=["embed_tokens*", "lm_haed*"]))
    # the synthetic tasks' one tensor is known before any run: a validation error
    with pytest.raises(ValidationError, match=r"workload\.dense_parameters: 'w' match no parameter of the logistic"):
        _scenario(LOGISTIC, dense_parameters=["w"])


def test_dense_fallbacks_count_every_unprofitable_call():
    # x is viewed as 10 x 4; ARC at rank 4 sends 10*4 + K*4 >= 40 elements, so with min_compression_rate 1 every
    # call falls back to dense; with the default (0) it always compresses
    always = _run(_scenario(LOGISTIC, params={"ratio": 0.2, "rank": 4, "min_compression_rate": 1.0}))
    assert always.info["dense_fallbacks"] == {"x": {"calls": 4, "dense": 4, "reason": "unprofitable"}}
    assert always.info["dense_fallback_calls"] == 4 and always.info["compressed_parameter_share"] == 0.0
    never = _run(_scenario(LOGISTIC, params={"ratio": 0.2, "rank": 4}))
    assert never.info["dense_fallbacks"] == {"x": {"calls": 4, "dense": 0, "reason": None}}
    assert never.info["dense_fallback_calls"] == 0
    whole = _run(_scenario(LOGISTIC, dense_parameters=["x"]))
    assert whole.info["dense_parameters"] == ["x"] and whole.info["compressed_parameter_share"] == 0.0
    assert whole.info["dense_fallbacks"] == {}
    assert (whole.metrics["payload_bytes_per_worker"] == 40 * 8).all()  # x is float64


def test_powersgd_counts_the_matrices_its_default_sends_dense():
    """x is viewed as 10 x 4: PowerSGD at rank 3 would send 3 (10 + 4) = 42 >= 40 values, so by default (rate 1) x
    goes dense at every call, run.json counts it and each step sends x's 40 float64 values once; at rank 2
    (28 values) it is compressed."""
    dense = _run(_scenario(LOGISTIC, params={"rank": 3}, method="powersgd"))
    assert dense.info["dense_fallbacks"] == {"x": {"calls": 4, "dense": 4, "reason": "unprofitable"}}
    assert dense.info["dense_fallback_calls"] == 4 and dense.info["compressed_parameter_share"] == 0.0
    assert (dense.metrics["payload_bytes_per_worker"] == 40 * 8).all() and (dense.metrics["n_collectives"] == 1).all()
    low = _run(_scenario(LOGISTIC, params={"rank": 2}, method="powersgd"))
    assert low.info["dense_fallback_calls"] == 0 and low.info["compressed_parameter_share"] == 1.0
    assert (low.metrics["payload_bytes_per_worker"] == 2 * (10 + 4) * 8).all()
