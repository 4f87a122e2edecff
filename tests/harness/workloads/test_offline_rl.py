"""The offline_rl kind (harness/workloads/offline_rl.py) on a tiny Minari dataset made in the test: every method
trains from the loaded dataset and is rolled out; rows, counted NFE, normalised scores and cache use; bad input
named by key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from harness.workloads.base import RunContext
from harness.workloads.offline_rl import OfflineRLScenario, run
from tests.methods.offline_rl.minari_fixture import make_tiny_hopper, serve_from_the_kind

ROOT = Path(__file__).resolve().parents[3]
TRAIN = {"horizon": 4, "batch": 32, "teacher_steps": 4, "reward_epochs": 1, "student_steps": 2,
         "baseline_steps": 4, "baseline_hidden": [8], "diffuser_steps": 4}
ALL = [{"name": "edm", "method": "teacher", "steps": 4}, {"name": "ddim", "method": "ddim", "steps": 3},
       {"name": "ddpm", "method": "ddpm", "steps": 3}, {"name": "ractd", "method": "student"},
       {"name": "ractd_2", "method": "student", "nfe": 2}, {"name": "ctd", "method": "ctd"},
       {"name": "diffuser", "method": "diffuser", "steps": 3}, {"name": "bc", "method": "bc"},
       {"name": "iql", "method": "iql"}, {"name": "td3bc", "method": "td3bc"}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_hopper(tmp_path_factory.mktemp("minari"), episodes=4, max_steps=30)


@pytest.fixture
def patched(tiny, monkeypatch, tmp_path):
    serve_from_the_kind(monkeypatch, tiny, tmp_path / "models")


def _scenario(**workload) -> OfflineRLScenario:
    base = {"dataset": "tiny-hopper", "dataset_size": "test", "methods": ALL, "train": TRAIN,
            "rollout": {"episodes": 2, "max_steps": 4, "timing_repeats": 1}}
    return OfflineRLScenario.model_validate({"name": "t", "workload": base | workload})


def test_every_method_trains_from_the_minari_dataset_and_rolls_out(patched):
    out = run(_scenario(), RunContext(seed_seq=np.random.SeedSequence(0)))
    m = out.metrics
    assert len(m) == 2 * len(ALL)
    nfe = m.groupby("method")["nfe"].first().to_dict()
    assert nfe == {"edm": 7, "ddim": 3, "ddpm": 3, "ractd": 1, "ractd_2": 2, "ctd": 1, "diffuser": 3, "bc": 1,
                   "iql": 1, "td3bc": 1}
    assert np.allclose(m["normalized_score"], 2.0 * m["episode_return"])
    assert (m["episode_length"].between(1, 4)).all() and (m["action_ms"] > 0).all()
    assert m.loc[m["method"] == "ctd", "reward_weight"].eq(0.0).all()
    assert m.loc[m["method"] == "ractd", "reward_weight"].eq(1.0).all()
    assert m.loc[m["method"] == "bc", "reward_weight"].isna().all()
    assert out.info["dataset"]["transitions"] > 0 and len(out.info["dataset_returns"]) == 4
    assert set(out.info["cached_parts"]) >= {"teacher", "reward", "student", "diffuser", "bc", "iql", "td3bc"}
    assert not any(out.info["cached_parts"].values())
    again = run(_scenario(methods=[ALL[3], ALL[7]]), RunContext(seed_seq=np.random.SeedSequence(0)))
    assert all(again.info["cached_parts"].values())
    for method in ("ractd", "bc"):  # the loaded models act as the trained ones did
        assert np.allclose(again.metrics.loc[again.metrics["method"] == method, "episode_return"],
                           m.loc[m["method"] == method, "episode_return"])


@pytest.mark.parametrize("workload, key", [
    ({"methods": [{"name": "a", "method": "cql"}]}, "method"),
    ({"methods": [{"name": "a", "method": "bc"}, {"name": "a", "method": "iql"}]}, "listed twice"),
    ({"methods": [{"name": "a", "method": "bc", "nfe": 2}]}, "nfe"),
    ({"train": {"network": "cpu_small", "horizon": 6}}, "horizon"),
    ({"dataset": "walker-medium"}, "unknown dataset"),
    ({"rollout": {"episodes": 0}}, "episodes"),
    # every sampler runs a Karras grid of `steps` bins, not only the teacher's Heun
    *[({"methods": [{"name": "a", "method": m, "steps": 1}]}, f"the {m} sampler needs at least 2 bins")
      for m in ("teacher", "ddim", "ddpm", "diffuser")],
])
def test_bad_input_is_named(patched, workload, key):
    with pytest.raises(ValidationError, match=key):
        _scenario(**workload)


def test_cli_exits_2_with_one_line(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: t\nkind: offline_rl\nworkload:\n  dataset: hopper-medium-local\n"
                        "  methods: [{name: a, method: teacher, steps: 1}]\n")
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "workload.methods.0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
