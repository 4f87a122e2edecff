"""Kinds that set torch's intra-op thread count for their work (moc_decode, decision_latency measured,
finetune_memory, greedylore_contraction, offline_rl, kv_quality) run in-process in sweeps and figures: each must
hand the caller's count back. Checked on the cheap ones, with the caller at a count the kind does not use."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.workloads import decision_latency, greedylore_contraction, moc_decode
from harness.workloads.base import RunContext

CASES = {
    "moc_decode": lambda: moc_decode.run(
        moc_decode.MoCDecodeScenario.model_validate(
            {"name": "d", "workload": {"d_model": 32, "d_ff": 80, "n_heads": 4, "context": 8, "threads": 1,
                                       "k_fractions": [0.5], "repeats": 2, "warmup": 1}}),
        RunContext(seed_seq=np.random.SeedSequence(0))),
    "decision_latency": lambda: decision_latency.run(
        decision_latency.DecisionLatencyScenario.model_validate(
            {"name": "t", "workload": {"model": {"preset": "toy_mlp"},
                                       "per_call": {"source": "measured", "repeats": 2, "threads": 1},
                                       "methods": [{"name": "s", "sampler": "student", "steps": 1}],
                                       "control": {"ticks": 10}}}),
        RunContext(seed_seq=np.random.SeedSequence(0))),
    "greedylore_contraction": lambda: greedylore_contraction.run(
        greedylore_contraction.ContractionScenario.model_validate(
            {"name": "c", "workload": {"trials": 1, "steps": 3}}),
        RunContext(seed_seq=np.random.SeedSequence(0))),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_kind_restores_the_callers_thread_count(kind):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        CASES[kind]()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
