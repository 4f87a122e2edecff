"""What the AQ-SGD endpoint and link checkpoint tests share: step-seeded drifting activations and a bit-exact
comparison of two caches."""

from __future__ import annotations

import torch


def drifting_batch(step: int, n_samples: int, shape: tuple[int, int]) -> tuple[list[int], torch.Tensor]:
    """3 of ``n_samples`` sample ids drawn for ``step`` and their activations of ``shape``, drifting slowly with the
    step (plus a little noise): what consecutive epochs of a training run send for the same samples."""
    gen = torch.Generator().manual_seed(step)
    ids = torch.randperm(n_samples, generator=gen)[:3].tolist()
    a = torch.stack([torch.sin(torch.arange(shape[0] * shape[1]).float() * (i + 1) / 7 + 0.05 * step).reshape(shape)
                     for i in ids]) + 0.01 * torch.randn(3, *shape, generator=gen)
    return ids, a


def same_cache(a, b) -> bool:
    """The two endpoints' caches hold the same samples with the same dtype and bits."""
    return sorted(a.cache) == sorted(b.cache) and all(
        a.cache[k].dtype == b.cache[k].dtype and torch.equal(a.cache[k].view(torch.uint8), b.cache[k].view(torch.uint8))
        for k in a.cache)
