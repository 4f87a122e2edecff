"""Committed tiny-Llama weights (methods/kvcache/model_store.py): a model trained from scratch round-trips through a
store and its manifest; a key that is not there, a different seed or config, or a file failing its sha256 falls back
to training; and the committed store's entries match their files."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest
import torch

pytest.importorskip("kvpress", reason="the kv extra is not installed")

from methods import weights_store  # noqa: E402
from methods.kvcache import model_store  # noqa: E402
from methods.kvcache.tasks import TinyModelConfig, train_model, trained_model  # noqa: E402

TINY = TinyModelConfig(layers=1, hidden_size=16, intermediate_size=32, train_steps=2, batch_size=2, train_context=48)


@pytest.fixture()
def store(tmp_path):
    model, info = train_model(TINY, seed=5)
    model_store.commit(model, info, TINY, 5, tmp_path / "store")
    return tmp_path / "store", model


def test_committed_weights_are_used_when_key_and_sha256_match(store, tmp_path):
    folder, trained = store
    entry = weights_store.read_manifest(folder)[model_store.weights_name(TINY, 5)]
    assert entry["seed"] == 5 and entry["config"] == json.loads(json.dumps(asdict(TINY)))
    assert entry["train_steps"] == 2 and entry["torch_version"] == torch.__version__
    assert entry["command"] == "python -m methods.kvcache.model_store --seeds 5"
    model, info = trained_model(TINY, 5, cache_dir=tmp_path / "cache", store=folder)
    assert info["weights"].startswith("committed weights") and not (tmp_path / "cache").exists()
    for a, b in zip(trained.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("seed, cfg", [(6, TINY), (5, replace(TINY, learning_rate=2e-3))])
def test_another_seed_or_config_is_trained(store, tmp_path, seed, cfg):
    folder, _ = store
    _, info = trained_model(cfg, seed, cache_dir=tmp_path / "cache", store=folder)
    assert info["cached"] == 0.0 and info["weights"].startswith("no committed weights")


def test_a_file_failing_its_sha256_is_not_used(store, tmp_path):
    folder, _ = store
    path = folder / model_store.weights_name(TINY, 5)
    path.write_bytes(path.read_bytes() + b"x")
    _, info = trained_model(TINY, 5, cache_dir=tmp_path / "cache", store=folder)
    assert info["cached"] == 0.0 and "fail their sha256 check" in info["weights"]


def test_the_committed_store_covers_the_default_model_for_three_seeds():
    models = weights_store.read_manifest(model_store.STORE)
    for seed in (0, 1, 2):
        name = model_store.weights_name(TinyModelConfig(), seed)
        assert name in models, f"results/kv_models lacks seed {seed} of the default config"
        assert weights_store.sha256(model_store.STORE / name) == models[name]["sha256"]
