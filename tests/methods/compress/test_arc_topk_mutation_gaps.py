"""Gaps in the tests of `methods.compress.arc_topk` found by a mutation audit.

Closes: the defaults (ratio 0.2, rank 4) set the planned bytes; ``vectors`` is checked against its choices; a
0-D tensor under ``vectors="topk_of_mean"`` is a one-entry vector (one value per round, its exact mean).
"""

from __future__ import annotations

import pytest
import torch

from methods.compress import make_compressor
from methods.compress.simulated import compress_once


def test_defaults_plan_a_rank_4_sketch_and_a_fifth_of_the_rows():
    arc = make_compressor("arc_topk")
    # [100, 50] fp32: sketch 100 x 4 values, then K = 20 rows of 50 values
    assert [c.size_bytes for c in arc.comm_plan((100, 50), n_workers=2)] == [4 * 100 * 4, 4 * 20 * 50]


def test_an_unknown_vectors_mode_is_refused():
    with pytest.raises(ValueError, match="arc_topk.vectors"):
        make_compressor("arc_topk", vectors="sparse")


def test_a_scalar_is_a_one_entry_vector_under_topk_of_mean():
    arc = make_compressor("arc_topk", vectors="topk_of_mean")
    assert [c.size_bytes for c in arc.comm_plan((), n_workers=2)] == [4, 4]
    workers = [make_compressor("arc_topk", vectors="topk_of_mean") for _ in range(2)]
    results, _ = compress_once(workers, [torch.tensor(1.0), torch.tensor(3.0)])
    for res in results:
        assert res.aggregate.shape == ()
        assert float(res.aggregate) == 2.0
