"""Planners that turn an observation into an action with a RACTD teacher or student (Duan et al., arXiv
2506.07822): each samples a normalised action sequence of ``horizon`` steps conditioned on the observation,
unnormalises it to the action bounds and returns the first action (closed-loop MuJoCo control replans every
step). Network evaluations are counted by `CountingNetwork` around the network itself, not assumed: a teacher
pays its sampler's evaluations (Heun over 80 bins: 159), the student exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from methods.offline_rl.edm import EDMDenoiser, Sampler, sample
from methods.offline_rl.student import CTMStudent


class CountingNetwork(nn.Module):
    """Wraps a network and counts its forward calls (one batched call counts once)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.inner = net
        self.calls = 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)


def count_calls(model: EDMDenoiser | CTMStudent) -> CountingNetwork:
    """Put a `CountingNetwork` around ``model.net`` (once) and return it."""
    if not isinstance(model.net, CountingNetwork):
        model.net = CountingNetwork(model.net)
    return model.net


@dataclass(frozen=True)
class ActionBounds:
    """Per-dimension action limits; sequences are generated in [-1, 1] and mapped affinely onto them."""

    low: np.ndarray
    high: np.ndarray

    def __post_init__(self) -> None:
        if np.shape(self.low) != np.shape(self.high) or np.any(np.asarray(self.high) <= np.asarray(self.low)):
            raise ValueError("action bounds need equal shapes and low < high in every dimension")

    def normalise(self, action: np.ndarray) -> np.ndarray:
        return 2 * (np.asarray(action) - self.low) / (self.high - self.low) - 1

    def unnormalise(self, unit: np.ndarray) -> np.ndarray:
        unit = np.clip(unit, -1.0, 1.0)
        return np.clip(self.low + (unit + 1) * 0.5 * (self.high - self.low), self.low, self.high)


@dataclass
class Planner:
    """act(obs) -> first action of a sampled plan; ``evaluations`` is the counted network calls of the last act;
    a student makes ``nfe`` jumps (1: the one-step sample; more: `CTMStudent.sample_chain`)."""

    model: EDMDenoiser | CTMStudent
    bounds: ActionBounds
    horizon: int
    sampler: Sampler | None = "heun"
    steps: int = 80
    seed: int = 0
    nfe: int = 1
    evaluations: int = 0
    _gen: torch.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._counter = count_calls(self.model)
        self._gen = torch.Generator().manual_seed(self.seed)

    @property
    def is_student(self) -> bool:
        return isinstance(self.model, CTMStudent)

    def plan(self, obs: np.ndarray) -> np.ndarray:
        """Normalised plans (B, horizon, A) for observations (B, O) (or (O,) for one)."""
        obs_t = torch.as_tensor(np.atleast_2d(obs), dtype=torch.float32)
        shape = (len(obs_t), self.horizon, len(self.bounds.low))
        before = self._counter.calls
        with torch.inference_mode():
            if self.is_student:
                x = self.model.sample_chain(shape, obs_t, self.nfe, generator=self._gen)
            else:
                x = sample(self.model, shape, obs_t, sampler=self.sampler, steps=self.steps, generator=self._gen)
        self.evaluations = self._counter.calls - before
        return x.numpy()

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The first action of the plan, in the environment's units and within its bounds."""
        first = self.plan(obs)[:, 0, :]
        actions = self.bounds.unnormalise(first)
        return actions[0] if np.ndim(obs) == 1 else actions
