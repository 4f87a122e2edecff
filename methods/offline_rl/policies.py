"""Closed-loop policies with one interface for every method of the RACTD comparison (Duan et al., arXiv
2506.07822, Tables 1 and 4): ``reset(n)`` before a batch of ``n`` environments, ``act(obs) -> actions`` on the raw
observations of all of them (B, O) -> (B, A) in the environment's units, and ``evaluations``, the network calls
the last ``act`` made (counted by a wrapper around the network; one batched call counts once).

* `PlannerPolicy`: the EDM teacher (Heun / DDIM / DDPM over the Karras grid) or the consistency student
  (1 or more jumps), conditioned on the last ``history`` normalised observations; executes the first action of
  the plan and replans every step (closed loop).
* `DiffuserPolicy`: a Diffuser-style planner (Janner et al., arXiv 2205.09991) over joint [state, action]
  windows, the current state inpainted at every step, unguided.
* `D3rlpyPolicy`: a d3rlpy actor (BC, IQL, TD3+BC), one forward call per action.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from methods.offline_rl.edm import EDMDenoiser, Sampler, sample
from methods.offline_rl.episodes import RangeScaler
from methods.offline_rl.planner import ActionBounds, Planner, count_calls
from methods.offline_rl.student import CTMStudent


@dataclass
class PlannerPolicy:
    """A teacher or student planner over action sequences, with an observation history per environment."""

    model: EDMDenoiser | CTMStudent
    obs_scaler: RangeScaler
    act_scaler: RangeScaler
    history: int
    horizon: int
    sampler: Sampler | None = "heun"
    steps: int = 80
    nfe: int = 1
    seed: int = 0
    evaluations: int = 0
    _planner: Planner = field(init=False, repr=False)
    _buffer: np.ndarray | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        bounds = ActionBounds(self.act_scaler.low, np.maximum(self.act_scaler.high, self.act_scaler.low + 1e-6))
        student = isinstance(self.model, CTMStudent)
        self._planner = Planner(self.model, bounds, self.horizon, sampler=None if student else self.sampler,
                                steps=self.steps, seed=self.seed, nfe=self.nfe)

    def reset(self, n: int) -> None:
        self._buffer = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        norm = self.obs_scaler.normalise(np.atleast_2d(obs))
        if self._buffer is None or len(self._buffer) != len(norm):  # first step: repeat the first observation
            self._buffer = np.repeat(norm[:, None], self.history, axis=1)
        else:
            self._buffer = np.concatenate([self._buffer[:, 1:], norm[:, None]], axis=1)
        plan = self._planner.plan(self._buffer.reshape(len(norm), -1))
        self.evaluations = self._planner.evaluations
        return self._planner.bounds.unnormalise(plan[:, 0, :])


@dataclass
class DiffuserPolicy:
    """Diffuser-style planning: sample [state, action] windows with the first state fixed to the current one
    (inpainting, every step), execute the first action."""

    model: EDMDenoiser
    obs_scaler: RangeScaler
    act_scaler: RangeScaler
    horizon: int
    sampler: Sampler = "ddpm"
    steps: int = 20
    seed: int = 0
    evaluations: int = 0

    def __post_init__(self) -> None:
        self._counter = count_calls(self.model)
        self._gen = torch.Generator().manual_seed(self.seed)

    def reset(self, n: int) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        state = torch.as_tensor(self.obs_scaler.normalise(np.atleast_2d(obs)))
        o_dim, a_dim = state.shape[1], len(self.act_scaler.low)

        def inpaint(x: torch.Tensor) -> torch.Tensor:
            x = x.clone()
            x[:, 0, :o_dim] = state
            return x

        before = self._counter.calls
        with torch.inference_mode():
            x = sample(self.model, (len(state), self.horizon, o_dim + a_dim), None, sampler=self.sampler,
                       steps=self.steps, generator=self._gen, condition=inpaint)
        self.evaluations = self._counter.calls - before
        unit = x[:, 0, o_dim:].clamp(-1, 1).numpy()
        return np.clip(self.act_scaler.unnormalise(unit), self.act_scaler.low, self.act_scaler.high)


@dataclass
class D3rlpyPolicy:
    """A trained d3rlpy algorithm's greedy action; one actor evaluation per action."""

    algo: object
    evaluations: int = 0

    def reset(self, n: int) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.evaluations = 1
        return np.asarray(self.algo.predict(np.atleast_2d(obs).astype(np.float32)))
