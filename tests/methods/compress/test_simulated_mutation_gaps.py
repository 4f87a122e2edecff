"""Gaps in the tests of `methods.compress.simulated` found by a mutation audit.

Closes: ``SimulatedWorkers.build`` hands its seed to every pipeline; an empty pipeline list is refused with its
own message; frozen parameters (``requires_grad=False``) are neither aggregated, counted nor updated.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from methods.compress.simulated import SimulatedWorkers, train_simulated


def test_build_passes_the_seed_to_every_pipeline():
    workers = SimulatedWorkers.build(3, "randk", "none", seed=11)
    assert [p.seed for p in workers.pipelines] == [11, 11, 11]


def test_no_pipelines_is_refused_by_name():
    with pytest.raises(ValueError, match="at least one pipeline"):
        SimulatedWorkers([])


def test_frozen_parameters_are_not_sent_nor_updated():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    for p in model[0].parameters():
        p.requires_grad_(False)
    frozen = [p.detach().clone() for p in model[0].parameters()]
    trained = [p.detach().clone() for p in model[1].parameters()]
    workers = SimulatedWorkers.build(2, "none", "none", start_iter=0)
    batches = [(torch.ones(4, 3), torch.zeros(4, 1)), (-torch.ones(4, 3), torch.ones(4, 1))]
    rows = train_simulated(model, lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]), lambda w, t: batches[w],
                           workers, torch.optim.SGD(model.parameters(), lr=0.1), steps=2)
    # only the second layer travels: 2 weights + 1 bias, fp32, batched into one dense All-Reduce
    assert [r["payload_bytes_per_worker"] for r in rows] == [12, 12]
    assert [r["n_collectives"] for r in rows] == [1, 1]
    assert all(torch.equal(a, b) for a, b in zip(frozen, model[0].parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(trained, model[1].parameters()))
