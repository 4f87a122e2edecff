"""Mutation gaps of PowerSGD (methods/compress/powersgd.py).

Closes: the rank is capped by both sides of the matrix (a tall matrix with rank above its width is sent at full
rank: the exact mean, in n r' + m r' values); a tensor name met again with another shape draws a fresh Q;
without warm start each step draws its own Q.
"""

from __future__ import annotations

import torch

from methods.compress import make_compressor
from methods.compress.simulated import compress_once


def test_rank_above_the_short_side_is_capped_and_exact():
    torch.manual_seed(0)
    for shape in ((8, 2), (2, 8)):
        comps = [make_compressor("powersgd", rank=4, min_compression_rate=0) for _ in range(2)]
        xs = [torch.randn(shape), torch.randn(shape)]
        results, collective = compress_once(comps, xs)
        assert torch.allclose(results[0].aggregate, (xs[0] + xs[1]) / 2, atol=1e-5), shape  # rank 2 of 2
        assert [c.size_bytes for c in collective.calls] == [8 * 2 * 4, 2 * 2 * 4][:: 1 if shape[0] == 8 else -1]
        assert [c.size_bytes for c in comps[0].comm_plan(shape, 2)] == [c.size_bytes for c in collective.calls]


def test_a_tensor_name_seen_with_another_shape_starts_from_a_fresh_q():
    torch.manual_seed(1)
    comps = [make_compressor("powersgd", rank=2, min_compression_rate=0) for _ in range(2)]
    compress_once(comps, [torch.randn(6, 4), torch.randn(6, 4)])
    xs = [torch.randn(6, 5), torch.randn(6, 5)]
    warm, _ = compress_once(comps, xs, step=1)
    fresh, _ = compress_once([make_compressor("powersgd", rank=2, min_compression_rate=0) for _ in range(2)], xs,
                             step=1)
    assert torch.equal(warm[0].aggregate, fresh[0].aggregate)


def test_without_warm_start_every_step_draws_its_own_q():
    torch.manual_seed(2)
    xs = [torch.randn(8, 6), torch.randn(8, 6)]
    comps = [make_compressor("powersgd", rank=1, warm_start=False) for _ in range(2)]
    again = [make_compressor("powersgd", rank=1, warm_start=False) for _ in range(2)]
    first, _ = compress_once(comps, xs, step=0)
    second, _ = compress_once(comps, xs, step=1)
    replay, _ = compress_once(again, xs, step=1)
    assert torch.equal(second[0].aggregate, replay[0].aggregate)  # the draw depends on the step only
    assert not torch.allclose(first[0].aggregate, second[0].aggregate)  # one power step from another start
