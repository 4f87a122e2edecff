"""Mutation gaps of error feedback (methods/compress/error_feedback.py).

Closes: EF21's dense initialisation sets each worker's local state to its own gradient (not the mean, which would
keep the server = mean of the local states invariant and so go unnoticed), checked by hand on one compressed step;
without error feedback every worker gets the mean of the compressed gradients, not its own compressed gradient.
"""

from __future__ import annotations

import torch

from methods.compress import CompressContext, SimulatedCollective, make_compressor, make_error_feedback, run_lockstep


def _step(efs, comps, grads, step):
    ctx = CompressContext("w", step, 0, len(grads))
    out = run_lockstep([[ef.run(c, g, ctx)] for ef, c, g in zip(efs, comps, grads)], SimulatedCollective(len(grads)))
    return out[0][0]


def test_ef21_dense_init_keeps_each_workers_own_gradient():
    comps = [make_compressor("topk", ratio=0.25) for _ in range(2)]
    efs = [make_error_feedback("ef21") for _ in range(2)]
    g0, g1 = torch.tensor([1.0, 0.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.0, 3.0])
    assert _step(efs, comps, [g0, g1], 0).tolist() == [0.5, 0.0, 0.0, 1.5]
    assert efs[0].memory("w")["local"].tolist() == g0.tolist()
    assert efs[1].memory("w")["local"].tolist() == g1.tolist()
    # step 1: worker 0's difference [0, 2, 0, 0] keeps its 2, worker 1's is 0: output = server + [0, 1, 0, 0]
    out = _step(efs, comps, [torch.tensor([1.0, 2.0, 0.0, 0.0]), g1], 1)
    assert out.tolist() == [0.5, 1.0, 0.0, 1.5]


def test_without_error_feedback_every_worker_gets_the_mean_of_the_compressed_gradients():
    comps = [make_compressor("topk", ratio=0.25) for _ in range(2)]
    efs = [make_error_feedback("none") for _ in range(2)]
    ctx = CompressContext("w", 0, 0, 2)
    grads = [torch.tensor([1.0, 0.0, 0.0, 4.0]), torch.tensor([0.0, 3.0, 0.0, 0.0])]
    out = run_lockstep([[ef.run(c, g, ctx)] for ef, c, g in zip(efs, comps, grads)], SimulatedCollective(2))
    assert out[0][0].tolist() == out[1][0].tolist() == [0.0, 1.5, 0.0, 2.0]
