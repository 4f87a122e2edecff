"""Gaps in the tests of `methods.kvcache.model_store` found by a mutation audit.

- a manifest entry records the (config, seed) key and the training info rounded to four places, while the
  weights file keeps the full info that `methods.kvcache.tasks.trained_model` returns;
- ``python -m methods.kvcache.model_store`` commits seeds 0, 1 and 2 by default, each with its own command.
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers", reason="the kv extra is not installed")

from methods import weights_store  # noqa: E402
from methods.kvcache import model_store, tasks  # noqa: E402
from methods.kvcache.tasks import TinyModelConfig, build_model, trained_model  # noqa: E402

TINY = TinyModelConfig(layers=1, hidden_size=16, intermediate_size=32, train_steps=2, batch_size=2, train_context=48)


def test_the_manifest_rounds_the_info_and_the_weights_keep_it_whole(tmp_path):
    info = {"train_loss": 1.23456789, "train_seconds": 2.5}
    path = model_store.commit(build_model(TINY), info, TINY, 7, tmp_path)
    entry = weights_store.read_manifest(tmp_path)[path.name]
    assert path.name == f"tiny-llama-{TINY.key(7)}.pt" and entry["key"] == TINY.key(7)
    assert (entry["train_loss"], entry["train_seconds"]) == (1.2346, 2.5)
    _, got = trained_model(TINY, 7, cache_dir=tmp_path / "cache", store=tmp_path)
    assert got["train_loss"] == 1.23456789 and got["train_seconds"] == 2.5 and got["cached"] == 1.0


def test_the_command_line_commits_seeds_zero_to_two_by_default(tmp_path, monkeypatch, capsys):
    trained = []

    def fake_train(cfg, seed, progress=None):
        trained.append(seed)
        return build_model(TINY), {"train_loss": float(seed), "train_seconds": 0.0}

    monkeypatch.setattr(tasks, "train_model", fake_train)
    model_store.main(["--store", str(tmp_path)])
    capsys.readouterr()
    models = weights_store.read_manifest(tmp_path)
    assert trained == [0, 1, 2]
    assert sorted((e["seed"], e["command"]) for e in models.values()) == [
        (s, f"python -m methods.kvcache.model_store --seeds {s}") for s in (0, 1, 2)]
