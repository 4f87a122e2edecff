"""Mutation gaps of the collectives and drivers (methods/compress/collectives.py, simulated.py, pipeline.py).

Closes: the simulated all-reduce adds the workers in rank order (the documented float sum, which a reordering
changes: 1 + 1e8 - 1e8 is 0 in float32, -1e8 + 1e8 + 1 is 1); `SimulatedWorkers` reports ring bytes (2 (N-1)/N
of an all-reduce payload), not payload bytes, per step; workers sending buffers of different dtypes are refused;
`aggregate` refuses workers holding the same tensors in another order.
"""

from __future__ import annotations

import pytest
import torch

from methods.compress.collectives import SimulatedCollective
from methods.compress.simulated import SimulatedWorkers


def test_the_simulated_mean_adds_workers_in_rank_order():
    bufs = [torch.tensor([1.0]), torch.tensor([1e8]), torch.tensor([-1e8])]
    out = SimulatedCollective(3).all_reduce_mean(bufs)
    assert [o.item() for o in out] == [0.0, 0.0, 0.0]


def test_step_statistics_count_ring_bytes_and_payload_bytes_apart():
    workers = SimulatedWorkers.build(4, "arc_topk", "none", compressor_params={"ratio": 0.5, "rank": 2})
    grads = [{"w": torch.randn(4, 6, generator=torch.Generator().manual_seed(i))} for i in range(4)]
    _, stats = workers.step(grads, 0)
    # sketch 4 x 2 and 2 of 4 rows x 6, float32: 32 + 48 bytes; ring all-reduce sends 2 (4 - 1) / 4 of them
    assert stats == {"payload_bytes_per_worker": 80, "ring_sent_bytes_per_worker": 120.0, "n_collectives": 2}


@pytest.mark.parametrize("op", ["all_reduce_mean", "all_gather"])
def test_workers_must_send_the_same_dtype(op):
    collective = SimulatedCollective(2)
    with pytest.raises(ValueError, match="same collective"):
        getattr(collective, op)([torch.zeros(3), torch.zeros(3, dtype=torch.float64)])
    assert collective.calls == []


def test_workers_must_hold_their_tensors_in_the_same_order():
    from methods.compress.pipeline import CompressionPipeline, aggregate

    workers = [CompressionPipeline.build("none") for _ in range(2)]
    a, b = torch.zeros(2), torch.ones(3)
    out = aggregate(workers, [{"a": a, "b": b}, {"a": a, "b": b}], 0, SimulatedCollective(2))
    assert out[0]["b"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="worker 1 holds tensors"):
        aggregate(workers, [{"a": a, "b": b}, {"b": b, "a": a}], 0, SimulatedCollective(2))
