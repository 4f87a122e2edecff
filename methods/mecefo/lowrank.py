"""Technique III of MeCeFO (Hu et al., arXiv 2510.16415, Section 3): the weight gradient of a linear map
estimated in the span of the weight's top-r right singular vectors.

For y = W x with W in R^{m x n}, the exact weight gradient is G_W = G_y x^T (2bmn FLOPs for b tokens); the
neighbour uses G_y (x^T V_1) V_1^T with V_1 in R^{n x r} the top-r right singular vectors of W (of the weight, not
of the gradient), 2brn + 2brm + 2rmn FLOPs. That equals G_W V_1 V_1^T, the projection of the exact gradient onto
span(V_1) from the right, so its error ||G_W (I - V_1 V_1^T)|| never exceeds ||G_W|| and does not grow with r.
The input gradient W^T G_y stays exact. V_1 is refreshed every tau steps by the caller (`LowRankBases`).
"""

from __future__ import annotations

import torch
from torch import nn

from methods.arguments import check_integer


def top_right_singular(weight: torch.Tensor, rank: int) -> torch.Tensor:
    """V_1 [n, r]: the top-``rank`` right singular vectors of ``weight`` [m, n] (r capped at min(m, n))."""
    check_integer("rank", rank, 1)
    w = weight.detach()
    _, _, vh = torch.linalg.svd(w.float() if w.element_size() < 4 else w, full_matrices=False)
    return vh[: min(rank, vh.shape[0])].T.contiguous().to(weight.dtype)


def lowrank_flops(b: int, m: int, n: int, r: int) -> tuple[int, int]:
    """(exact, low-rank) FLOPs of the weight gradient of an m x n linear map over b tokens (paper, Section 3)."""
    return 2 * b * m * n, 2 * b * r * n + 2 * b * r * m + 2 * r * m * n


class _LowRankLinear(torch.autograd.Function):
    """y = x W^T; backward: exact input gradient, weight gradient (G_y^T x V) V^T."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
        # only the r-dimensional projection of the input is kept for the weight gradient
        ctx.save_for_backward(x @ basis, weight, basis)
        return x @ weight.T

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x_proj, weight, basis = ctx.saved_tensors
        grad_x = grad_out @ weight
        g2 = grad_out.reshape(-1, grad_out.shape[-1])
        grad_w = (g2.T @ x_proj.reshape(-1, x_proj.shape[-1])) @ basis.T
        return grad_x, grad_w, None


def lowrank_linear(x: torch.Tensor, layer: nn.Linear, basis: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` (no bias) whose weight gradient is projected onto ``basis`` [in_features, r]."""
    if layer.bias is not None:
        raise ValueError("lowrank_linear supports bias-free linear layers only (LLaMA's FFN has none)")
    return _LowRankLinear.apply(x, layer.weight, basis)


class LowRankBases:
    """V_1 for every FFN matrix of a model, recomputed from the current weights every ``refresh_every`` steps.

    Args:
        rank: r, the number of right singular vectors kept.
        refresh_every: tau, steps between two SVDs of each weight.
    """

    def __init__(self, rank: int, refresh_every: int):
        self.rank = check_integer("rank", rank, 1)
        self.refresh_every = check_integer("refresh_every", refresh_every, 1)
        self._bases: dict[int, torch.Tensor] = {}
        self._made_at: dict[int, int] = {}
        self.refreshes = 0

    def get(self, layer: nn.Linear, step: int) -> torch.Tensor:
        key = id(layer.weight)
        made = self._made_at.get(key)
        if made is None or step - made >= self.refresh_every or step < made:
            self._bases[key] = top_right_singular(layer.weight, self.rank)
            self._made_at[key] = step
            self.refreshes += 1
        return self._bases[key]
