"""ARC-Top-K: contraction on the mean (exact and in expectation), identical row sets, bytes b(n r + K m)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.compress import CompressContext, make_compressor
from kernels import arc_select
from methods.compress.base import keep_count
from methods.compress.simulated import compress_once


def _workers(seed: int, n_workers: int, n: int, m: int, heavy: bool = True) -> list[torch.Tensor]:
    rng = np.random.default_rng(seed)
    row_scale = rng.pareto(1.5, size=(n, 1)) + 0.01 if heavy else np.ones((n, 1))
    return [torch.from_numpy(rng.standard_normal((n, m)) * row_scale) for _ in range(n_workers)]


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10**6), n_workers=st.integers(1, 5), n=st.integers(2, 16), m=st.integers(1, 9),
       ratio=st.floats(0.05, 1.0))
def test_exact_sketch_is_row_topk_of_the_mean_and_contracts_with_alpha_k_over_n(seed, n_workers, n, m, ratio):
    xs = _workers(seed, n_workers, n, m)
    comps = [make_compressor("arc_topk", ratio=ratio, exact_sketch=True, min_compression_rate=0.0) for _ in xs]
    results, _ = compress_once(comps, xs)
    gbar = torch.stack(xs).mean(0)
    K = keep_count(ratio, n)
    rows = comps[0].last_rows("x")
    assert comps[0].last_rows("never compressed") is None
    # oracle (research card sec. 6.1): rows of the K largest energies of the mean
    energies = (gbar**2).sum(1)
    assert rows.numel() == K and torch.all(energies[rows].min() >= np.delete(energies.numpy(), rows.numpy()).max(initial=-1))
    expected = torch.zeros_like(gbar)
    expected[rows] = gbar[rows]
    torch.testing.assert_close(results[0].aggregate, expected, rtol=1e-12, atol=1e-12)
    err = float(((results[0].aggregate - gbar) ** 2).sum())
    total = float((gbar**2).sum())
    assert err <= (1 - K / n) * total + 1e-12 * total


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_gaussian_sketch_contracts_in_expectation(seed):
    """Monte-Carlo over the sketch V (a fresh V every step): mean captured energy >= K/n - 4 standard errors."""
    n_workers, n, m, ratio, rank, draws = 3, 10, 6, 0.2, 2, 150
    xs = _workers(seed, n_workers, n, m)
    gbar = torch.stack(xs).mean(0)
    total = float((gbar**2).sum())
    comps = [make_compressor("arc_topk", ratio=ratio, rank=rank, min_compression_rate=0.0) for _ in xs]
    captured = []
    for step in range(draws):
        res, _ = compress_once(comps, xs, step=step, seed=seed)
        captured.append(float((res[0].aggregate ** 2).sum()) / total)
    mean = float(np.mean(captured))
    stderr = float(np.std(captured, ddof=1)) / math.sqrt(draws)
    assert mean >= keep_count(ratio, n) / n - 4 * stderr - 1e-12


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), n_workers=st.integers(2, 5))
def test_every_worker_selects_the_same_rows_and_selection_sees_only_the_mean(seed, n_workers):
    xs = _workers(seed, n_workers, 12, 7, heavy=False)
    comps = [make_compressor("arc_topk", ratio=0.25, rank=3) for _ in xs]
    compress_once(comps, xs, step=2, seed=9)
    rows = [c.last_rows("x").tolist() for c in comps]
    assert all(r == rows[0] for r in rows)
    # changing local data while keeping the mean (up to rounding) leaves the row set alone
    rng = np.random.default_rng(seed)
    shift = [torch.from_numpy(rng.standard_normal((12, 7))) for _ in xs]
    centred = [s - torch.stack(shift).mean(0) for s in shift]
    moved = [x + c for x, c in zip(xs, centred)]
    comps2 = [make_compressor("arc_topk", ratio=0.25, rank=3) for _ in xs]
    compress_once(comps2, moved, step=2, seed=9)
    if comps2[0].last_rows("x").tolist() != rows[0]:
        # only a rounding-level near-tie of the K-th and (K+1)-th sketch scores may flip the set
        V = arc_select.sketch_matrix(7, 3, CompressContext("x", 2, 9).generator("arc-sketch"), dtype=torch.float64)
        scores = torch.sort(((torch.stack(xs).mean(0) @ V) ** 2).sum(1), descending=True).values
        K = keep_count(0.25, 12)
        assert float(scores[K - 1] - scores[K]) <= 1e-9 * float(scores[0])


def test_index_free_allreduce_bytes_match_the_formula():
    arc = make_compressor("arc_topk", ratio=0.2, rank=4)
    for n, m in [(768, 768), (2048, 5461), (100, 3)]:
        K = keep_count(0.2, n)
        plan = arc.comm_plan((n, m), n_workers=4)
        if arc.uses_dense((n, m)):
            assert [c.size_bytes for c in plan] == [4 * n * m]
            continue
        assert [c.op for c in plan] == ["all_reduce", "all_reduce"]
        assert sum(c.size_bytes for c in plan) == 4 * (n * 4 + K * m)
    # independent of the node count (only the ring factor 2(N-1)/N changes)
    assert {c.size_bytes for n in (2, 8, 64) for c in arc.comm_plan((768, 768), n)} == {4 * 768 * 4, 4 * 153 * 768}


def test_ratio_one_equals_dense_allreduce():
    xs = _workers(3, 3, 8, 5)
    res, _ = compress_once([make_compressor("arc_topk", ratio=1.0, rank=2, min_compression_rate=0.0) for _ in xs], xs)
    torch.testing.assert_close(res[0].aggregate, torch.stack(xs).mean(0), rtol=1e-12, atol=1e-12)
