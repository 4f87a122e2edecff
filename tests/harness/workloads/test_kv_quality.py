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


def test_context_tokens_are_bounded_by_the_tiny_models_positions():
    with pytest.raises(ScenarioError, match=r"workload\.context_tokens\.0: expected an integer <= 8192"):
        validate_data({"name": "t", "kind": "kv_quality", "workload": {"context_tokens": [10**12]}}, "s.yaml")


KEY_SIMILARITY = {"name": "t", "kind": "kv_quality",
                  "workload": {"output": "key_similarity", "context_tokens": [96], "max_distance": 48}}
QUALITY = {"name": "t", "kind": "kv_quality",
           "workload": {"methods": ["full", "snapkv", "chelsea"], "context_tokens": [96, 192], "sink_tokens": 2,
                        "recent_tokens": 8}}


@pytest.mark.parametrize(("data", "overrides", "key"), [
    (KEY_SIMILARITY, ["workload.context_tokens=[1]", "workload.max_distance=1"], "workload.context_tokens"),
    (KEY_SIMILARITY, ["workload.recent_tokens=500"], "workload.recent_tokens"),
    (KEY_SIMILARITY, ["workload.context_tokens=[40]"], "workload.context_tokens"),
    (KEY_SIMILARITY, ["workload.max_distance=200"], "workload.max_distance"),
    (QUALITY, ["workload.context_tokens=[5]"], "workload.context_tokens"),
    (QUALITY, ["workload.recent_tokens=500"], "workload.recent_tokens"),
    (QUALITY, ["workload.snapkv_window=96"], "workload.snapkv_window"),
    (QUALITY, ["workload.context_tokens=[12]"], "workload.context_tokens"),
])
def test_a_context_too_short_blames_the_key_set(data, overrides, key):
    with pytest.raises(ScenarioError) as err:
        validate_data(data, "s.yaml", overrides)
    line = str(err.value)
    assert f"{key}: " in line and f"(set by --set {overrides[0]})" in line


def test_snapkv_needs_a_prefill_longer_than_its_window():
    """kvpress's SnapKV (and merging, which scores with it) asserts a prefill longer than the window: refused at
    validation, and a window one token shorter than the context runs."""
    with pytest.raises(ScenarioError, match=r"workload\.snapkv_window: merging observes"):
        validate_data({"name": "t", "kind": "kv_quality",
                       "workload": {"methods": ["merging"], "context_tokens": [64], "snapkv_window": 64}}, "s.yaml")
    out = _run(methods=["snapkv"], budgets=[0.5], context_tokens=[64], tasks=["recall"], samples=1, max_distance=8,
               snapkv_window=63)
    assert len(out.metrics) == 1
