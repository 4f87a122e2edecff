"""The lock-step driver: phase batching, mixed-dtype gathers, zero-size guards, mismatch errors."""

from __future__ import annotations

import pytest
import torch

from methods.compress import CollectiveCall, Request, SimulatedCollective, run_lockstep
from methods.compress.base import PayloadSpec
from methods.compress.collectives import batch_phase, plan_phases


def _two_phase(x):
    a = yield Request("all_reduce", x)
    b = yield Request("all_gather", torch.arange(3, dtype=torch.int32) + int(x.sum() > 0))
    return a, b


def _one_phase(x):
    a = yield Request("all_reduce", x.to(torch.float64))
    return a


def test_requests_of_one_phase_share_one_collective_per_op_and_dtype():
    xs = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, -6.0])]
    coll = SimulatedCollective(2)
    sessions = [[_two_phase(x), _two_phase(2 * x), _one_phase(x)] for x in xs]
    out = run_lockstep(sessions, coll)
    assert coll.calls == [
        CollectiveCall("all_reduce", 16, 2),  # two float32 tensors of 2 -> one call
        CollectiveCall("all_reduce", 16, 2),  # the float64 one -> its own call
        CollectiveCall("all_gather", 24, 2),  # phase 2: both int32 gathers in one byte buffer
    ]
    a, b = out[0][0]
    assert a.tolist() == [2.0, -2.0]
    assert b.tolist() == [[1, 2, 3], [0, 1, 2]] and b.dtype == torch.int32
    assert out[1][2].dtype == torch.float64 and out[1][2].tolist() == [2.0, -2.0]


def test_plan_phases_matches_the_driver():
    specs = [
        [PayloadSpec("all_reduce", 2, torch.float32), PayloadSpec("all_gather", 3, torch.int32)],
        [PayloadSpec("all_reduce", 2, torch.float32), PayloadSpec("all_gather", 3, torch.int32)],
        [PayloadSpec("all_reduce", 2, torch.float64)],
    ]
    assert plan_phases(specs, 2) == [
        CollectiveCall("all_reduce", 16, 2), CollectiveCall("all_reduce", 16, 2), CollectiveCall("all_gather", 24, 2)
    ]
    assert [g[0] for g in batch_phase([s[0] for s in specs])] == ["all_reduce", "all_reduce"]


def _gather(x):
    return (yield Request("all_gather", x))


def _no_phase(x):
    return 2 * x
    yield  # a session that finishes without communicating


def test_zero_size_requests_are_answered_without_a_collective():
    coll = SimulatedCollective(3)
    out = run_lockstep([[_one_phase(torch.zeros(0))] for _ in range(3)], coll)
    assert coll.calls == [] and out[0][0].shape == (0,)
    out = run_lockstep([[_gather(torch.zeros(0, 2, dtype=torch.int32))] for _ in range(3)], coll)
    assert coll.calls == [] and out[1][0].shape == (3, 0, 2) and out[1][0].dtype == torch.int32
    # an empty part gathered beside a non-empty one takes its slot and no bytes
    out = run_lockstep([[_gather(torch.zeros(0, dtype=torch.int32)), _gather(torch.arange(3, dtype=torch.int32) + w)]
                        for w in range(3)], coll)
    assert coll.calls == [CollectiveCall("all_gather", 12, 3)] and out[0][0].shape == (3, 0)
    assert out[2][1].tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]


def test_sessions_that_do_not_communicate_keep_their_place():
    coll = SimulatedCollective(2)
    xs = [torch.tensor([1.0, 3.0]), torch.tensor([3.0, 5.0])]
    out = run_lockstep([[_no_phase(x), _one_phase(x), _no_phase(-x)] for x in xs], coll)
    assert [o.tolist() for o in out[1]] == [[6.0, 10.0], [2.0, 4.0], [-6.0, -10.0]]
    assert coll.calls == [CollectiveCall("all_reduce", 16, 2)]
    with pytest.raises(ValueError, match="every local worker must hold the same number of sessions"):
        run_lockstep([[_no_phase(xs[0])], []], coll)


def test_ring_bytes_per_worker():
    assert CollectiveCall("all_reduce", 100, 4).ring_sent_bytes_per_worker == 150.0
    assert CollectiveCall("all_gather", 100, 4).ring_sent_bytes_per_worker == 300.0
    assert CollectiveCall("all_reduce", 100, 1).ring_sent_bytes_per_worker == 0.0


def test_workers_in_different_phases_or_shapes_are_rejected():
    with pytest.raises(ValueError, match="every worker must issue the same collective"):
        SimulatedCollective(2).all_reduce_mean([torch.zeros(2), torch.zeros(3)])
    with pytest.raises(ValueError, match="different phase"):
        run_lockstep([[_one_phase(torch.zeros(2))], [_one_phase(torch.zeros(3))]], SimulatedCollective(2))
    with pytest.raises(ValueError, match="different phase"):
        run_lockstep([[_two_phase(torch.ones(2))], [_one_phase(torch.ones(2))]], SimulatedCollective(2))
    with pytest.raises(ValueError, match="expects 2 local workers"):
        run_lockstep([[_one_phase(torch.zeros(2))]], SimulatedCollective(2))
    with pytest.raises(ValueError, match="Request.op"):
        Request("broadcast", torch.zeros(1))
