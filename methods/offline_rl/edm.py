"""EDM preconditioning, the Karras noise grid and samplers of one denoiser (Karras et al., arXiv 2206.00364),
with the constants of RACTD's official configs (Duan et al., arXiv 2506.07822; github.com/Ddduanxt/RACTD):
sigma_data 0.5, sigma in [0.02, 80], rho 7, 80 bins, log-normal training sigma (P_mean -1.2, P_std 1.2),
"boundary" scalings that make the denoiser the identity at sigma_min, time input 250 log(sigma).

Samplers (all of the same denoiser, x_T = sigma_max * N(0, I)):
* ``heun``: Karras's second-order Heun over the grid, Euler on the last step to 0 (2 n - 1 evaluations for n bins;
  the paper counts this teacher as "80 NFE").
* ``ddim``: the deterministic first-order (Euler) probability-flow ODE step, which is DDIM in the sigma
  parameterisation (Karras et al., sec. 3), n evaluations.
* ``ddpm``: the stochastic ancestral step (DDPM-style; Karras et al.'s "Euler ancestral"), n evaluations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

Sampler = Literal["heun", "ddim", "ddpm"]
SAMPLERS: tuple[str, ...] = ("heun", "ddim", "ddpm")


@dataclass(frozen=True)
class EDMConfig:
    """Noise-schedule constants (RACTD official configs, edm_d4rl_* / CTM_Scheduler)."""

    sigma_data: float = 0.5
    sigma_min: float = 0.02
    sigma_max: float = 80.0
    rho: float = 7.0
    bins: int = 80
    p_mean: float = -1.2
    p_std: float = 1.2


def karras_sigmas(n: int, cfg: EDMConfig = EDMConfig()) -> torch.Tensor:
    """``n`` decreasing noise levels sigma_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho."""
    if n < 2:
        raise ValueError(f"a Karras grid needs at least 2 bins, got {n}")
    ramp = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    lo, hi = cfg.sigma_min ** (1 / cfg.rho), cfg.sigma_max ** (1 / cfg.rho)
    return ((hi + ramp * (lo - hi)) ** cfg.rho).float()


def scalings(sigma: torch.Tensor, cfg: EDMConfig = EDMConfig()) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boundary-aware (c_skip, c_out, c_in): c_skip(sigma_min) = 1 and c_out(sigma_min) = 0 exactly."""
    sd2 = cfg.sigma_data**2
    c_skip = sd2 / ((sigma - cfg.sigma_min) ** 2 + sd2)
    c_out = (sigma - cfg.sigma_min) * cfg.sigma_data / torch.sqrt(sigma**2 + sd2)
    c_in = 1.0 / torch.sqrt(sigma**2 + sd2)
    return c_skip, c_out, c_in


def time_input(sigma: torch.Tensor) -> torch.Tensor:
    """The network's time input, 250 log(sigma) (RACTD's CTM and EDM code)."""
    return 250.0 * torch.log(sigma)


def karras_weight(sigma: torch.Tensor, cfg: EDMConfig = EDMConfig()) -> torch.Tensor:
    """EDM loss weight lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2."""
    return (sigma**2 + cfg.sigma_data**2) / (sigma * cfg.sigma_data) ** 2


def pseudo_huber(pred: torch.Tensor, target: torch.Tensor, delta: float | None = None) -> torch.Tensor:
    """Per-sample pseudo-Huber distance: sqrt((pred - target)^2 + delta^2) - delta averaged over elements
    (Song & Dhariwal's iCT, arXiv 2310.14189); ``delta`` defaults to iCT's 0.00054 sqrt(elements per sample),
    the authors' "auto" setting."""
    per_sample = pred[0].numel()
    delta = 0.00054 * math.sqrt(per_sample) if delta is None else delta
    return (torch.sqrt((pred - target) ** 2 + delta**2) - delta).reshape(len(pred), -1).mean(dim=1)


def expand(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Broadcast a per-sample sigma (shape (B,) or scalar) over the trailing dims of ``like``."""
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    if sigma.ndim == 0:
        sigma = sigma.expand(like.shape[0])
    return sigma.reshape(-1, *([1] * (like.ndim - 1)))


class EDMDenoiser(nn.Module):
    """D(x, sigma | obs) = c_skip x + c_out F(c_in x, 250 log sigma, obs) around a network ``net``."""

    def __init__(self, net: nn.Module, cfg: EDMConfig = EDMConfig()) -> None:
        super().__init__()
        self.net = net
        self.cfg = cfg

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, obs: torch.Tensor | None = None) -> torch.Tensor:
        sigma = expand(sigma, x)
        c_skip, c_out, c_in = scalings(sigma, self.cfg)
        return c_skip * x + c_out * self.net(c_in * x, time_input(sigma.reshape(-1)), obs)

    def loss(self, x0: torch.Tensor, obs: torch.Tensor | None, generator: torch.Generator | None = None,
             penalty: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None = None) -> torch.Tensor:
        """EDM loss: log-normal sigma, Karras weight, pseudo-Huber distance (mean over the batch), plus
        ``penalty(denoised, obs)`` when given (a reward term on the teacher's own denoised output)."""
        z = torch.randn(len(x0), generator=generator, device=x0.device)
        sigma = torch.exp(self.cfg.p_mean + self.cfg.p_std * z).clamp(self.cfg.sigma_min, self.cfg.sigma_max)
        noisy = x0 + expand(sigma, x0) * torch.randn(x0.shape, generator=generator, device=x0.device)
        denoised = self(noisy, sigma, obs)
        edm = (karras_weight(sigma, self.cfg) * pseudo_huber(denoised, x0)).mean()
        return edm if penalty is None else edm + penalty(denoised, obs)


Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def heun_step(denoise: Denoise, x: torch.Tensor, s_from: float | torch.Tensor,
              s_to: float | torch.Tensor) -> torch.Tensor:
    """One Heun step of the probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma from ``s_from`` to
    ``s_to`` (scalars or per-sample tensors); Euler when every ``s_to`` is 0."""
    sf, st = expand(s_from, x), expand(s_to, x)
    d = (x - denoise(x, sf.reshape(-1))) / sf
    x_next = x + (st - sf) * d
    if bool((st == 0).all()):
        return x_next
    if bool((st == 0).any()):
        raise ValueError("heun_step: s_to must be all zero or all positive")
    d_next = (x_next - denoise(x_next, st.reshape(-1))) / st
    return x + (st - sf) * 0.5 * (d + d_next)


def sampler_evaluations(sampler: str, steps: int) -> int:
    """Network evaluations one sample costs: Heun 2 n - 1 over n bins; DDIM / DDPM n."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    return 2 * steps - 1 if sampler == "heun" else steps


@torch.no_grad()
def sample(
    denoiser: EDMDenoiser,
    shape: tuple[int, ...],
    obs: torch.Tensor | None = None,
    *,
    sampler: Sampler = "heun",
    steps: int = 80,
    generator: torch.Generator | None = None,
    condition: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Draw ``shape`` samples from ``denoiser`` with ``steps`` bins of the Karras grid, then to sigma = 0.
    ``condition`` (Diffuser's inpainting) overwrites the known entries of x at the start and after every step."""
    sampler_evaluations(sampler, steps)
    cfg = denoiser.cfg
    grid = karras_sigmas(steps, cfg).tolist() + [0.0]

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return denoiser(x, sigma, obs)

    keep = condition if condition is not None else (lambda x: x)
    x = keep(cfg.sigma_max * torch.randn(shape, generator=generator))
    for s_from, s_to in zip(grid[:-1], grid[1:]):
        if sampler == "heun":
            x = heun_step(denoise, x, s_from, s_to)
        elif sampler == "ddim":
            x = x + (s_to - s_from) * (x - denoise(x, torch.tensor(s_from))) / s_from
        else:  # ancestral (DDPM-style): deterministic step to sigma_down, then fresh noise of size sigma_up
            x0 = denoise(x, torch.tensor(s_from))
            sigma_up = math.sqrt(max(s_to**2 * (s_from**2 - s_to**2) / s_from**2, 0.0))
            sigma_down = math.sqrt(max(s_to**2 - sigma_up**2, 0.0))
            x = x0 + (x - x0) * (sigma_down / s_from) + sigma_up * torch.randn(x.shape, generator=generator)
        x = keep(x)
    return x


def train_denoiser(denoiser: EDMDenoiser, x0: torch.Tensor, obs: torch.Tensor | None = None, *, steps: int = 1000,
                   batch: int = 256, lr: float = 1e-4, weight_decay: float = 1e-6, seed: int = 0,
                   penalty: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None = None) -> list[float]:
    """Fit the teacher with the EDM loss on sequences ``x0`` (N, T, A); AdamW with the authors' betas
    (0.95, 0.999) and weight decay 1e-6 (their lr is 1e-4 over 1000 epochs); returns per-step losses.
    ``penalty`` adds a term on the denoised output (`EDMDenoiser.loss`)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(denoiser.parameters(), lr=lr, betas=(0.95, 0.999), weight_decay=weight_decay)
    losses = []
    denoiser.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x0), (min(batch, len(x0)),), generator=gen)
        loss = denoiser.loss(x0[idx], None if obs is None else obs[idx], generator=gen, penalty=penalty)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    denoiser.eval()
    return losses
