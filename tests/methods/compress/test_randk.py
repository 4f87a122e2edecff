"""Rand-K: exact moments by enumerating every subset; shared seed; index-free All-Reduce bytes."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from methods.compress import CompressContext, make_compressor
from methods.compress.randk import random_subset, randk_apply
from methods.compress.simulated import compress_once

finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float64, st.integers(1, 8), elements=finite), data=st.data())
def test_scaled_randk_is_unbiased_and_moments_are_exact(x, data):
    t = torch.from_numpy(x)
    d = t.numel()
    k = data.draw(st.integers(1, d))
    subsets = [torch.tensor(s) for s in itertools.combinations(range(d), k)]
    assert len(subsets) == math.comb(d, k)
    scaled = torch.stack([randk_apply(t, s, d / k) for s in subsets])
    unscaled = torch.stack([randk_apply(t, s, 1.0) for s in subsets])
    norm2 = float((t**2).sum())
    torch.testing.assert_close(scaled.mean(0), t, rtol=1e-12, atol=1e-9)
    assert math.isclose(float(((scaled - t) ** 2).sum(1).mean()), (d / k - 1) * norm2, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(float(((unscaled - t) ** 2).sum(1).mean()), (1 - k / d) * norm2, rel_tol=1e-9, abs_tol=1e-9)


def test_sampler_draws_subsets_uniformly():
    """Chi-square goodness of fit over all C(5, 2) = 10 subsets, 4000 fixed-seed draws."""
    counts: dict[tuple[int, ...], int] = {}
    for step in range(4000):
        s = tuple(random_subset(5, 2, CompressContext("w", step, seed=11).generator("randk")).tolist())
        counts[s] = counts.get(s, 0) + 1
    assert len(counts) == 10
    expected = 400.0
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 27.88  # 99.9% quantile of chi^2 with 9 degrees of freedom


def test_all_workers_use_the_same_indices_and_send_no_indices():
    xs = [torch.randn(50), torch.randn(50), torch.randn(50)]
    comps = [make_compressor("randk", ratio=0.2, scaled=True) for _ in xs]
    results, coll = compress_once(comps, xs, step=4)
    supports = [tuple(torch.nonzero(r.local).flatten().tolist()) for r in results]
    assert supports[0] == supports[1] == supports[2] and len(supports[0]) == 10
    assert [(c.op, c.size_bytes) for c in coll.calls] == [("all_reduce", 10 * 4)]
    torch.testing.assert_close(results[0].aggregate, torch.stack([r.local for r in results]).mean(0))
    other_step, _ = compress_once([make_compressor("randk", ratio=0.2) for _ in xs], xs, step=5)
    assert tuple(torch.nonzero(other_step[0].local).flatten().tolist()) != supports[0]
    # scaled: the kept entries times d / k (unbiased); unscaled: the kept entries as they are
    kept = torch.tensor(supports[0])
    torch.testing.assert_close(results[0].local[kept], xs[0][kept] * 5.0, rtol=0, atol=0)
    unscaled, _ = compress_once([make_compressor("randk", ratio=0.2) for _ in xs], xs, step=4)
    torch.testing.assert_close(unscaled[0].local, torch.zeros(50).index_copy(0, kept, xs[0][kept]), rtol=0, atol=0)
