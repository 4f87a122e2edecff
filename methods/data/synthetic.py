"""Synthetic objectives of the ARC-Top-K paper's numerical experiments (arXiv 2510.26709; research card 1.5).

`RobustShiftedObjective` — the adversarial "robust shifted objective" of the authors' synthetic script.
x in R^{blocks x block_size}; C "noise" blocks b = 0..C-1, one signal block s = C, the rest unused. Worker i
has a static shift xi_i and a coupling gamma_i, (+noise_scale, +gamma) on the first half of the workers and
(-noise_scale, -gamma) on the second half:
    f_i(x) = 0.5 ||x_s - S||^2 + (1 / C) sum_b 0.5 ||x_b - (xi_i + gamma_i x_s)||^2.
Each worker's gradient is dominated by its huge noise blocks, whose shifts cancel only in the mean, so a
*local* Top-K keeps sending noise blocks while the signal block starves; ARC ranks rows by the *mean*.
Minimiser of the mean f: x_s* = (S - E[gamma xi]) / (1 + E[gamma^2]), x_b* = E[xi] + E[gamma] x_s*, unused
blocks 0. Defaults are the script's: 10 workers, 200 blocks of 10, 150 noise blocks, shift 100, gamma 5,
S = 1, gradient noise std 1e-3 (the script: block ratio 0.05, lr 1e-3, momentum 0.5, sketch width 2).

`HeterogeneousLogistic` — logistic regression with the non-convex regulariser rho sum_j x_j^2 / (1 + x_j^2)
on data in `groups` feature-shifted groups, split contiguously over workers (so workers see different
distributions). Authors' setting: d = 40, 1.44M samples, 4 workers, 3 groups, rho = 1e-2, batch 200,
lr 5e-2, 3000 iterations, x viewed as 10 rows; our default sample count is reduced (stated in `n_samples`).

Example::

    >>> import torch
    >>> obj = RobustShiftedObjective()
    >>> g = torch.stack([obj.gradient(i, obj.optimum(), step=0, noise=False) for i in range(obj.n_workers)])
    >>> float(g.mean(0).abs().max()) < 1e-9
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


def _noise(shape: tuple[int, ...], std: float, seed: int, worker: int, step: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, worker, step, 0x4E01]).generate_state(1)[0]))
    return torch.randn(shape, generator=gen, dtype=torch.float64) * std


@dataclass
class RobustShiftedObjective:
    """The ARC synthetic objective (see module docstring); tensors are float64 [blocks, block_size]."""

    n_workers: int = 10
    blocks: int = 200
    block_size: int = 10
    noise_blocks: int = 150
    noise_scale: float = 100.0
    signal_scale: float = 1.0
    gamma: float = 5.0
    noise_std: float = 1e-3
    seed: int = 42
    _xi: torch.Tensor = field(init=False, repr=False)
    _gam: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.n_workers < 2:
            raise ValueError(f"n_workers: expected >= 2 (two opposite groups), got {self.n_workers}")
        if not 1 <= self.noise_blocks < self.blocks:
            raise ValueError(f"noise_blocks: expected 1..{self.blocks - 1}, got {self.noise_blocks}")
        half = self.n_workers // 2
        sign = torch.tensor([1.0 if i < half else -1.0 for i in range(self.n_workers)], dtype=torch.float64)
        self._xi = sign * self.noise_scale
        self._gam = sign * self.gamma

    @property
    def shape(self) -> tuple[int, int]:
        return (self.blocks, self.block_size)

    @property
    def signal_block(self) -> int:
        return self.noise_blocks

    def gradient(self, worker: int, x: torch.Tensor, step: int, noise: bool = True) -> torch.Tensor:
        """Gradient of f_worker at x (+ seeded Gaussian noise of std ``noise_std`` on every entry)."""
        C, s = self.noise_blocks, self.signal_block
        x = x.to(torch.float64)
        xi, gam = self._xi[worker], self._gam[worker]
        g = torch.zeros_like(x)
        resid = x[:C] - (xi + gam * x[s])
        g[:C] = resid / C
        g[s] = (x[s] - self.signal_scale) - gam * resid.sum(dim=0) / C
        if noise and self.noise_std > 0:
            g = g + _noise(tuple(x.shape), self.noise_std, self.seed, worker, step)
        return g

    def loss(self, x: torch.Tensor) -> float:
        """Mean over workers of f_i(x)."""
        C, s = self.noise_blocks, self.signal_block
        x = x.to(torch.float64)
        target = self._xi[:, None, None] + self._gam[:, None, None] * x[s][None, None, :]
        noise_part = 0.5 * ((x[:C][None] - target) ** 2).sum(dim=(1, 2)).mean() / C
        return float(0.5 * ((x[s] - self.signal_scale) ** 2).sum() + noise_part)

    def optimum(self) -> torch.Tensor:
        """The exact minimiser of the mean objective."""
        e_gx = float((self._gam * self._xi).mean())
        e_g2 = float((self._gam**2).mean())
        xs = (self.signal_scale - e_gx) / (1.0 + e_g2)
        x = torch.zeros(self.shape, dtype=torch.float64)
        x[self.signal_block] = xs
        x[: self.noise_blocks] = float(self._xi.mean()) + float(self._gam.mean()) * xs
        return x

    def distance(self, x: torch.Tensor) -> float:
        return float((x.to(torch.float64) - self.optimum()).norm())


@dataclass
class HeterogeneousLogistic:
    """Logistic regression + non-convex regulariser on group-shifted data split over workers.

    Args:
        dim: features d (authors: 40).
        rows: the matrix view of x is [rows, dim // rows] (authors: 10 rows).
        n_samples: total samples (authors: 1,440,000; reduced by default for the CPU).
        n_workers: workers (authors: 4); samples are split contiguously, so groups land on different workers.
        groups: feature-mean groups (authors: 3), group k shifted by k - (groups - 1) / 2 in every feature.
        rho: regulariser weight (authors: 1e-2).
        batch_size: per-worker batch (authors: 200).
        seed: data seed.
    """

    dim: int = 40
    rows: int = 10
    n_samples: int = 144_000
    n_workers: int = 4
    groups: int = 3
    rho: float = 1e-2
    batch_size: int = 200
    seed: int = 42
    features: torch.Tensor = field(init=False, repr=False)
    labels: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.dim % self.rows:
            raise ValueError(f"rows: must divide dim={self.dim}, got {self.rows}")
        if self.n_samples % self.n_workers:
            raise ValueError(f"n_samples: must be divisible by n_workers={self.n_workers}, got {self.n_samples}")
        rng = np.random.default_rng(self.seed)
        x_opt = rng.standard_normal(self.dim)
        h = np.empty((self.n_samples, self.dim))
        for k, part in enumerate(np.array_split(np.arange(self.n_samples), self.groups)):
            h[part] = rng.normal(loc=k - (self.groups - 1) / 2.0, scale=1.0, size=(len(part), self.dim))
        p = 1.0 / (1.0 + np.exp(-h @ x_opt))
        y = np.where(rng.uniform(size=self.n_samples) < p, 1.0, -1.0)
        self.features = torch.from_numpy(h)
        self.labels = torch.from_numpy(y)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.dim // self.rows)

    def _worker_slice(self, worker: int) -> slice:
        per = self.n_samples // self.n_workers
        return slice(worker * per, (worker + 1) * per)

    def _grad(self, x: torch.Tensor, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        w = x.reshape(-1).to(torch.float64)
        margin = y * (h @ w)
        logistic = -(h * (y * torch.sigmoid(-margin))[:, None]).mean(dim=0)
        reg = self.rho * 2.0 * w / (1.0 + w * w) ** 2
        return (logistic + reg).reshape(x.shape)

    def gradient(self, worker: int, x: torch.Tensor, step: int) -> torch.Tensor:
        """Stochastic gradient of worker ``worker`` on a seeded batch of its own samples."""
        sl = self._worker_slice(worker)
        per = sl.stop - sl.start
        rng = np.random.default_rng([self.seed, worker, step, 0x1065])
        idx = torch.from_numpy(sl.start + rng.choice(per, size=min(self.batch_size, per), replace=False))
        return self._grad(x, self.features[idx], self.labels[idx])

    def full_gradient(self, x: torch.Tensor) -> torch.Tensor:
        """Gradient of the global objective (mean over all samples)."""
        return self._grad(x, self.features, self.labels)

    def loss(self, x: torch.Tensor) -> float:
        w = x.reshape(-1).to(torch.float64)
        margin = self.labels * (self.features @ w)
        return float(torch.nn.functional.softplus(-margin).mean() + self.rho * (w * w / (1.0 + w * w)).sum())
