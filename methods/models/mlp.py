"""`MLP` and multinomial `LogisticRegression` (with the ARC paper's non-convex regulariser) for digits.

The regulariser rho * sum_j w_j^2 / (1 + w_j^2) is the one of the ARC-Top-K numerical experiment (research
card sec. 1.5), applied to the weight matrix.

Example::

    >>> import torch
    >>> net = MLP(64, 32, 10, seed=0)
    >>> tuple(net(torch.zeros(5, 64)).shape)
    (5, 10)
    >>> [n for n, _ in net.named_parameters()]
    ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
"""

from __future__ import annotations

import torch
from torch import nn

from methods.models.init import init_parameters, linear


class MLP(nn.Module):
    """in -> hidden (ReLU) -> out."""

    def __init__(self, in_features: int, hidden: int, out_features: int, seed: int = 0):
        super().__init__()
        self.hidden = linear(in_features, hidden)
        self.out = linear(hidden, out_features)
        init_parameters(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


class LogisticRegression(nn.Module):
    """Multinomial logistic regression; `loss` adds rho * sum w^2 / (1 + w^2) on the weights."""

    def __init__(self, in_features: int, n_classes: int, rho: float = 1e-2, seed: int = 0):
        super().__init__()
        if rho < 0:
            raise ValueError(f"rho: expected >= 0, got {rho}")
        self.linear = linear(in_features, n_classes)
        self.rho = float(rho)
        init_parameters(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    def regulariser(self) -> torch.Tensor:
        w = self.linear.weight
        return self.rho * (w * w / (1.0 + w * w)).sum()

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(self(x), y) + self.regulariser()
