"""Gaps in the tests of `sharding` found by a mutation audit (after the one closed in `test_data_mutation_gaps`).

- `shard_indices` follows its seed: the same seed gives the same shards, another seed other shards, for the
  i.i.d. and the label-skewed split.
"""

from __future__ import annotations

import numpy as np
import pytest

from methods.data.sharding import shard_indices


@pytest.mark.parametrize("alpha", [None, 0.5])
def test_shards_follow_the_seed(alpha):
    labels = np.repeat(np.arange(4), 25)

    def shards(seed: int) -> list[list[int]]:
        return [s.tolist() for s in shard_indices(labels, n_workers=4, seed=seed, dirichlet_alpha=alpha)]

    assert shards(0) == shards(0)
    assert shards(0) != shards(1)
