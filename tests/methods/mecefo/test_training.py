"""MeCeFO's data-parallel loop (methods/mecefo/training.py, failures.py): without failures it is plain
data-parallel training bit for bit; with failures every micro-batch is carried by a distinct neighbour, exact
neighbours give the exact gradient, and the error of the real techniques is measured."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from methods.mecefo.failures import Outage, assign_neighbours, failed_at, poisson_schedule
from methods.mecefo.neighbour import EXACT, MECEFO
from methods.mecefo.training import TrainSettings, train
from methods.models.gpt import TinyLlama

N_RANKS, STEPS = 3, 4


def _model(seed: int) -> TinyLlama:
    return TinyLlama(vocab_size=15, d_model=16, n_layers=2, n_heads=2, d_ff=24, max_seq_len=8, seed=seed)


def _batch(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 * step + rank)
    return torch.randint(0, 15, (2, 8), generator=gen), torch.randint(0, 15, (2, 8), generator=gen)


def _plain_data_parallel(model: TinyLlama, lr: float) -> None:
    """The reference: each rank's gradient, summed in rank order, divided by the ranks; AdamW."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    for step in range(STEPS):
        total = None
        for rank in range(N_RANKS):
            model.zero_grad(set_to_none=True)
            model.loss(*_batch(rank, step)).backward()
            grads = [p.grad.clone() for p in model.parameters()]
            total = grads if total is None else [t + g for t, g in zip(total, grads, strict=True)]
        for p, t in zip(model.parameters(), total, strict=True):
            p.grad = t / N_RANKS
        optimizer.step()


@pytest.mark.parametrize("seed", [0, 7])
def test_no_failures_is_bit_identical_to_plain_data_parallel(seed):
    reference, ours = _model(seed), _model(seed)
    _plain_data_parallel(reference, lr=1e-2)
    result = train(ours, _batch, TrainSettings(n_ranks=N_RANKS, steps=STEPS, techniques=MECEFO, lr=1e-2,
                                               record_every=1))
    for (name, a), b in zip(reference.named_parameters(), ours.parameters(), strict=True):
        assert torch.equal(a, b), name
    assert result.info["failure_steps"] == 0 and all(math.isnan(r["grad_rel_error"]) for r in result.rows)


def test_a_failure_changes_training_and_its_error_is_measured():
    reference, ours = _model(0), _model(0)
    _plain_data_parallel(reference, lr=1e-2)
    result = train(ours, _batch, TrainSettings(n_ranks=N_RANKS, steps=STEPS, techniques=MECEFO, lr=1e-2,
                                               outages=(Outage(1, 1, 3),), record_every=1))
    errors = [r["grad_rel_error"] for r in result.rows]
    assert math.isnan(errors[0]) and math.isnan(errors[3]) and 0 < errors[1] < 1 and 0 < errors[2] < 1
    assert [r["n_neighbours"] for r in result.rows] == [0, 1, 1, 0]
    assert any(not torch.equal(a, b) for a, b in zip(reference.parameters(), ours.parameters(), strict=True))


def test_exact_neighbours_give_the_exact_gradient():
    result = train(_model(0), _batch, TrainSettings(n_ranks=N_RANKS, steps=STEPS, techniques=EXACT,
                                                    outages=(Outage(0, 0, 4),), record_every=1))
    assert len(result.rows) == STEPS and all(r["n_neighbours"] == 1 for r in result.rows)  # rank 0 down every step
    assert all(r["grad_rel_error"] < 1e-6 for r in result.rows)


def test_orphans_are_dropped_and_counted():
    outages = (Outage(0, 0, 2), Outage(1, 0, 2))  # 2 of 3 ranks down: one neighbour, one lost micro-batch
    result = train(_model(0), _batch, TrainSettings(n_ranks=N_RANKS, steps=2, techniques=MECEFO, outages=outages,
                                                    record_every=1))
    assert result.info["dropped_micro_batches"] == 2
    assert [r["n_dropped"] for r in result.rows] == [1, 1]


def test_neighbours_are_distinct_healthy_ranks():
    mapping, orphans = assign_neighbours(6, frozenset({1, 2, 5}))
    assert mapping == {1: 3, 2: 4, 5: 0} and orphans == []
    mapping, orphans = assign_neighbours(4, frozenset({0, 1, 2}))
    assert mapping == {0: 3} and orphans == [1, 2]


def test_poisson_schedule_keeps_littles_law_and_a_rank_up():
    outages = poisson_schedule(n_ranks=16, steps=20_000, interval_steps=10.0, repair_steps=20, seed=1)
    down = np.array([len(failed_at(outages, s)) for s in range(0, 20_000, 7)])
    assert down.max() < 16
    assert down.mean() == pytest.approx(2.0, rel=0.15)  # repair / interval ranks down on average
    assert outages == poisson_schedule(16, 20_000, 10.0, 20, seed=1)
    with pytest.raises(ValueError, match="start"):
        Outage(0, 5, 5)
