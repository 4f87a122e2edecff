"""Gaps in the tests of `lowrank` found by a mutation audit.

- `top_right_singular` on a bf16 / fp16 weight (no CPU SVD in those dtypes): the SVD runs in fp32 and the basis
  comes back in the weight's dtype; rank 0 is refused;
- `lowrank_linear` refuses a layer with a bias;
- `LowRankBases` refuses rank 0 and ``refresh_every = 0``, and recomputes a basis when the step goes back below
  the step it was made at (a new run reusing the bases), from the weight as it is then.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from methods.mecefo.lowrank import LowRankBases, lowrank_linear, top_right_singular

# singular values 3, 2, 1 with right singular vectors e2, e4, e1 (e3 spans the kernel)
W = [[0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0], [1.0, 0.0, 0.0, 0.0]]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_weights_get_a_basis_in_their_own_dtype(dtype):
    v2 = top_right_singular(torch.tensor(W, dtype=dtype), 2)
    assert v2.dtype == dtype and v2.shape == (4, 2)
    assert torch.equal((v2 @ v2.T).float(), torch.diag(torch.tensor([0.0, 1.0, 0.0, 1.0])))


def test_rank_zero_is_refused():
    with pytest.raises(ValueError, match="rank"):
        top_right_singular(torch.tensor(W), 0)


def test_a_layer_with_a_bias_is_refused():
    layer = nn.Linear(4, 3, bias=True)
    with pytest.raises(ValueError, match="bias-free"):
        lowrank_linear(torch.ones(1, 4), layer, torch.eye(4)[:, :2])


@pytest.mark.parametrize(("rank", "refresh_every", "message"), [(0, 5, "rank"), (2, 0, "refresh_every")])
def test_bases_refuse_rank_or_refresh_below_one(rank, refresh_every, message):
    with pytest.raises(ValueError, match=message):
        LowRankBases(rank, refresh_every)


def test_a_step_below_the_last_refresh_recomputes_the_basis():
    layer = nn.Linear(4, 3, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(W, dtype=torch.float64))
    bases = LowRankBases(1, 100)
    first = bases.get(layer, 10)
    torch.testing.assert_close(first @ first.T, torch.diag(torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)))
    with torch.no_grad():  # row 3 becomes 5 e3: singular values 5, 3, 2 on e3, e2, e4
        layer.weight[2] = torch.tensor([0.0, 0.0, 5.0, 0.0], dtype=torch.float64)
    assert bases.get(layer, 50) is first and bases.refreshes == 1  # 40 steps later: still within tau = 100
    again = bases.get(layer, 3)
    assert bases.refreshes == 2
    torch.testing.assert_close(again @ again.T, torch.diag(torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64)))
