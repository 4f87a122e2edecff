"""The kv_quality kind (harness/workloads/kv_quality.py): each output's rows on a barely trained tiny model (weights
cached in a temporary folder), outlier heads chosen by sensitivity, and bad input named by key (exit 2)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("kvpress", reason="the kv extra is not installed")

from harness.config.loader import validate_data  # noqa: E402
from harness.errors import ScenarioError  # noqa: E402
from harness.workloads.base import RunContext  # noqa: E402
from harness.workloads.kv_quality import KVQualityScenario, run  # noqa: E402

MODEL = {"train_steps": 2, "batch_size": 2, "train_context": 48}


@pytest.fixture(autouse=True)
def _weights_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_KV_MODELS", str(tmp_path))


def _run(**workload):
    scenario = KVQualityScenario.model_validate({"name": "t", "workload": {"model": MODEL, **workload}})
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))


def test_accuracy_rows_cover_methods_budgets_contexts_tasks():
    out = _run(methods=["full", "streaming_llm", "chelsea"], budgets=[0.2, 0.5], context_tokens=[64],
               tasks=["recall", "copy"], samples=2, max_distance=8)
    m = out.metrics
    assert len(m) == 2 * (1 + 2 * 2)
    assert set(m["method"]) == {"full", "streaming_llm", "chelsea"} and (m["model_seed"] == 0).all()
    assert "64" in out.info["text_loss"] and out.info["training"]["cached"] == 0.0
    assert _run(methods=["full"], context_tokens=[64], tasks=["recall"], samples=1,
                max_distance=8).info["training"]["cached"] == 1.0


def test_head_sensitivity_has_one_row_per_kv_head_and_outliers_follow_it():
    sens = _run(output="head_sensitivity", budgets=[0.2], context_tokens=[64], samples=4, max_distance=8).metrics
    assert len(sens) == 2 * 2 and (sens["relative_error"] >= 0).all()
    out = _run(methods=["chelsea"], budgets=[0.2], context_tokens=[64], tasks=["recall"], samples=1,
               outlier_fraction=0.25, max_distance=8)
    assert len(out.info["outlier_heads"]) == 1


@pytest.mark.parametrize(("workload", "message"), [
    ({"budgets": [0.0]}, "workload.budgets"), ({"budgets": [0.2, 1.2]}, "workload.budgets"),
    ({"chunk_size": 0}, "workload.chunk_size"), ({"recent_tokens": 600}, "recent_tokens"),
    ({"depths": [1.5]}, "workload.depths"),
    ({"output": "key_similarity", "context_tokens": [64], "max_distance": 64}, "workload.max_distance"),
])
def test_bad_input_names_the_key(workload, message):
    with pytest.raises(ScenarioError, match=message):
        validate_data({"name": "t", "kind": "kv_quality", "workload": workload}, "s.yaml")
