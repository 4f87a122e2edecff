"""`SmallCNN`: a two-conv network for 8x8 single-channel images (the digits stand-in for CIFAR ResNets).

Conv weights [out, in, 3, 3] are what the matrix compressors view as [out, in*9].

Example::

    >>> import torch
    >>> tuple(SmallCNN(seed=0)(torch.zeros(2, 1, 8, 8)).shape)
    (2, 10)
"""

from __future__ import annotations

import torch
from torch import nn

from methods.models.init import conv2d, init_parameters, linear


class SmallCNN(nn.Module):
    """conv3x3(c1) -> ReLU -> conv3x3(c2) -> ReLU -> 2x2 max-pool -> linear(n_classes)."""

    def __init__(self, channels: tuple[int, int] = (16, 32), n_classes: int = 10, seed: int = 0):
        super().__init__()
        c1, c2 = channels
        self.conv1 = conv2d(1, c1, 3, padding=1)
        self.conv2 = conv2d(c1, c2, 3, padding=1)
        self.head = linear(c2 * 4 * 4, n_classes)
        init_parameters(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x.reshape(-1, 1, 8, 8)))
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.head(x.flatten(1))
