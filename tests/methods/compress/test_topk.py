"""Top-K: keeps the k largest magnitudes, deterministic contraction, All-Gather bytes, aggregate counterexample."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from methods.compress import make_compressor
from methods.compress.base import keep_count
from methods.compress.simulated import compress_once
from methods.compress.topk import pack_bytes, top_rows, topk_select, unpack_bytes

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float64, st.integers(1, 40), elements=finite), ratio=st.floats(0.01, 1.0))
def test_keeps_the_k_largest_magnitudes_and_contracts(x, ratio):
    t = torch.from_numpy(x)
    k = keep_count(ratio, t.numel())
    (res,), coll = compress_once([make_compressor("topk", ratio=ratio)], [t])
    kept = res.local != 0
    support = torch.zeros_like(kept)
    support[torch.nonzero(res.local, as_tuple=True)] = True
    assert int(kept.sum()) <= k
    kept_mag = t.abs()[kept]
    dropped_mag = t.abs()[~kept]
    if kept_mag.numel() and dropped_mag.numel():
        assert kept_mag.min() >= dropped_mag.max()
    assert torch.equal(res.local[kept], t[kept])  # values untouched
    err = float(((res.local - t) ** 2).sum())
    assert err <= (1 - k / t.numel()) * float((t**2).sum()) * (1 + 1e-12) + 1e-300
    assert coll.calls[0].op == "all_gather" and coll.calls[0].size_bytes == k * (8 + 4)


def test_row_mode_keeps_rows_of_largest_local_energy():
    x = torch.tensor([[0.1, 0.1], [3.0, 0.0], [0.0, -2.0], [1.0, 1.0]])
    (res,), coll = compress_once([make_compressor("topk", ratio=0.5, rows=True)], [x])
    assert torch.equal(res.local, torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, -2.0], [0.0, 0.0]]))
    assert coll.calls[0].size_bytes == 2 * 2 * 4 + 2 * 4


def test_aggregated_topk_is_not_a_contraction_of_the_mean():
    """Research card sec. 1.3: g1 = (1, -0.9), g2 = (-0.9, 1), top-1 each -> error / ||gbar||^2 = 81."""
    g = [torch.tensor([1.0, -0.9], dtype=torch.float64), torch.tensor([-0.9, 1.0], dtype=torch.float64)]
    results, _ = compress_once([make_compressor("topk", ratio=0.5) for _ in g], g)
    gbar = (g[0] + g[1]) / 2
    ratio = float(((results[0].aggregate - gbar) ** 2).sum() / (gbar**2).sum())
    assert abs(ratio - 81.0) < 1e-9


def test_allgather_bytes_grow_with_workers_while_dense_allreduce_does_not():
    topk, dense = make_compressor("topk", ratio=0.2), make_compressor("none")
    shape = (1000, 1000)
    sent_topk = [topk.comm_plan(shape, n)[0].ring_sent_bytes_per_worker for n in (2, 4, 8, 16)]
    sent_dense = [dense.comm_plan(shape, n)[0].ring_sent_bytes_per_worker for n in (2, 4, 8, 16)]
    assert sent_topk == [(n - 1) * 200_000 * 8 for n in (2, 4, 8, 16)]
    assert all(d <= 2 * 4e6 for d in sent_dense)
    # All-Gather of (value, int32 index) pairs sends more than a dense ring All-Reduce from N = 6 on (card sec. 4)
    crossing = next(n for n in range(2, 64) if topk.comm_plan(shape, n)[0].ring_sent_bytes_per_worker
                    > dense.comm_plan(shape, n)[0].ring_sent_bytes_per_worker)
    assert crossing == 6


def test_ties_go_to_the_lowest_index():
    """Entries of equal magnitude, rows of equal energy: the lowest indices win, however long the tensor (an
    unstable sort scatters them)."""
    x = torch.tensor([1.0, -1.0, 0.5] * 2000)
    assert torch.equal(topk_select(x, 6), torch.tensor([0, 1, 3, 4, 6, 7]))
    assert torch.equal(top_rows(torch.tensor([1.0, 0.0] * 3000), 10), torch.arange(0, 20, 2))
    assert torch.equal(top_rows(torch.zeros(50), 7), torch.arange(7))


def test_row_mode_ranks_rows_by_energy_not_by_their_entry_count():
    x = torch.tensor([[0.1, 0.1], [3.0, 0.5], [0.2, -2.0], [1.0, 1.0]])  # energies 0.02, 9.25, 4.04, 2
    (res,), _ = compress_once([make_compressor("topk", ratio=0.5, rows=True)], [x])
    assert (res.local.abs().sum(1) > 0).tolist() == [False, True, True, False]


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 5), min_size=1, max_size=4),
       dtypes=st.lists(st.sampled_from([torch.float32, torch.float64, torch.int32, torch.bfloat16]), min_size=4,
                       max_size=4),
       n_workers=st.integers(1, 3))
def test_parts_of_mixed_dtypes_packed_as_bytes_unpack_to_themselves(sizes, dtypes, n_workers):
    gen = torch.Generator().manual_seed(0)
    parts = [[(100 * torch.randn(n, generator=gen)).to(dt) for n, dt in zip(sizes, dtypes)] for _ in range(n_workers)]
    gathered = torch.stack([pack_bytes(*worker) for worker in parts])
    unpacked = unpack_bytes(gathered, [(n, dt) for n, dt in zip(sizes, dtypes)])
    for i, got in enumerate(unpacked):
        assert got.dtype == dtypes[i] and torch.equal(got, torch.stack([worker[i] for worker in parts]))
