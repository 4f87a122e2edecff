"""Gaps in the tests of `offline_rl` found by a mutation audit.

Closed here: on a tiny Minari dataset of 4 episodes with two cheap baselines, the rows number their episodes from
0 and carry the method's kind next to its label, info names the dataset's size profile and episode count, and
``progress`` is told (methods done, methods) after each method.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.workloads.base import RunContext
from harness.workloads.offline_rl import OfflineRLScenario, run
from tests.methods.offline_rl.minari_fixture import make_tiny_hopper, serve_from_the_kind


@pytest.fixture
def patched(tmp_path, monkeypatch):
    tiny = make_tiny_hopper(tmp_path / "minari", episodes=4, max_steps=30)
    serve_from_the_kind(monkeypatch, tiny, tmp_path / "models")


def test_rows_info_and_progress_of_two_baselines(patched):
    scenario = OfflineRLScenario.model_validate({"name": "t", "workload": {
        "dataset": "tiny-hopper", "dataset_size": "test",
        "methods": [{"name": "first", "method": "bc"}, {"name": "second", "method": "iql"}],
        "train": {"horizon": 4, "batch": 32, "baseline_steps": 4, "baseline_hidden": [8]},
        "rollout": {"episodes": 2, "max_steps": 3, "timing_repeats": 1}}})
    calls = []
    out = run(scenario, RunContext(seed_seq=np.random.SeedSequence(0), progress=lambda d, t: calls.append((d, t))))
    m = out.metrics
    assert m["method"].tolist() == ["first", "first", "second", "second"]
    assert m["method_kind"].tolist() == ["bc", "bc", "iql", "iql"]
    assert m["episode"].tolist() == [0, 1, 0, 1]
    assert out.info["dataset"]["size"] == "test" and out.info["dataset"]["episodes"] == 4
    assert calls == [(1, 2), (2, 2)]
