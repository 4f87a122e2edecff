"""Mutation-audit gaps of the denoiser networks (methods/offline_rl/networks.py): the sinusoidal time features
at hand values (frequencies 10000^(-i / (half - 1))); that both network kinds use the observation and, once
the student's stop-time embedding has left its zero start, the stop time s; that every parameter of the U-Net
gets a gradient (FiLM scales, residual 1x1 convolutions and skip connections all in use); and that a U-Net of
L levels takes any horizon divisible by 2^(L - 1)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from methods.offline_rl.networks import NetworkConfig, TimeEmbedding, build_network

CONFIGS = [NetworkConfig("mlp", emb_dim=8, hidden=16, depth=1), NetworkConfig("unet", (8, 16), emb_dim=8, kernel=3,
                                                                              groups=4)]


def test_time_features_by_hand():
    """dim 4: frequencies 1 and 1e-4; at t = 1 the features are sin 1, sin 1e-4, cos 1, cos 1e-4."""
    emb = TimeEmbedding(4)
    emb.mlp = nn.Identity()
    got = emb(torch.tensor([1.0, 0.0])).tolist()
    assert got[0] == pytest.approx([math.sin(1), math.sin(1e-4), math.cos(1), math.cos(1e-4)], rel=1e-6)
    assert got[1] == pytest.approx([0.0, 0.0, 1.0, 1.0])


@pytest.mark.parametrize("cfg", CONFIGS, ids=["mlp", "unet"])
def test_networks_read_the_observation_and_the_stop_time(cfg):
    torch.manual_seed(0)
    net = build_network(cfg, act_dim=2, obs_dim=3, horizon=4, with_stop_time=True)
    with torch.no_grad():
        for p in net.cond.s_emb.parameters():
            p.add_(torch.randn_like(p))  # as after training: the stop-time embedding is no longer zero
    x, t = torch.randn(2, 4, 2), torch.full((2,), 100.0)
    obs, s = torch.randn(2, 3), torch.full((2,), -500.0)
    base = net(x, t, obs, s)
    assert not torch.allclose(base, net(x, t, obs + 1.0, s))
    assert not torch.allclose(base, net(x, t, obs, s + 300.0))


def test_every_unet_parameter_gets_a_gradient():
    torch.manual_seed(0)
    net = build_network(CONFIGS[1], act_dim=2, obs_dim=3, horizon=4, with_stop_time=True)
    with torch.no_grad():
        for p in net.cond.s_emb.parameters():
            p.add_(torch.randn_like(p))
    out = net(torch.randn(3, 4, 2), torch.randn(3) * 100, torch.randn(3, 3), torch.randn(3) * 100)
    (out**2).sum().backward()
    dead = [name for name, p in net.named_parameters() if p.grad is None or not bool((p.grad != 0).any(dim=-1).all())]
    assert dead == []


def test_unet_horizon_needs_divisibility_by_two_per_downsampling():
    cfg = NetworkConfig("unet", (4, 8, 8), emb_dim=4, kernel=3, groups=2)  # three levels: two halvings
    assert build_network(cfg, act_dim=2, obs_dim=1, horizon=4)(torch.zeros(1, 4, 2), torch.zeros(1),
                                                               torch.zeros(1, 1)).shape == (1, 4, 2)
    with pytest.raises(ValueError, match="divisible by 2"):
        build_network(cfg, act_dim=2, obs_dim=1, horizon=6)
