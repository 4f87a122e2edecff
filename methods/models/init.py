"""Seeded parameter initialisation that never touches torch's global RNG.

Layers are built with `torch.nn.utils.skip_init` (no default init draw) and then filled from a
`torch.Generator`: weights and biases of Linear/Conv layers ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch's
default scale), or N(0, std) when ``normal_std`` is given (GPT-style); embeddings ~ N(0, normal_std or 1);
norm weights = 1.

Example::

    >>> import torch
    >>> a, b = linear(4, 3), linear(4, 3)
    >>> init_parameters(a, 7); init_parameters(b, 7)
    >>> torch.equal(a.weight, b.weight)
    True
"""

from __future__ import annotations

import math

import torch
from torch import nn


def linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    """An uninitialised `nn.Linear` (fill it with `init_parameters`)."""
    return nn.utils.skip_init(nn.Linear, in_features, out_features, bias=bias)


def conv2d(in_channels: int, out_channels: int, kernel_size: int, padding: int = 0) -> nn.Conv2d:
    """An uninitialised `nn.Conv2d`."""
    return nn.utils.skip_init(nn.Conv2d, in_channels, out_channels, kernel_size, padding=padding)


def embedding(num: int, dim: int) -> nn.Embedding:
    """An uninitialised `nn.Embedding`."""
    return nn.utils.skip_init(nn.Embedding, num, dim)


@torch.no_grad()
def init_parameters(module: nn.Module, seed: int, normal_std: float | None = None) -> None:
    """Fill every Linear/Conv/Embedding/norm parameter of ``module`` from a generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            fan_in = sub.weight[0].numel()
            if normal_std is None:
                bound = 1.0 / math.sqrt(fan_in)
                sub.weight.uniform_(-bound, bound, generator=gen)
                if sub.bias is not None:
                    sub.bias.uniform_(-bound, bound, generator=gen)
            else:
                sub.weight.normal_(0.0, normal_std, generator=gen)
                if sub.bias is not None:
                    sub.bias.zero_()
        elif isinstance(sub, nn.Embedding):
            sub.weight.normal_(0.0, normal_std or 1.0, generator=gen)
        elif isinstance(sub, (nn.LayerNorm, nn.RMSNorm)):
            if sub.weight is not None:
                sub.weight.fill_(1.0)
            if getattr(sub, "bias", None) is not None:
                sub.bias.zero_()
