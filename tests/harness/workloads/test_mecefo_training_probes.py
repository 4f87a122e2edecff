"""Scenario kind ``mecefo_training`` with the MLA + MoE model and the downstream probes (the paper's Tables 4, 5
and 10): both run end to end and deterministically, and their bad keys are one line naming the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.workloads.base import RunContext
from harness.workloads.mecefo_training import MeCeFOTrainingScenario, run
from methods.mecefo.probes import FINETUNE_TASKS, ZERO_SHOT_TASKS

ROOT = Path(__file__).parents[3]
TINY = {"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 24, "seq_len": 32},
        "corpus": {"n_sentences": 300, "eval_sentences": 40, "eval_batches": 1}, "n_ranks": 3, "batch_size": 2,
        "steps": 4, "eval_every": 2, "record_every": 2}
PROBES = {"zero_shot_items": 8, "finetune_steps": 2, "finetune_train_items": 16, "finetune_test_items": 8}


def _run(**workload):
    scenario = MeCeFOTrainingScenario.model_validate({"name": "m", "workload": {**TINY, **workload}})
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))


def test_probes_are_reported_in_run_info_and_deterministic():
    first = _run(probes=PROBES).info["probes"]
    assert set(first["zero_shot"]) == set(ZERO_SHOT_TASKS) and set(first["finetune"]) == set(FINETUNE_TASKS)
    assert first == _run(probes=PROBES).info["probes"]
    assert "probes" not in _run().info  # off unless asked for


def test_moe_mla_model_trains_under_failures_with_measured_errors():
    model = {**TINY["model"], "architecture": "moe_mla", "n_experts": 4, "top_k": 2, "d_ff_expert": 8, "kv_rank": 4}
    output = _run(model=model, failures={"outages": [{"rank": 1, "start": 1, "end": 3}]})
    measured = output.metrics.dropna(subset=["grad_rel_error"])
    assert measured["step"].tolist() == [1, 2] and (measured["grad_rel_error"] > 0).all()
    assert output.info["parameters"] > 0 and np.isfinite(output.metrics["loss"]).all()


@pytest.mark.parametrize(("override", "key"), [
    ("workload.model.top_k=5", "workload.model"),
    ("workload.model.architecture=mamba", "workload.model.architecture"),
    ("workload.probes.zero_shot_items=-1", "workload.probes.zero_shot_items"),
    ("workload.probes.finetune_lr=0", "workload.probes.finetune_lr"),
])
def test_bad_input_names_the_key(override, key):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")):
        load_scenario(ROOT / "scenarios/mecefo/training_moe.yaml", [override])
