"""Deterministic data shards for N workers and random-access per-(worker, step) batches.

`shard_indices` splits sample indices among workers, either i.i.d. (a seeded permutation cut into N parts) or
label-skewed (a Dirichlet(alpha) mix of classes per worker: small alpha = heterogeneous data, the setting in
which Top-K's aggregate loses contraction and ARC/EF21 matter). `batch_indices(shard, worker, step, ...)`
draws a batch from a generator seeded by (seed, worker, step), so the simulated runner and every DDP rank
draw the same batch for the same (worker, step) with no shared iterator state.

Example::

    >>> import numpy as np
    >>> shards = shard_indices(np.repeat(np.arange(4), 25), n_workers=2, seed=0)
    >>> [len(s) for s in shards]
    [50, 50]
    >>> a = batch_indices(shards[1], worker=1, step=3, batch_size=4, seed=0)
    >>> bool((a == batch_indices(shards[1], worker=1, step=3, batch_size=4, seed=0)).all())
    True
"""

from __future__ import annotations

import numpy as np


def shard_indices(
    labels: np.ndarray, n_workers: int, seed: int, *, dirichlet_alpha: float | None = None
) -> list[np.ndarray]:
    """Split ``range(len(labels))`` among ``n_workers``.

    Args:
        labels: integer class labels (used only for the label-skewed split).
        n_workers: number of workers (>= 1, <= number of samples).
        seed: shard seed.
        dirichlet_alpha: None for an i.i.d. split; else each class is split among workers in Dirichlet(alpha)
            proportions (every worker is guaranteed at least one sample).
    """
    labels = np.asarray(labels)
    n = len(labels)
    if int(n_workers) < 1 or n_workers > n:
        raise ValueError(f"n_workers: expected 1..{n} (number of samples), got {n_workers}")
    rng = np.random.default_rng([int(seed), 0x5A4D])
    if dirichlet_alpha is None:
        return [np.sort(part) for part in np.array_split(rng.permutation(n), n_workers)]
    if dirichlet_alpha <= 0:
        raise ValueError(f"dirichlet_alpha: expected > 0, got {dirichlet_alpha}")
    parts: list[list[int]] = [[] for _ in range(n_workers)]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        props = rng.dirichlet(np.full(n_workers, float(dirichlet_alpha)))
        cuts = (np.cumsum(props)[:-1] * len(idx)).astype(int)
        for w, chunk in enumerate(np.split(idx, cuts)):
            parts[w].extend(chunk.tolist())
    for w in range(n_workers):  # no empty worker: borrow one sample from the largest shard
        if not parts[w]:
            donor = max(range(n_workers), key=lambda j: len(parts[j]))
            parts[w].append(parts[donor].pop())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def batch_indices(shard: np.ndarray, worker: int, step: int, batch_size: int, seed: int) -> np.ndarray:
    """A batch of ``batch_size`` indices from ``shard`` (without replacement when it fits), seeded by
    (seed, worker, step)."""
    if int(batch_size) < 1:
        raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
    rng = np.random.default_rng([int(seed), int(worker), int(step), 0xBA7C])
    replace = batch_size > len(shard)
    return np.asarray(shard)[rng.choice(len(shard), size=int(batch_size), replace=replace)]
