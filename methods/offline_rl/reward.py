"""RACTD's reward model (Duan et al., arXiv 2506.07822; official reward_d4rl_* configs): a noise-free regressor
of the Monte-Carlo discounted return-to-go Q_t = sum_{k>=t} 0.99^(k-t) r_k (per episode, range-normalised to
[0, 1]) from one step's [action, state]; residual MLP blocks (Linear-Mish-Linear + residual) of widths
64 -> 128 -> 256 then Linear -> 1; MSE loss, AdamW (lr 2e-4, weight decay 1e-3), batch 64. Trained once, then
frozen: no TD learning anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


def discounted_return_to_go(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float = 0.99) -> np.ndarray:
    """Q_t = r_t + gamma Q_{t+1} within each episode; ``episode_ends[t]`` is True on an episode's last step."""
    rewards = np.asarray(rewards, dtype=np.float64)
    ends = np.asarray(episode_ends, dtype=bool)
    if rewards.shape != ends.shape or rewards.ndim != 1:
        raise ValueError(f"rewards {rewards.shape} and episode_ends {ends.shape} must be equal 1-D shapes")
    out = np.empty_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + (0.0 if ends[t] else gamma * running)
        out[t] = running
    return out


class _ResBlock(nn.Module):
    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, d_out), nn.Mish(), nn.Linear(d_out, d_out))
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class RewardModel(nn.Module):
    """R([a, s]) -> normalised return-to-go; ``dims`` are the residual blocks' widths (authors: 64, 128, 256)."""

    def __init__(self, act_dim: int, obs_dim: int, dims: tuple[int, ...] = (64, 128, 256)) -> None:
        super().__init__()
        widths = (act_dim + obs_dim, *dims)
        self.blocks = nn.Sequential(*(_ResBlock(a, b) for a, b in zip(widths[:-1], widths[1:])))
        self.head = nn.Linear(dims[-1], 1)

    def forward(self, action: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(torch.cat([action, obs], dim=-1))).squeeze(-1)


@dataclass(frozen=True)
class RangeNormaliser:
    """Affine map of [low, high] onto [0, 1] (the authors' range normalisation of the return labels)."""

    low: float
    high: float

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return (values - self.low) / max(self.high - self.low, 1e-12)


def fit_reward_model(actions: np.ndarray, obs: np.ndarray, returns: np.ndarray, *, epochs: int = 50,
                     batch: int = 64, lr: float = 2e-4, weight_decay: float = 1e-3,
                     dims: tuple[int, ...] = (64, 128, 256), seed: int = 0) -> tuple[RewardModel, RangeNormaliser]:
    """Train R on (action, state) -> range-normalised return; returns the frozen model (eval mode, no grads)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    norm = RangeNormaliser(float(np.min(returns)), float(np.max(returns)))
    a = torch.as_tensor(actions, dtype=torch.float32)
    s = torch.as_tensor(obs, dtype=torch.float32)
    y = torch.as_tensor(norm(np.asarray(returns)), dtype=torch.float32)
    model = RewardModel(a.shape[1], s.shape[1], dims)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).split(batch):
            loss = torch.mean((model(a[idx], s[idx]) - y[idx]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval().requires_grad_(False)
    return model, norm
