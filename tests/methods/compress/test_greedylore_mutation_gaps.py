"""Mutation gaps of GreedyLore (methods/compress/greedylore.py).

Closes: `top_directions` returns ascending indices; the refresh basis is the mean's left singular vectors in order
of their singular values (checked against numpy's float64 SVD), not merely some orthonormal basis; a square
matrix is projected on its left side; a rank above the short side keeps every direction (and its bytes); the
chosen directions are cleared at every refresh; each worker's ``local`` is its own projection, not the mean's.
"""

from __future__ import annotations

import numpy as np
import torch

from methods.compress import make_compressor
from methods.compress.greedylore import short_side_basis, top_directions
from methods.compress.simulated import compress_once


def test_top_directions_come_back_ascending():
    assert top_directions(torch.tensor([1.0, 5.0, 3.0, 4.0, 0.0]), 3).tolist() == [1, 2, 3]


def test_refresh_basis_is_the_left_singular_vectors_in_order():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 9))
    B = short_side_basis(torch.from_numpy(A)).numpy()
    s = np.linalg.svd(A, compute_uv=False)
    assert B.shape == (5, 5)
    # B^T A = diag(s) W^T: its rows have the singular values as norms and are orthogonal
    rows = B.T @ A
    assert np.allclose(np.linalg.norm(rows, axis=1), s, rtol=1e-10)
    assert np.allclose(rows @ rows.T, np.diag(s**2), atol=1e-10)


def test_a_square_matrix_is_projected_on_its_left_side():
    # refresh on X0 = [[0, 3], [1, 0]]: its top left singular vector is e1 (its top right one is e2); the frozen
    # rank-1 projector then keeps the first row of X1: e1 e1^T X1 (a right-side projector would keep its column 2)
    comps = [make_compressor("greedylore", rank=1, refresh_period=100, selection="lazy") for _ in range(2)]
    X0, X1 = torch.tensor([[0.0, 3.0], [1.0, 0.0]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    compress_once(comps, [X0, X0])
    (res, _), _ = compress_once(comps, [X1 - 1.0, X1 + 1.0], step=1)
    assert torch.allclose(res.aggregate, torch.tensor([[1.0, 2.0], [0.0, 0.0]]), atol=1e-6)


def test_a_rank_above_the_short_side_keeps_every_direction():
    torch.manual_seed(0)
    for selection in ("lazy", "greedy", "random"):
        comps = [make_compressor("greedylore", rank=10, refresh_period=100, selection=selection) for _ in range(2)]
        compress_once(comps, [torch.randn(3, 8), torch.randn(3, 8)])
        xs = [torch.randn(3, 8), torch.randn(3, 8)]
        (res, _), collective = compress_once(comps, xs, step=1)
        assert torch.allclose(res.aggregate, (xs[0] + xs[1]) / 2, atol=1e-5), selection  # 3 of 3 directions
        plan = comps[0].comm_plan((3, 8), 2, call_index=1)
        assert [c.size_bytes for c in collective.calls] == [c.size_bytes for c in plan], selection
        assert plan[-1].size_bytes == 3 * 8 * 4, selection


def test_last_directions_are_cleared_at_every_refresh():
    torch.manual_seed(1)
    comps = [make_compressor("greedylore", rank=1, refresh_period=2, exact_scores=True) for _ in range(2)]
    seen = []
    for t in range(4):
        compress_once(comps, [torch.randn(3, 5), torch.randn(3, 5)], name="w", step=t)
        seen.append(comps[0].last_directions("w"))
    assert seen[0] is None and seen[2] is None
    assert seen[1].numel() == 1 and seen[3].numel() == 1


def test_each_worker_keeps_its_own_projection_as_local():
    # the refresh basis of diag(3, 2, 1) (padded to 3 x 4) is e1, e2, e3; the frozen rank-1 projector keeps row 1
    comps = [make_compressor("greedylore", rank=1, refresh_period=100, selection="lazy") for _ in range(2)]
    X0 = torch.tensor([[3.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    compress_once(comps, [X0, X0])
    xs = [torch.full((3, 4), 1.0), torch.full((3, 4), 3.0)]
    results, _ = compress_once(comps, xs, step=1)
    row = torch.tensor([[1.0], [0.0], [0.0]])
    assert torch.allclose(results[0].aggregate, row * 2.0, atol=1e-6)
    assert torch.allclose(results[0].local, row * 1.0, atol=1e-6)
    assert torch.allclose(results[1].local, row * 3.0, atol=1e-6)
