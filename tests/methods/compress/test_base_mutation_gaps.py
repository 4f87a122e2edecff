"""Mutation gaps of the compressor contract (methods/compress/base.py).

Closes: the matrix view of 0-D and N-D shapes, the payload of a 0-D tensor (one element on the wire, as the
collective really records it), ``comm_plan``'s refusal of zero workers, a keep ratio of 0 refused,
``state_dict`` handing out copies (changing a saved tensor leaves the compressor's state alone), and a dense
all-reduce leaving EF14 no residual.
"""

from __future__ import annotations

import pytest
import torch

from methods.compress import make_compressor
from methods.compress.base import PayloadSpec, matrix_shape
from methods.compress.simulated import compress_once


def test_matrix_view_of_scalars_vectors_and_kernels():
    assert matrix_shape(()) == (1, 1)
    assert matrix_shape((7,)) == (7, 1)
    assert matrix_shape((3, 4, 5, 2)) == (3, 40)


@pytest.mark.parametrize("name, params", [("arc_topk", {}), ("powersgd", {}), ("greedylore", {}), ("none", {})])
def test_a_scalar_costs_one_element_and_that_is_what_goes_on_the_wire(name, params):
    comp = make_compressor(name, **params)
    assert comp.payloads(()) == [PayloadSpec("all_reduce", 1, torch.float32)]
    assert [c.size_bytes for c in comp.comm_plan((), 2)] == [4]
    results, collective = compress_once([make_compressor(name, **params) for _ in range(2)],
                                        [torch.tensor(1.0), torch.tensor(3.0)])
    assert [c.size_bytes for c in collective.calls] == [4]
    assert results[0].aggregate.item() == 2.0


@pytest.mark.parametrize("name", ["topk", "randk", "arc_topk"])
def test_a_ratio_of_zero_is_refused_and_one_is_accepted(name):
    make_compressor(name, ratio=1)
    with pytest.raises(ValueError, match="ratio"):
        make_compressor(name, ratio=0)


def test_comm_plan_needs_at_least_one_worker():
    comp = make_compressor("arc_topk")
    assert len(comp.comm_plan((8, 8), 1)) == 2
    with pytest.raises(ValueError, match="n_workers"):
        comp.comm_plan((8, 8), 0)


def test_a_state_dict_holds_copies_of_the_state():
    torch.manual_seed(0)
    xs = [torch.randn(6, 5), torch.randn(6, 5)]
    comps = [make_compressor("powersgd", rank=2) for _ in range(2)]
    twins = [make_compressor("powersgd", rank=2) for _ in range(2)]
    compress_once(comps, xs)
    compress_once(twins, xs)
    for c in comps:
        c.state_dict()["tensors"]["x"]["Q"].zero_()  # a checkpoint's tensors, changed after saving
    ys = [torch.randn(6, 5), torch.randn(6, 5)]
    ours, _ = compress_once(comps, ys, step=1)
    theirs, _ = compress_once(twins, ys, step=1)
    assert torch.equal(ours[0].aggregate, theirs[0].aggregate)
    assert ours[0].aggregate.abs().sum() > 0


@pytest.mark.parametrize("name, shape", [("arc_topk", (6,)), ("none", (3, 4)), ("powersgd", (2, 2))])
def test_a_tensor_sent_dense_leaves_no_error_behind(name, shape):
    """A dense all-reduce sends each worker's whole tensor: EF14's memory stays zero and the next step's output is
    the exact mean of the next gradients (a 1-D tensor for ARC-Top-K, every tensor for ``none``, and a matrix
    PowerSGD's default sends dense because rank 1 (2 + 2) >= 4)."""
    from methods.compress import make_error_feedback
    from methods.compress.collectives import SimulatedCollective, run_lockstep
    from methods.compress.base import CompressContext

    torch.manual_seed(0)
    comps = [make_compressor(name) for _ in range(2)]
    efs = [make_error_feedback("ef14") for _ in range(2)]
    for step in range(2):
        grads = [torch.randn(shape), torch.randn(shape)]
        ctx = CompressContext("b", step, 0, 2)
        out = run_lockstep([[ef.run(c, g, ctx)] for ef, c, g in zip(efs, comps, grads)], SimulatedCollective(2))
        assert torch.allclose(out[0][0], (grads[0] + grads[1]) / 2, atol=1e-6, rtol=0)
        assert all(torch.count_nonzero(ef.memory("b")["error"]) == 0 for ef in efs)
