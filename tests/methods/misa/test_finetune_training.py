"""Scenario kind ``finetune_training`` (harness/workloads/finetune_training.py) and its loops (methods/misa/train.py):
scenario files load, bad input names the key, the base model is cached, a run gives tidy rows with measured
state bytes (MISA's far below full AdamW's), LoRA's rank is matched to the budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.workloads.base import RunContext
from harness.workloads.finetune_training import FinetuneTrainingScenario, run
from methods.misa import train
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

pytest.importorskip("peft")

ROOT = Path(__file__).parents[3]
TINY = {"model": {"d_model": 16, "d_ff": 32, "n_heads": 2, "n_layers": 2, "seq_len": 40},
        "pretrain": {"steps": 3, "batch_size": 4, "n_items": 200}, "steps": 6, "batch_size": 4, "eval_every": 3,
        "eval_examples": 4}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_MISA_MODELS", str(tmp_path / "models"))


def _run(seed: int = 0, **workload):
    merged = {**TINY, **workload}
    scenario = FinetuneTrainingScenario.model_validate({"name": "f", "workload": merged})
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(seed)))


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios" / "misa").glob("*.yaml")), ids=lambda p: p.name)
def test_scenario_files_load(path):
    scenario = load_scenario(path)
    raw = yaml.safe_load(path.read_text())
    assert (scenario.kind, scenario.name) == (raw["kind"], raw["name"])
    assert isinstance(scenario, FinetuneTrainingScenario) == (raw["kind"] == "finetune_training")


@pytest.mark.parametrize(("override", "key"), [
    ("workload.method.name=sgd", "workload.method.name"),
    ("workload.method.delta=0", "workload.method.delta"),
    ("workload.tasks=[add, poetry]", "workload.tasks.1"),
    ("workload.model.n_heads=3", "workload.model"),
    # pre-training compares adamw, galore and misa only (the file sweeps the method, so the sweep axis is set)
    ("sweep.product.workload.method.name=[adamw, lisa]",
     "workload.method.name: pre-training compares adamw, galore and misa, got 'lisa'"),
])
def test_bad_input_names_the_key(override, key):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")):
        load_scenario(ROOT / "scenarios/misa/pretrain.yaml", [override])


def test_finetune_rows_and_measured_state():
    misa = _run(method={"name": "misa", "delta": 0.05, "interval": 2}, grad_norms=True)
    full = _run(method={"name": "adamw"}, grad_norms=True)
    # the tiny base is not committed: the first run trains it into the (empty) cache, the second reads it there
    assert (misa.info["base_source"], full.info["base_source"]) == ("trained", "cache")
    for out in (misa, full):
        m = out.metrics
        assert list(m["step"]) == [0, 3, 6]
        assert {f"acc_{t}" for t in ("add", "mod", "category", "larger", "even", "next")} <= set(m.columns)
        assert m["eval_loss"].notna().all() and (m["wall_s"].diff().dropna() > 0).all()
        assert out.info["step_peak_bytes"] > 0 and out.info["saved_activation_bytes"] > 0
    params = full.info["parameters"]
    assert full.info["peak_optimizer_state_bytes"] >= 8 * params  # fp32 exp_avg + exp_avg_sq of everything
    assert 0 < misa.info["peak_optimizer_state_bytes"] < 8 * 0.05 * params + 64
    assert misa.info["saved_activation_bytes"] < full.info["saved_activation_bytes"]
    # full fine-tuning sees every matrix's gradient; every norm is positive
    norms = full.info["grad_norms"]
    assert len(norms) == 7 * 2 and all(n["grad_norm"] > 0 for n in norms)


def test_same_seed_same_run():
    a, b = _run(seed=3, method={"name": "lora"}), _run(seed=3, method={"name": "lora"})
    cols = ["eval_loss", "train_loss", "acc_add"]
    assert list(a.metrics["step"]) == [0, 3, 6] and np.isfinite(a.metrics["eval_loss"]).all()
    assert a.metrics[cols].equals(b.metrics[cols])
    other = _run(seed=4, method={"name": "lora"})  # and the seed is really used
    assert not np.allclose(a.metrics["eval_loss"], other.metrics["eval_loss"])


def test_pretrain_mode_reports_perplexity():
    out = _run(mode="pretrain", method={"name": "galore", "delta": 0.25})
    m = out.metrics
    assert np.allclose(m["perplexity"], np.exp(m["eval_loss"]))
    assert "base_held_out_loss" not in out.info


def test_base_model_is_cached(tmp_path):
    cfg = train.model_config(16, 32, 2, 1, 16)
    settings = train.PretrainSettings(steps=2, batch_size=2, n_items=50)
    first, info1 = train.pretrained_base(cfg, settings, tmp_path)
    second, info2 = train.pretrained_base(cfg, settings, tmp_path)
    assert (info1["cached"], info2["cached"]) == (False, True)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    other, info3 = train.pretrained_base(cfg, train.PretrainSettings(steps=3, batch_size=2, n_items=50), tmp_path)
    assert not info3["cached"]


@pytest.mark.parametrize("delta", [0.01, 0.05, 0.2, 0.5])
def test_lora_rank_matches_the_budget(delta):
    model = LlamaFamily(LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=4, vocab_size=46), seed=0)
    total = sum(p.numel() for p in model.parameters())
    r = train.lora_rank_for_budget(model, delta)
    per_rank = sum(m.in_features + m.out_features for n, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and n.startswith("layers."))
    assert r >= 1 and delta * total < (r + 1) * per_rank  # the largest rank: one more would not fit
    assert r * per_rank <= delta * total or r == 1  # and it fits, unless even one rank does not (then 1)
