"""Gaps in the tests of `moc_throughput` found by a mutation audit.

Closed here (round 2), with `measure_throughput` replaced by a recorder that returns hand-set rows:

- K rounds to the nearest channel (0.5 x 5 = 2.5 -> 2, 0.3 x 10 = 3.0 -> 3, 0.35 x 10 = 3.5 -> 4), not down;
- the run passes the model's layers and sequence length, the batch, rounds, warm-up and a seed drawn from the run's
  seed sequence, and measures under ``threads`` torch threads; the seed is in run.json info;
- relative throughput is each variant's tokens/s over dense's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.workloads import moc_throughput
from harness.workloads.base import RunContext


@pytest.fixture
def recorded(monkeypatch):
    import methods.moc.throughput as mt

    calls: list[dict] = []

    def fake(cfg, k, batch_size, seq_len, rounds, warmup, seed, checkpointing="block"):
        calls.append({"cfg": cfg, "k": k, "batch_size": batch_size, "seq_len": seq_len, "rounds": rounds,
                      "warmup": warmup, "seed": seed, "threads": torch.get_num_threads()})
        return [{"variant": "moc", "tokens_per_s": 150.0}, {"variant": "dense", "tokens_per_s": 100.0},
                {"variant": "dense_ckpt", "tokens_per_s": 80.0}]

    monkeypatch.setattr(mt, "measure_throughput", fake)
    return calls


def _run(seed: int = 0, **workload):
    scenario = moc_throughput.MoCThroughputScenario.model_validate({"name": "t", "workload": workload})
    return moc_throughput.run(scenario, RunContext(seed_seq=np.random.SeedSequence(seed)))


@pytest.mark.parametrize(("d_ff", "fraction", "k"), [(5, 0.5, 2), (10, 0.3, 3), (10, 0.35, 4), (10, 0.26, 3)])
def test_k_rounds_to_the_nearest_channel(recorded, d_ff, fraction, k):
    out = _run(model={"d_ff": d_ff}, k_fraction=fraction)
    assert recorded[0]["k"] == k and out.info["k"] == k


def test_the_run_passes_its_workload_and_seed(recorded):
    out = _run(model={"n_layers": 3, "seq_len": 24}, batch_size=5, rounds=7, warmup=4, threads=2)
    call = recorded[0]
    assert (call["batch_size"], call["seq_len"], call["rounds"], call["warmup"], call["threads"]) == (5, 24, 7, 4, 2)
    assert call["cfg"].n_layers == 3 and call["cfg"].max_seq_len == 24
    assert out.info["seed"] == call["seed"]
    _run(seed=1)
    assert recorded[1]["seed"] != call["seed"]


def test_relative_throughput_is_over_dense(recorded):
    rows = _run().metrics.set_index("variant")
    assert rows["relative_throughput"].to_dict() == {"moc": 1.5, "dense": 1.0, "dense_ckpt": 0.8}
