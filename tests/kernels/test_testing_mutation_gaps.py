"""Gaps in the tests of `kernels.testing` found by a mutation audit.

Closed here:
- `poisoned_allocations` fills floats with NaN, bools with True, uint8 with 255, other integers with -1, and
  restores torch.empty / empty_like afterwards (also after an error);
- `rel_err` on hand-worked tensors: the ratio of norms in float64, 1 as the denominator of a zero reference,
  infinity for a NaN or infinite output.
"""

from __future__ import annotations

import math

import pytest
import torch

from kernels.testing import poisoned_allocations, rel_err


def test_poisoned_allocations_mark_every_dtype_and_are_undone():
    real_empty, real_empty_like = torch.empty, torch.empty_like
    with poisoned_allocations():
        assert bool(torch.isnan(torch.empty(3)).all())
        assert bool(torch.isnan(torch.empty_like(torch.zeros(2, dtype=torch.float16))).all())
        assert torch.empty(2, dtype=torch.bool).tolist() == [True, True]
        assert torch.empty(2, dtype=torch.uint8).tolist() == [255, 255]
        assert torch.empty(2, dtype=torch.int32).tolist() == [-1, -1]
    assert torch.empty is real_empty and torch.empty_like is real_empty_like
    with pytest.raises(RuntimeError):
        with poisoned_allocations():
            raise RuntimeError("kernel failed")
    assert torch.empty is real_empty and torch.empty_like is real_empty_like


def test_rel_err_on_hand_worked_tensors():
    assert rel_err(torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0])) == 5.0  # zero reference: absolute norm
    assert rel_err(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0])) == pytest.approx(1 / math.sqrt(2))
    assert rel_err(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 1.0])) == math.inf
    assert rel_err(torch.tensor([float("inf")]), torch.tensor([1.0])) == math.inf
    # float64: a difference far below fp32's resolution of 1 + 1e-12 still shows
    ref = torch.tensor([1.0], dtype=torch.float64)
    assert rel_err(ref + 1e-12, ref) == pytest.approx(1e-12, rel=1e-3, abs=0.0)
