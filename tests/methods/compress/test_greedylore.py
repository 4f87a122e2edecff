"""GreedyLore: >= r/p of the energy every step with a stale basis, lazy counterexample, refresh, bytes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.compress import CompressContext, make_compressor
from methods.compress.greedylore import short_side_basis, top_directions
from methods.compress.simulated import compress_once


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 10), m=st.integers(2, 10), rank=st.integers(1, 4),
       n_workers=st.integers(1, 4))
def test_semi_lazy_greedy_keeps_r_over_p_of_the_energy_every_step(seed, n, m, rank, n_workers):
    """Exact scores, basis refreshed only at step 0 while the gradients drift freely (stale basis)."""
    rng = np.random.default_rng(seed)
    comps = [
        make_compressor("greedylore", rank=rank, refresh_period=10**6, exact_scores=True, min_compression_rate=0.0)
        for _ in range(n_workers)
    ]
    p, r = min(n, m), min(rank, min(n, m))
    for step in range(6):
        xs = [torch.from_numpy(rng.standard_normal((n, m)) * rng.pareto(1.0, size=(n, 1))) for _ in range(n_workers)]
        res, _ = compress_once(comps, xs, step=step)
        mean = torch.stack(xs).mean(0)
        total = float((mean**2).sum())
        if step == 0:
            torch.testing.assert_close(res[0].aggregate, mean)  # refresh: dense, exact
            continue
        captured = float((res[0].aggregate ** 2).sum())
        residual = float(((res[0].aggregate - mean) ** 2).sum())
        assert captured >= (r / p) * total * (1 - 1e-9)
        assert residual <= (1 - r / p) * total + 1e-9 * total
        assert torch.linalg.matrix_rank(res[0].aggregate) <= r
        assert all(torch.equal(c.last_directions("x"), comps[0].last_directions("x")) for c in comps)
        assert comps[0].last_directions("never compressed") is None


def test_lazy_top_r_projector_can_capture_nothing_where_greedy_captures_r_over_p():
    """Research card invariant 14: the gradient drifts into the complement of the frozen top-r subspace."""
    basis_grad = torch.diag(torch.tensor([5.0, 4.0, 0.0, 0.0], dtype=torch.float64)) @ torch.ones(4, 6, dtype=torch.float64)
    drifted = torch.zeros(4, 6, dtype=torch.float64)
    drifted[2:] = 1.0
    captured = {}
    for selection, exact_scores in (("lazy", True), ("greedy", True), ("greedy", False)):
        comp = make_compressor("greedylore", rank=2, refresh_period=100, selection=selection,
                               exact_scores=exact_scores, min_compression_rate=0.0)
        compress_once([comp], [basis_grad], step=0)  # refresh on the first gradient
        res, _ = compress_once([comp], [drifted], step=1)
        captured[selection, exact_scores] = float((res[0].aggregate ** 2).sum()) / float((drifted**2).sum())
    assert captured["lazy", True] < 1e-20
    assert captured["greedy", True] >= 0.5 - 1e-12
    assert captured["greedy", False] >= 0.5 - 1e-12  # probe scores of directions holding no energy are 0


def test_refresh_period_and_wire_bytes():
    gl = make_compressor("greedylore", rank=4, refresh_period=3)
    n, m = 16, 40
    plans = [[c.size_bytes for c in gl.comm_plan((n, m), 2, call_index=i)] for i in range(7)]
    dense, steady = [4 * n * m], [4 * n, 4 * 4 * m]
    assert plans == [dense, steady, steady, dense, steady, steady, dense]
    tall = [c.size_bytes for c in gl.comm_plan((m, n), 2, call_index=1)]
    assert tall == steady  # short side p = 16, long side q = 40 either way
    xs = [torch.randn(n, m) for _ in range(2)]
    comps = [make_compressor("greedylore", rank=4, refresh_period=3) for _ in xs]
    sizes = [[c.size_bytes for c in compress_once(comps, xs, step=s)[1].calls] for s in range(4)]
    assert sizes == [dense, steady, steady, dense]


def test_probe_scores_are_unbiased_independent_energy_estimates():
    """The score each call all-reduces, s_i = <b_i^T A, z_i> with a fresh z ~ N(0, I) per direction and step:
    over many calls E[s s^T] = diag(||b_i^T A||^2) (Monte-Carlo over the compressor's own probes)."""
    gen = torch.Generator().manual_seed(3)
    A = torch.randn(5, 30, generator=gen, dtype=torch.float64)
    comp = make_compressor("greedylore", rank=2, refresh_period=10**6)
    session = comp.compress(A, CompressContext("w", 0, 0, 1))
    next(session)  # the first call refreshes the basis from the (one worker's) mean, A itself
    with pytest.raises(StopIteration):
        session.send(A)
    B = short_side_basis(A)
    stale = torch.randn(5, 30, generator=gen, dtype=torch.float64)  # score a gradient the basis was not built on
    exact = ((B.T @ stale) ** 2).sum(1)
    draws = 4000
    s = torch.stack([next(comp.compress(stale, CompressContext("w", t, 0, 1))).tensor for t in range(1, draws + 1)])
    moments = s.T @ s / draws
    # a chi^2_1 mean has relative standard error sqrt(2/draws) ~ 2.2%, a product of two independent normals
    # sqrt(1/draws) of sqrt(E_i E_j); allow 5 of them
    assert torch.all((moments.diagonal() - exact).abs() <= 5 * (2 / draws) ** 0.5 * exact)
    off = moments - torch.diag(moments.diagonal())
    assert torch.all(off.abs() <= 5 * (torch.outer(exact, exact) / draws) ** 0.5)
    assert top_directions(torch.tensor([1.0, 2.0, 2.0]), 1).tolist() == [1]
    assert top_directions(torch.tensor([1.0, 0.0] * 3000), 4).tolist() == [0, 2, 4, 6]  # ties: lowest index
