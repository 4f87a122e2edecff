"""Baselines of RACTD's comparison (Duan et al., arXiv 2506.07822, Tables 1, 3, 4), trained from the same
Minari-loaded episodes as the teacher and student:

* BC, IQL (Kostrikov et al., arXiv 2110.06169) and TD3+BC (Fujimoto & Gu, arXiv 2106.06860) from d3rlpy
  (Seno & Imai, a maintained offline-RL library), small MLP encoders, a given number of gradient steps; TD3+BC
  with d3rlpy's standard observation scaler (its paper normalises states), IQL and BC with d3rlpy's defaults
  otherwise;
* a Diffuser-style planner (Janner et al., arXiv 2205.09991): the same EDM training and network family over
  joint [state, action] windows, sampled with many steps and the current state inpainted; without Diffuser's
  value guidance (unguided), which we state wherever it is shown.

The teacher's DDIM / DDPM samplers are `methods.offline_rl.edm.sample` options of the teacher itself.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import sys
from typing import Literal

import torch

from methods.offline_rl.edm import EDMDenoiser, train_denoiser
from methods.offline_rl.episodes import Episodes
from methods.offline_rl.networks import NetworkConfig, build_network

D3RLPY_ALGOS: tuple[str, ...] = ("bc", "iql", "td3bc")
D3rlpyAlgo = Literal["bc", "iql", "td3bc"]


def import_d3rlpy():
    """The ``d3rlpy`` module, imported quietly: d3rlpy imports the legacy ``gym`` package (besides gymnasium,
    which we use), whose import prints a multi-line deprecation notice to stderr in every process that loads
    d3rlpy; only that import's stderr is swallowed. d3rlpy also logs every epoch through structlog: warnings only.
    """
    if "gym" not in sys.modules:
        with contextlib.redirect_stderr(io.StringIO()):
            importlib.import_module("gym")
    import d3rlpy
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    return d3rlpy


def d3rlpy_config(algo: str, hidden: tuple[int, ...], batch: int):
    """The d3rlpy config of ``algo`` with MLP encoders of widths ``hidden``."""
    d3rlpy = import_d3rlpy()

    enc = d3rlpy.models.VectorEncoderFactory(hidden_units=list(hidden))
    if algo == "bc":
        return d3rlpy.algos.BCConfig(batch_size=batch, encoder_factory=enc)
    if algo == "iql":
        return d3rlpy.algos.IQLConfig(batch_size=batch, actor_encoder_factory=enc, critic_encoder_factory=enc,
                                      value_encoder_factory=enc)
    if algo == "td3bc":
        return d3rlpy.algos.TD3PlusBCConfig(batch_size=batch, actor_encoder_factory=enc, critic_encoder_factory=enc,
                                            observation_scaler=d3rlpy.preprocessing.StandardObservationScaler())
    raise ValueError(f"unknown d3rlpy baseline {algo!r}; known: {', '.join(D3RLPY_ALGOS)}")


def train_d3rlpy(algo: str, episodes: Episodes, *, steps: int, hidden: tuple[int, ...] = (64, 64),
                 batch: int = 256, seed: int = 0):
    """Train ``algo`` for ``steps`` gradient steps on the episodes' d3rlpy dataset; returns the algorithm."""
    d3rlpy = import_d3rlpy()
    d3rlpy.seed(seed)
    model = d3rlpy_config(algo, hidden, batch).create(device="cpu:0")
    model.fit(episodes.to_mdp_dataset(), n_steps=steps, n_steps_per_epoch=steps, show_progress=False,
              save_interval=steps + 1, logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    return model


def diffuser_model(episodes: Episodes, horizon: int, net: NetworkConfig | str) -> EDMDenoiser:
    """An untrained Diffuser-style denoiser over [state, action] windows (no observation conditioning)."""
    width = episodes.obs_dim + episodes.act_dim
    return EDMDenoiser(build_network(net, act_dim=width, obs_dim=0, horizon=horizon))


def train_diffuser(episodes: Episodes, *, horizon: int, net: NetworkConfig | str, steps: int, batch: int = 256,
                   lr: float = 1e-3, seed: int = 0) -> tuple[EDMDenoiser, list[float]]:
    """Fit the joint [state, action] denoiser with the EDM loss; returns it (eval mode) and its losses."""
    torch.manual_seed(seed)
    model = diffuser_model(episodes, horizon, net)
    x0 = torch.as_tensor(episodes.joint_segments(horizon))
    losses = train_denoiser(model, x0, None, steps=steps, batch=batch, lr=lr, seed=seed)
    return model.eval().requires_grad_(False), losses
