"""Simulated workers: training on digits with SGD/momentum/Adam, deterministic records, byte accounting."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from methods.compress import CompressionPipeline, make_compressor
from methods.compress.simulated import SimulatedWorkers, compress_once, train_simulated
from methods.data.digits import DigitsShards, load_digits_split
from methods.models.mlp import MLP


@pytest.fixture(scope="module")
def digits():
    return load_digits_split(seed=0)


def _train(digits, compressor, ef, params, optimizer, steps=40, seed=0):
    model = MLP(64, 24, 10, seed=seed)
    shards = DigitsShards(digits, n_workers=3, batch_size=32, seed=seed, dirichlet_alpha=0.5)
    workers = SimulatedWorkers.build(3, compressor, ef, compressor_params=params, seed=seed, start_iter=2)
    opt = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
        "momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        "adam": lambda p: torch.optim.Adam(p, lr=3e-3),
    }[optimizer](model.parameters())

    def accuracy(m):
        return {"accuracy": float((m(digits.x_test).argmax(1) == digits.y_test).float().mean())}

    return train_simulated(model, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), shards.batch, workers, opt,
                           steps, eval_fn=accuracy, eval_every=20)


@pytest.mark.parametrize(
    ("compressor", "ef", "params", "optimizer"),
    [
        ("arc_topk", "ef21", {"ratio": 0.2, "rank": 4}, "sgd"),
        ("topk", "ef14", {"ratio": 0.2}, "momentum"),
        ("greedylore", "ef14", {"rank": 2, "refresh_period": 10}, "adam"),
        ("powersgd", "ef14", {"rank": 2}, "adam"),
    ],
)
def test_compressed_training_learns_digits(digits, compressor, ef, params, optimizer):
    rows = _train(digits, compressor, ef, params, optimizer)
    first = sum(r["loss"] for r in rows[:5]) / 5
    last = sum(r["loss"] for r in rows[-5:]) / 5
    assert last < 0.6 * first
    assert rows[-1]["accuracy"] > 0.6  # 10 classes: chance is 0.1
    dense_bytes = 4 * (24 * 64 + 24 + 10 * 24 + 10)
    assert rows[0]["payload_bytes_per_worker"] == dense_bytes  # warm-up
    assert rows[-1]["payload_bytes_per_worker"] < dense_bytes
    assert rows[-1]["cum_payload_bytes_per_worker"] == sum(r["payload_bytes_per_worker"] for r in rows)


def test_records_are_deterministic_for_a_seed(digits):
    a = _train(digits, "arc_topk", "ef14", {"ratio": 0.2, "rank": 2}, "sgd", steps=8)
    b = _train(digits, "arc_topk", "ef14", {"ratio": 0.2, "rank": 2}, "sgd", steps=8)
    c = _train(digits, "arc_topk", "ef14", {"ratio": 0.2, "rank": 2}, "sgd", steps=8, seed=1)
    assert a == b and a != c
    assert set(a[-1]) >= {"step", "loss", "accuracy", "payload_bytes_per_worker", "ring_sent_bytes_per_worker",
                          "n_collectives", "cum_payload_bytes_per_worker", "cum_ring_sent_bytes_per_worker"}


def test_records_evaluate_on_schedule_average_the_workers_losses_and_accumulate_bytes(digits):
    model = MLP(64, 24, 10, seed=0)
    shards = DigitsShards(digits, n_workers=3, batch_size=32, seed=0)
    workers = SimulatedWorkers.build(3, "topk", "ef14", compressor_params={"ratio": 0.2}, start_iter=2)

    def loss(m, b):
        return nn.functional.cross_entropy(m(b[0]), b[1])

    with torch.no_grad():
        first_loss = sum(float(loss(model, shards.batch(w, 0))) for w in range(3)) / 3
    seen = []
    rows = train_simulated(model, loss, shards.batch, workers, torch.optim.SGD(model.parameters(), lr=0.1), 7,
                           eval_fn=lambda m: {"accuracy": 0.5}, eval_every=3, on_step=lambda t, m: seen.append((t, m)))
    assert [r["step"] for r in rows] == list(range(7)) and seen == [(t, model) for t in range(7)]
    assert [t for t, r in enumerate(rows) if "accuracy" in r] == [2, 5, 6]  # every 3 steps and the last
    assert rows[0]["loss"] == pytest.approx(first_loss, rel=1e-6)
    for key in ("payload_bytes_per_worker", "ring_sent_bytes_per_worker"):
        assert rows[-1][f"cum_{key}"] == pytest.approx(sum(r[key] for r in rows)) and rows[-1][key] > 0
    assert train_simulated(model, loss, shards.batch, workers, torch.optim.SGD(model.parameters()), 0) == []
    with pytest.raises(ValueError, match="steps: expected >= 0, got -1"):
        train_simulated(model, loss, shards.batch, workers, torch.optim.SGD(model.parameters()), -1)


def test_bad_construction_is_rejected():
    with pytest.raises(ValueError, match="n_workers"):
        SimulatedWorkers.build(0, "none")
    shared = make_compressor("none")
    with pytest.raises(ValueError, match="its own compressor instance"):
        SimulatedWorkers([CompressionPipeline(shared), CompressionPipeline(shared)])
    with pytest.raises(ValueError, match="2 compressors but 1 tensors"):
        compress_once([make_compressor("none")] * 2, [torch.zeros(2)])


def test_a_checkpoint_one_worker_refuses_loads_into_no_worker():
    """Every worker's part is checked before any is loaded: a refusal leaves all of them as they were."""
    workers = SimulatedWorkers.build(2, "topk", "ef14", compressor_params={"ratio": 0.25}, seed=3)
    grads = [{"w": torch.randn(8, 8, generator=torch.Generator().manual_seed(i))} for i in range(2)]
    workers.step(grads, 0)
    before = workers.state_dict()
    fresh = SimulatedWorkers.build(2, "topk", "ef14", compressor_params={"ratio": 0.25}, seed=3)
    saved = fresh.state_dict()
    saved["pipelines"][1] = {**saved["pipelines"][1], "seed": 4}
    with pytest.raises(ValueError, match="seed"):
        workers.load_state_dict(saved)
    after = workers.state_dict()
    for p_before, p_after in zip(before["pipelines"], after["pipelines"]):
        assert repr(p_before) == repr(p_after)
    three = SimulatedWorkers.build(3, "topk", "ef14", compressor_params={"ratio": 0.25}, seed=3).state_dict()
    with pytest.raises(ValueError, match="state has 3 workers, this simulation has 2"):
        workers.load_state_dict(three)
