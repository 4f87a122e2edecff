"""Denoiser networks over action sequences (horizon x action dim) conditioned on the observation: a temporal
1-D U-Net with FiLM conditioning in the layout of Diffusion Policy's ``ConditionalUnet1D`` that RACTD uses
(Chi et al., arXiv 2303.04137; Duan et al., arXiv 2506.07822), and a residual MLP for toys.

Every network is called ``net(x, t, obs, s=None)``: ``x`` (B, T, A) scaled input, ``t`` (B,) time input,
``obs`` (B, O) or None, ``s`` (B,) the stop time of a consistency-trajectory student. The stop-time embedding is
a separate module whose last layer starts at zero, so a student built from a teacher's config loads the
teacher's weights (``strict=False``) and starts as exactly the teacher (RACTD warm-starts the student).

Sizes: ``PRESETS["paper"]`` is the authors' teacher/student U-Net (down dims 512/1024/2048, step embedding 128,
kernel 5, GroupNorm 8; official edm_d4rl_* configs); ``cpu_small`` scales the widths down for this CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn


@dataclass(frozen=True)
class NetworkConfig:
    kind: Literal["unet", "mlp"] = "unet"
    down_dims: tuple[int, ...] = (32, 64, 128)
    emb_dim: int = 32
    kernel: int = 5
    groups: int = 8
    hidden: int = 128
    depth: int = 3


PRESETS: dict[str, NetworkConfig] = {
    "paper": NetworkConfig("unet", (512, 1024, 2048), 128, 5, 8),
    "cpu_small": NetworkConfig("unet", (32, 64, 128), 32, 5, 8),
    "toy_mlp": NetworkConfig("mlp", emb_dim=32, hidden=128, depth=3),
}


class TimeEmbedding(nn.Module):
    """Sinusoidal features of a scalar time input followed by a Mish MLP; ``zero_out`` zeroes the last layer."""

    def __init__(self, dim: int, zero_out: bool = False) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.Mish(), nn.Linear(4 * dim, dim))
        if zero_out:
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / max(half - 1, 1))
        angles = t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))


class _Conditioning(nn.Module):
    """Conditioning vector: t embedding (+ s embedding for a student) concatenated with the observation."""

    def __init__(self, emb_dim: int, obs_dim: int, with_stop_time: bool) -> None:
        super().__init__()
        self.t_emb = TimeEmbedding(emb_dim)
        self.s_emb = TimeEmbedding(emb_dim, zero_out=True) if with_stop_time else None
        self.dim = emb_dim + obs_dim

    def forward(self, t: torch.Tensor, obs: torch.Tensor | None, s: torch.Tensor | None) -> torch.Tensor:
        emb = self.t_emb(t)
        if self.s_emb is not None:
            if s is None:
                raise ValueError("this network embeds a stop time s; pass s")
            emb = emb + self.s_emb(s)
        return emb if obs is None or obs.shape[-1] == 0 else torch.cat([emb, obs.reshape(len(emb), -1)], dim=-1)


class _ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, groups: int) -> None:
        super().__init__(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.GroupNorm(groups, c_out), nn.Mish())


class _FiLMResBlock(nn.Module):
    """Two conv blocks; the conditioning sets a per-channel scale and bias between them (FiLM); residual 1x1."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.block1 = _ConvBlock(c_in, c_out, kernel, groups)
        self.block2 = _ConvBlock(c_out, c_out, kernel, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * c_out))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        return self.block2(scale * self.block1(x) + bias) + self.skip(x)


class TemporalUnet(nn.Module):
    """1-D U-Net over the horizon: per level two FiLM residual blocks then a stride-2 conv (not after the last);
    two middle blocks; a mirrored up path (skip connections, a stride-2 transposed conv per level back to the full
    horizon); a final conv block and a 1x1 conv to A channels."""

    def __init__(self, act_dim: int, obs_dim: int, horizon: int, cfg: NetworkConfig, with_stop_time: bool = False):
        super().__init__()
        if horizon % 2 ** (len(cfg.down_dims) - 1):
            raise ValueError(f"horizon {horizon} must be divisible by 2^{len(cfg.down_dims) - 1} for this U-Net")
        self.cond = _Conditioning(cfg.emb_dim, obs_dim, with_stop_time)
        c, k, g = self.cond.dim, cfg.kernel, cfg.groups
        dims = (act_dim, *cfg.down_dims)
        levels = list(zip(dims[:-1], dims[1:]))
        self.down = nn.ModuleList()
        for i, (a, b) in enumerate(levels):
            last = i == len(levels) - 1
            self.down.append(nn.ModuleList([_FiLMResBlock(a, b, c, k, g), _FiLMResBlock(b, b, c, k, g),
                                            nn.Identity() if last else nn.Conv1d(b, b, 3, 2, 1)]))
        mid = cfg.down_dims[-1]
        self.mid = nn.ModuleList([_FiLMResBlock(mid, mid, c, k, g), _FiLMResBlock(mid, mid, c, k, g)])
        self.up = nn.ModuleList()
        for a, b in reversed(levels[1:]):
            self.up.append(nn.ModuleList([_FiLMResBlock(2 * b, a, c, k, g), _FiLMResBlock(a, a, c, k, g),
                                          nn.ConvTranspose1d(a, a, 4, 2, 1)]))
        self.final = nn.Sequential(_ConvBlock(cfg.down_dims[0], cfg.down_dims[0], k, g),
                                   nn.Conv1d(cfg.down_dims[0], act_dim, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, obs: torch.Tensor | None = None,
                s: torch.Tensor | None = None) -> torch.Tensor:
        cond = self.cond(t, obs, s)
        h = x.transpose(1, 2)
        skips = []
        for block1, block2, down in self.down:
            h = block2(block1(h, cond), cond)
            skips.append(h)
            h = down(h)
        for block in self.mid:
            h = block(h, cond)
        for block1, block2, up in self.up:
            h = up(block2(block1(torch.cat([h, skips.pop()], dim=1), cond), cond))
        return self.final(h).transpose(1, 2)


class ResidualMLP(nn.Module):
    """Flattened sequence + conditioning -> ``depth`` residual Linear-Mish-Linear blocks -> flattened sequence."""

    def __init__(self, act_dim: int, obs_dim: int, horizon: int, cfg: NetworkConfig, with_stop_time: bool = False):
        super().__init__()
        self.cond = _Conditioning(cfg.emb_dim, obs_dim, with_stop_time)
        self.shape = (horizon, act_dim)
        self.inp = nn.Linear(horizon * act_dim + self.cond.dim, cfg.hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Mish(), nn.Linear(cfg.hidden, cfg.hidden), nn.Mish(), nn.Linear(cfg.hidden, cfg.hidden))
            for _ in range(cfg.depth)
        )
        self.out = nn.Sequential(nn.Mish(), nn.Linear(cfg.hidden, horizon * act_dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, obs: torch.Tensor | None = None,
                s: torch.Tensor | None = None) -> torch.Tensor:
        h = self.inp(torch.cat([x.reshape(len(x), -1), self.cond(t, obs, s)], dim=-1))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h).reshape(len(x), *self.shape)


def build_network(cfg: NetworkConfig | str, *, act_dim: int, obs_dim: int, horizon: int,
                  with_stop_time: bool = False) -> nn.Module:
    """The network of ``cfg`` (a `NetworkConfig` or a key of `PRESETS`)."""
    if isinstance(cfg, str):
        if cfg not in PRESETS:
            raise ValueError(f"unknown network preset {cfg!r}; known: {', '.join(PRESETS)}")
        cfg = PRESETS[cfg]
    cls = TemporalUnet if cfg.kind == "unet" else ResidualMLP
    return cls(act_dim, obs_dim, horizon, cfg, with_stop_time)
