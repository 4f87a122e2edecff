"""The committed MISA base (methods/misa/base_store.py): preferred over the cache when its key and sha256 match,
missed when the settings change or the file is altered, and present for the settings the MISA scenarios ask for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.config.loader import load_scenario
from methods.misa import base_store, train

ROOT = Path(__file__).parents[3]
CFG = train.model_config(16, 32, 2, 1, 16)
SETTINGS = train.PretrainSettings(steps=2, batch_size=2, n_items=50)


def _committed_marker(store: Path) -> dict:
    """Train the tiny base into a cache, then commit a copy whose weights differ (all +1), so we can tell them apart."""
    model, info = train.pretrained_base(CFG, SETTINGS, store / "cache", store / "none")
    saved = {"state": {k: v + 1 for k, v in model.state_dict().items()},
             "info": {"held_out_loss": info["held_out_loss"], "steps": SETTINGS.steps}}
    base_store.commit(saved, base_store.base_key(CFG, SETTINGS), CFG, SETTINGS, store / "store")
    return saved


def test_committed_weights_come_before_the_cache(tmp_path):
    saved = _committed_marker(tmp_path)
    model, info = train.pretrained_base(CFG, SETTINGS, tmp_path / "cache", tmp_path / "store")
    assert info["source"] == "committed"
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved["state"].items())
    # without the store the cached (different) weights are used
    cached, info = train.pretrained_base(CFG, SETTINGS, tmp_path / "cache", tmp_path / "none")
    assert info["source"] == "cache"
    assert not torch.equal(cached.lm_head.weight, model.lm_head.weight)


def test_a_settings_change_misses_the_committed_base(tmp_path):
    _committed_marker(tmp_path)
    changed = train.PretrainSettings(steps=3, batch_size=2, n_items=50)
    _, info = train.pretrained_base(CFG, changed, tmp_path / "cache", tmp_path / "store")
    assert info["source"] == "trained"
    other_model = train.model_config(16, 32, 2, 2, 16)
    _, info = train.pretrained_base(other_model, SETTINGS, tmp_path / "cache", tmp_path / "store")
    assert info["source"] == "trained"


def test_an_altered_file_fails_its_sha256_and_falls_back(tmp_path):
    _committed_marker(tmp_path)
    path = tmp_path / "store" / base_store.weights_name(base_store.base_key(CFG, SETTINGS))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    saved, why = base_store.load_committed(base_store.base_key(CFG, SETTINGS), tmp_path / "store")
    assert saved is None and "sha256" in why
    _, info = train.pretrained_base(CFG, SETTINGS, tmp_path / "cache", tmp_path / "store")
    assert info["source"] == "cache"


@pytest.mark.parametrize("name", ["finetune.yaml", "ablation.yaml"])
def test_the_scenarios_base_is_committed(name):
    """The fine-tuning scenarios' base (both profiles use the scenario's pretrain block) is in results/misa_base."""
    w = load_scenario(ROOT / "scenarios" / "misa" / name).workload
    cfg = train.model_config(w.model.d_model, w.model.d_ff, w.model.n_heads, w.model.n_layers, w.model.seq_len)
    p = w.pretrain
    key = base_store.base_key(cfg, train.PretrainSettings(p.steps, p.batch_size, p.lr, p.n_items, p.seed))
    saved, why = base_store.load_committed(key)
    assert saved is not None, why
    entry = json.loads((base_store.STORE / "manifest.json").read_text())["models"][base_store.weights_name(key)]
    assert entry["pretrain"]["steps"] == p.steps and entry["held_out_loss"] == round(saved["info"]["held_out_loss"], 4)
