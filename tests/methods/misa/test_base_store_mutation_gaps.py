"""Gaps in the tests of `methods.misa.base_store` found by a mutation audit.

- a manifest entry records the key, the model config, the pre-training settings and the command, with float info
  rounded to four places and other info as it is;
- the default key is the one `methods.misa.train.pretrained_base` looks up (the loop's current version).
"""

from __future__ import annotations

from dataclasses import asdict

import torch

from methods import weights_store
from methods.misa import base_store, train

CFG = train.model_config(16, 32, 2, 1, 16)
SETTINGS = train.PretrainSettings(steps=2, batch_size=2, n_items=50)


def test_a_manifest_entry_records_the_settings_and_rounds_float_info(tmp_path):
    saved = {"state": {"w": torch.zeros(2)}, "info": {"held_out_loss": 1.2345678, "steps": 2}}
    path = base_store.commit(saved, "abc", CFG, SETTINGS, tmp_path, command="make it")
    entry = weights_store.read_manifest(tmp_path)[path.name]
    assert path.name == "base-abc.pt"
    assert (entry["key"], entry["command"], entry["held_out_loss"], entry["steps"]) == ("abc", "make it", 1.2346, 2)
    assert entry["pretrain"] == asdict(SETTINGS) and entry["config"]["n_layers"] == 1


def test_the_default_key_is_the_current_pretraining_version():
    key = base_store.base_key(CFG, SETTINGS)
    assert key == base_store.base_key(CFG, SETTINGS, train.CACHE_VERSION)
    assert key != base_store.base_key(CFG, SETTINGS, train.CACHE_VERSION + 1)
    assert len(key) == 16 and int(key, 16) >= 0
