"""scikit-learn's bundled 8x8 handwritten digits as standardised torch tensors, sharded over workers.

1,797 images ship inside scikit-learn (`sklearn.datasets.load_digits`); nothing is downloaded. Stands in for
CIFAR in the ARC-Top-K Table II / GreedyLore Fig. 3 reductions (a small MLP or CNN, ratio 0.2, low ranks).

Example::

    >>> data = load_digits_split(test_fraction=0.25, seed=0)
    >>> tuple(data.x_train.shape), int(data.y_train.max())
    ((1347, 64), 9)
    >>> shards = DigitsShards(data, n_workers=4, batch_size=32, seed=0)
    >>> x, y = shards.batch(worker=2, step=5)
    >>> tuple(x.shape), tuple(y.shape)
    ((32, 64), (32,))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from methods.data.sharding import batch_indices, shard_indices


@dataclass(frozen=True)
class DigitsSplit:
    """Train/test tensors: features [N, 64] float32 (standardised with train statistics), labels int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 64] -> [N, 1, 8, 8] for a CNN."""
        return x.reshape(-1, 1, 8, 8)


def load_digits_split(test_fraction: float = 0.25, seed: int = 0) -> DigitsSplit:
    """Load the bundled digits, split them (seeded, stratified) and standardise with train statistics."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a fraction in (0, 1), got {test_fraction}")
    bunch = load_digits()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    # a pixel constant in the train split (std 0) is only centred: dividing by the 1e-6 guard would turn its value
    # in a test image that has it lit into ~10^6 (sklearn's StandardScaler also leaves such a feature unscaled)
    std = x_tr.std(axis=0)
    mean, std = x_tr.mean(axis=0), np.where(std > 0, std + 1e-6, 1.0).astype(np.float32)
    return DigitsSplit(
        torch.from_numpy((x_tr - mean) / std),
        torch.from_numpy(y_tr),
        torch.from_numpy((x_te - mean) / std),
        torch.from_numpy(y_te),
    )


class DigitsShards:
    """Per-worker shards of the training set and deterministic batches.

    Args:
        data: a `DigitsSplit`.
        n_workers: workers.
        batch_size: per-worker batch size.
        seed: shard and batch seed.
        dirichlet_alpha: None for i.i.d. shards, else label-skewed (see `shard_indices`).
    """

    def __init__(self, data: DigitsSplit, n_workers: int, batch_size: int, seed: int,
                 dirichlet_alpha: float | None = None):
        self.data = data
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shards = shard_indices(data.y_train.cpu().numpy(), n_workers, seed, dirichlet_alpha=dirichlet_alpha)

    def batch(self, worker: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(batch_indices(self.shards[worker], worker, step, self.batch_size, self.seed))
        idx = idx.to(self.data.x_train.device)
        return self.data.x_train[idx], self.data.y_train[idx]
