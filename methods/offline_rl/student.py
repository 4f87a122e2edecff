"""RACTD's one-step student (Duan et al., arXiv 2506.07822, Eqs. 5-9; official guided_ctmp_* configs): a
consistency trajectory model (Kim et al., arXiv 2310.02279) G(x, t, s) that jumps from noise level t to s <= t,

    g(x, t, s) = c_skip(t) x + c_out(t) F(c_in(t) x, 250 log t, obs, 250 log s)
    G(x, t, s) = (s / t) x + (1 - s / t) g(x, t, s)

so G(x, t, t) = x exactly, whatever F is. It is distilled from a frozen EDM teacher with
L = alpha L_CTM + beta L_DSM + sigma_r L_Reward:

* CTM: t, s on the Karras grid (s below t), u one bin below t; the teacher's Heun step takes x_t to x_u; the
  student's direct jump G(x_t, t, s) is compared with G_sg(x_u, u, s), both mapped to sigma_min by the stop-grad
  copy G_sg (gradients reach the student through the first argument), pseudo-Huber distance.
* DSM: G(x0 + sigma eps, sigma, sigma_min) against x0 with the Karras weight; half of sigma from the noisy end of
  the grid (xi ~ U[0, 0.7] of the rho-ramp), half log-normal.
* Reward: minus the frozen reward model at the first action of the DSM prediction and the current state.

The stop-grad copy is an EMA with decay 0 by default (the authors' setting, a plain copy). Inference draws
x_T ~ N(0, I) (not scaled by sigma_max, as the authors do) and makes one call G(x_T, sigma_max, sigma_min), then
clamps to [-1, 1].
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from methods.offline_rl.edm import (EDMConfig, EDMDenoiser, expand, heun_step, karras_sigmas, karras_weight,
                                    pseudo_huber, scalings, time_input)
from methods.offline_rl.reward import RewardModel


class CTMStudent(nn.Module):
    """G(x, t, s | obs) around a network that embeds both t and s (`networks.build_network(with_stop_time=True)`)."""

    def __init__(self, net: nn.Module, cfg: EDMConfig = EDMConfig()) -> None:
        super().__init__()
        self.net = net
        self.cfg = cfg

    def g(self, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor, obs: torch.Tensor | None) -> torch.Tensor:
        t = expand(t, x)
        s = expand(s, x).reshape(-1)
        c_skip, c_out, c_in = scalings(t, self.cfg)
        return c_skip * x + c_out * self.net(c_in * x, time_input(t.reshape(-1)), obs, time_input(s))

    def forward(self, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor,
                obs: torch.Tensor | None = None) -> torch.Tensor:
        ratio = expand(s, x) / expand(t, x)
        return ratio * x + (1 - ratio) * self.g(x, t, s, obs)

    @torch.no_grad()
    def sample(self, shape: tuple[int, ...], obs: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """One network evaluation: G(x_T, sigma_max, sigma_min) with x_T ~ N(0, I), clamped to [-1, 1]."""
        x = torch.randn(shape, generator=generator)
        return self(x, torch.tensor(self.cfg.sigma_max), torch.tensor(self.cfg.sigma_min), obs).clamp(-1.0, 1.0)

    @torch.no_grad()
    def sample_chain(self, shape: tuple[int, ...], obs: torch.Tensor | None = None, nfe: int = 1,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """``nfe`` network evaluations: the one-step sample, then ``nfe - 1`` times re-noised to a grid level and
        jumped back to sigma_min (the authors' "chaining"; levels at bins round(k * bins / nfe), e.g. 27 and 53 of 80
        for three evaluations)."""
        if nfe < 1:
            raise ValueError(f"nfe must be >= 1, got {nfe}")
        x = self.sample(shape, obs, generator)
        grid = karras_sigmas(self.cfg.bins, self.cfg)
        sigma_min = torch.tensor(self.cfg.sigma_min)
        for k in range(1, nfe):
            level = grid[round(k * self.cfg.bins / nfe)]
            noisy = x + level * torch.randn(x.shape, generator=generator)
            x = self(noisy, level, sigma_min, obs).clamp(-1.0, 1.0)
        return x


def student_from_teacher(teacher: EDMDenoiser, student_net: nn.Module) -> CTMStudent:
    """Warm start: the teacher's weights in the student's network (only the stop-time embedding is new, and it
    starts at zero, so the new student's g equals the teacher's denoiser)."""
    teacher_net = getattr(teacher.net, "inner", teacher.net)  # a planner may have wrapped it to count calls
    result = student_net.load_state_dict(teacher_net.state_dict(), strict=False)
    if result.unexpected_keys or any(not k.startswith("cond.s_emb.") for k in result.missing_keys):
        raise ValueError(f"student network does not extend the teacher's: {result}")
    return CTMStudent(student_net, teacher.cfg)


@dataclass(frozen=True)
class StudentConfig:
    """Loss weights and optimiser (authors: alpha = beta = 1, sigma_r per task, AdamW lr 1e-4, wd 1e-4)."""

    steps: int = 1000
    batch: int = 256
    lr: float = 1e-4
    weight_decay: float = 1e-4
    alpha: float = 1.0
    beta: float = 1.0
    reward_weight: float = 1.0
    ema_decay: float = 0.0
    dsm_noisy_xi_max: float = 0.7
    seed: int = 0


def _dsm_sigmas(n: int, cfg: EDMConfig, xi_max: float, gen: torch.Generator) -> torch.Tensor:
    half = n // 2
    lo, hi = cfg.sigma_min ** (1 / cfg.rho), cfg.sigma_max ** (1 / cfg.rho)
    noisy = (hi + xi_max * torch.rand(half, generator=gen) * (lo - hi)) ** cfg.rho
    lognormal = torch.exp(cfg.p_mean + cfg.p_std * torch.randn(n - half, generator=gen))
    return torch.cat([noisy, lognormal.clamp(cfg.sigma_min, cfg.sigma_max)])


def student_losses(student: CTMStudent, target: CTMStudent, teacher: EDMDenoiser, reward: RewardModel | None,
                   x0: torch.Tensor, obs: torch.Tensor | None, cfg: StudentConfig,
                   gen: torch.Generator) -> dict[str, torch.Tensor]:
    """The three loss terms on one batch (``target`` is the stop-grad copy; teacher and reward are frozen)."""
    ecfg = student.cfg
    grid = karras_sigmas(ecfg.bins, ecfg)
    n = len(x0)
    t_idx = torch.randint(0, ecfg.bins - 1, (n,), generator=gen)
    s_idx = t_idx + 1 + (torch.rand(n, generator=gen) * (ecfg.bins - 1 - t_idx)).long()
    t, u, s = grid[t_idx], grid[t_idx + 1], grid[s_idx]
    sigma_min = torch.full((n,), ecfg.sigma_min)
    x_t = x0 + expand(t, x0) * torch.randn(x0.shape, generator=gen)
    with torch.no_grad():
        x_u = heun_step(lambda x, sig: teacher(x, sig, obs), x_t, t, u)
        reference = target(target(x_u, u, s, obs), s, sigma_min, obs)
    ctm = pseudo_huber(target(student(x_t, t, s, obs), s, sigma_min, obs), reference).mean()

    sigma = _dsm_sigmas(n, ecfg, cfg.dsm_noisy_xi_max, gen)
    denoised = student(x0 + expand(sigma, x0) * torch.randn(x0.shape, generator=gen), sigma, sigma_min, obs)
    dsm = (karras_weight(sigma, ecfg) * pseudo_huber(denoised, x0)).mean()

    rwd = torch.zeros(())
    if reward is not None and cfg.reward_weight != 0:
        state = obs.reshape(n, -1) if obs is not None else x0.new_zeros(n, 0)
        rwd = -reward(denoised[:, 0, :], state).mean()
    total = cfg.alpha * ctm + cfg.beta * dsm + cfg.reward_weight * rwd
    return {"total": total, "ctm": ctm, "dsm": dsm, "reward": rwd}


def train_student(student: CTMStudent, teacher: EDMDenoiser, reward: RewardModel | None, x0: torch.Tensor,
                  obs: torch.Tensor | None, cfg: StudentConfig = StudentConfig()) -> list[dict[str, float]]:
    """Distil ``teacher`` (and ``reward``) into ``student`` on sequences ``x0`` (N, T, A) with states ``obs``
    (N, O) or None; returns the per-step losses."""
    gen = torch.Generator().manual_seed(cfg.seed)
    teacher.eval().requires_grad_(False)
    target = copy.deepcopy(student).requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict[str, float]] = []
    for _ in range(cfg.steps):
        idx = torch.randint(0, len(x0), (min(cfg.batch, len(x0)),), generator=gen)
        losses = student_losses(student, target, teacher, reward, x0[idx], None if obs is None else obs[idx], cfg, gen)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        with torch.no_grad():
            for p_t, p in zip(target.parameters(), student.parameters()):
                p_t.mul_(cfg.ema_decay).add_(p.detach(), alpha=1 - cfg.ema_decay)
        history.append({k: v.item() for k, v in losses.items()})
    return history
