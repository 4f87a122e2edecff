"""Shards partition the data exactly; batches depend only on (seed, worker, step)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.data.sharding import batch_indices, shard_indices


@settings(max_examples=40, deadline=None)
@given(n=st.integers(4, 200), n_workers=st.integers(1, 4), seed=st.integers(0, 1000),
       alpha=st.one_of(st.none(), st.floats(0.05, 10.0)))
def test_shards_partition_all_samples(n, n_workers, seed, alpha):
    labels = np.random.default_rng(seed).integers(0, 5, size=n)
    shards = shard_indices(labels, n_workers, seed, dirichlet_alpha=alpha)
    assert len(shards) == n_workers and all(len(s) > 0 for s in shards)
    assert np.array_equal(np.sort(np.concatenate(shards)), np.arange(n))


def test_label_skew_makes_workers_heterogeneous():
    labels = np.repeat(np.arange(10), 100)
    iid = shard_indices(labels, 4, 0)
    skew = shard_indices(labels, 4, 0, dirichlet_alpha=0.1)
    def spread(shards):  # mean total-variation distance of worker label histograms to the global one
        hists = [np.bincount(labels[s], minlength=10) / len(s) for s in shards]
        return np.mean([0.5 * np.abs(h - 0.1).sum() for h in hists])
    assert spread(skew) > 3 * spread(iid)


def test_batches_are_random_access_and_seeded():
    shard = np.arange(100, 150)
    a = batch_indices(shard, 1, 7, 8, seed=3)
    assert np.array_equal(a, batch_indices(shard, 1, 7, 8, seed=3))
    assert not np.array_equal(a, batch_indices(shard, 1, 8, 8, seed=3))
    assert len(set(a.tolist())) == 8 and set(a.tolist()) <= set(shard.tolist())
    with pytest.raises(ValueError, match="n_workers"):
        shard_indices(np.zeros(3), 5, 0)
    with pytest.raises(ValueError, match="batch_size"):
        batch_indices(shard, 0, 0, 0, 0)
