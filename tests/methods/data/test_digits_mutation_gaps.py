"""Gaps in the tests of `digits` found by a mutation audit (after the one closed in `test_data_mutation_gaps`).

- `load_digits_split` follows its seed (another seed, another split);
- `DigitsShards` passes ``dirichlet_alpha`` on: a tiny alpha gives each class almost wholly to one worker.
"""

from __future__ import annotations

import numpy as np
import torch

from methods.data.digits import DigitsShards, load_digits_split


def test_split_follows_the_seed_and_shards_take_the_label_skew():
    first, other = load_digits_split(0.25, seed=0), load_digits_split(0.25, seed=1)
    assert not torch.equal(first.y_test, other.y_test)
    labels = first.y_train.numpy()
    skewed = DigitsShards(first, n_workers=4, batch_size=8, seed=0, dirichlet_alpha=1e-3)
    for cls in range(10):
        counts = [int(np.sum(labels[shard] == cls)) for shard in skewed.shards]
        assert max(counts) >= 0.9 * sum(counts), (cls, counts)  # i.i.d. shards would give each worker ~1/4
