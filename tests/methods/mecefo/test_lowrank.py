"""MeCeFO technique III (methods/mecefo/lowrank.py): the low-rank weight gradient is the exact one projected on
the weight's top-r right singular vectors, so its error never exceeds the exact norm and does not grow with r."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from methods.mecefo.lowrank import LowRankBases, lowrank_flops, lowrank_linear, top_right_singular


def _grads(layer: nn.Linear, x: torch.Tensor, gy: torch.Tensor, rank: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    layer.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    y = layer(x) if rank is None else lowrank_linear(x, layer, top_right_singular(layer.weight, rank))
    y.backward(gy)
    return layer.weight.grad.clone(), x.grad.clone()


@settings(max_examples=25, deadline=None)
@given(m=st.integers(2, 12), n=st.integers(2, 12), b=st.integers(1, 9), seed=st.integers(0, 10_000))
def test_error_bounded_by_the_exact_norm_and_non_increasing_in_r(m, n, b, seed):
    gen = torch.Generator().manual_seed(seed)
    layer = nn.Linear(n, m, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(m, n, generator=gen, dtype=torch.float64))
    x = torch.randn(b, n, generator=gen, dtype=torch.float64)
    gy = torch.randn(b, m, generator=gen, dtype=torch.float64)
    exact_w, exact_x = _grads(layer, x, gy, None)
    norm = float(exact_w.norm())
    errors = []
    for r in range(1, min(m, n) + 1):
        approx_w, approx_x = _grads(layer, x, gy, r)
        v = top_right_singular(layer.weight, r)
        torch.testing.assert_close(approx_w, exact_w @ v @ v.T)  # G_y (x^T V) V^T = G_W V V^T
        torch.testing.assert_close(approx_x, exact_x)  # the input gradient stays exact
        errors.append(float((approx_w - exact_w).norm()))
        assert errors[-1] <= norm * (1 + 1e-9) + 1e-12
        assert float((approx_w * exact_w).sum()) >= -1e-9  # a projection is never anti-aligned
    assert all(later <= earlier + 1e-9 * max(norm, 1.0) for earlier, later in zip(errors, errors[1:]))
    if n <= m:  # V spans the whole input space: exact
        assert errors[-1] <= 1e-9 * max(norm, 1.0)


def test_flops_smaller_for_small_rank():
    exact, low = lowrank_flops(b=2048, m=11008, n=4096, r=64)
    assert low < exact / 10
    exact, low = lowrank_flops(b=4, m=8, n=8, r=8)
    assert low > exact  # no saving when r is not small


def test_bases_refresh_every_tau_steps():
    layer = nn.Linear(6, 5, bias=False)
    bases = LowRankBases(rank=2, refresh_every=3)
    first = bases.get(layer, 0)
    with torch.no_grad():
        layer.weight.add_(torch.randn(5, 6))
    assert bases.get(layer, 2) is first  # still inside tau
    assert bases.get(layer, 3) is not first and bases.refreshes == 2
    assert first.shape == (6, 2)
