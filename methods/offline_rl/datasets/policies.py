"""Behaviour policies of the local datasets: uniform random, a SAC actor trained here, and picking its checkpoints.

The SAC actor (stable-baselines3's ``Actor``: two ReLU layers, a mean and a state-dependent log-std head, tanh
squashing) is evaluated in numpy float32 from its saved ``state_dict``, so rollouts need no torch threads and the
Gaussian noise comes from the rollout's own seeded generator. D4RL (arXiv 2004.07219) collected its medium and
expert data with the stochastic policy; ``stochastic=False`` takes the tanh of the mean.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # stable-baselines3's SAC clamp


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class RandomPolicy:
    """Uniform actions in the box, drawn from the rollout's generator."""

    def __init__(self, low: np.ndarray, high: np.ndarray) -> None:
        self.low, self.high = np.asarray(low, np.float32), np.asarray(high, np.float32)

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.low, self.high).astype(np.float32)


class SacActor:
    """A stable-baselines3 SAC actor in numpy; actions in [-1, 1] (the box of every MuJoCo locomotion task)."""

    def __init__(self, path: Path, stochastic: bool = True) -> None:
        import torch

        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        self.w = [state[f"latent_pi.{i}.weight"].numpy().T.copy() for i in (0, 2)]
        self.b = [state[f"latent_pi.{i}.bias"].numpy().copy() for i in (0, 2)]
        self.mu_w, self.mu_b = state["mu.weight"].numpy().T.copy(), state["mu.bias"].numpy().copy()
        self.ls_w, self.ls_b = state["log_std.weight"].numpy().T.copy(), state["log_std.bias"].numpy().copy()
        self.stochastic = stochastic

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h = np.asarray(obs, np.float32)
        for w, b in zip(self.w, self.b):
            h = np.maximum(h @ w + b, 0.0)
        mean = h @ self.mu_w + self.mu_b
        if not self.stochastic:
            return np.tanh(mean).astype(np.float32)
        log_std = np.clip(h @ self.ls_w + self.ls_b, LOG_STD_MIN, LOG_STD_MAX)
        noise = rng.standard_normal(mean.shape).astype(np.float32)
        return np.tanh(mean + np.exp(log_std) * noise).astype(np.float32)


def read_evaluations(run_dir: Path) -> list[dict]:
    """The training run's ``eval.jsonl`` (one record per checkpoint)."""
    return [json.loads(line) for line in (Path(run_dir) / "eval.jsonl").read_text().splitlines() if line.strip()]


def pick_checkpoints(records: list[dict], medium_share: float = 1 / 3, trained_after: int = 0) -> tuple[dict, dict]:
    """Expert = the checkpoint with the best evaluation; medium = the earlier checkpoint whose evaluation is
    closest to ``medium_share`` of the expert's (D4RL: about a third). Checkpoints at or before ``trained_after``
    (SAC's ``learning_starts``: no gradient step yet, the actor is its initialisation) are never picked."""
    records = [r for r in records if r["step"] > trained_after]
    if not records:
        raise ValueError(f"no checkpoint after step {trained_after}: train longer")
    expert = max(records, key=lambda r: r["eval_return_mean"])
    earlier = [r for r in records if r["step"] < expert["step"]]
    if not earlier:
        raise ValueError("no checkpoint before the best one: train longer")
    target = medium_share * expert["eval_return_mean"]
    medium = min(earlier, key=lambda r: abs(r["eval_return_mean"] - target))
    return medium, expert
