"""Closed-loop evaluation of an offline-RL policy in its dataset's environment (RACTD, Duan et al., arXiv
2506.07822: closed-loop MuJoCo control, replanning every step; D4RL-style normalised scores).

`rollout` runs ``episodes`` copies of the environment in lock step (one batched policy call per step for all
of them; finished episodes keep their last observation and their actions are ignored), each reset with its own
seed ``seed * 10_000 + i`` (goal-conditioned dict observations flattened as in the dataset); it returns every episode's return and length, the counted network evaluations per
action (the most any step needed: a batched call counts once) and the policy's wall time per batched step.
`time_per_action` measures one action (batch 1) on a real observation: median of ``repeats`` calls after
warm-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from methods.offline_rl.episodes import flatten_obs


@dataclass(frozen=True)
class RolloutResult:
    returns: np.ndarray
    lengths: np.ndarray
    evaluations_per_action: int
    step_ms: float  # median wall time of one batched policy call

    @property
    def mean_return(self) -> float:
        return float(self.returns.mean())


def rollout(policy, make_env: Callable[[], object], *, episodes: int, seed: int = 0,
            max_steps: int | None = None) -> RolloutResult:
    """Run ``episodes`` episodes of ``policy`` in lock step; ``max_steps`` caps each episode (else the env's)."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    envs = [make_env() for _ in range(episodes)]
    obs = np.stack([flatten_obs(env.reset(seed=seed * 10_000 + i)[0]) for i, env in enumerate(envs)])
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=int)
    done = np.zeros(episodes, dtype=bool)
    evaluations = 0
    step_times = []
    policy.reset(episodes)
    try:
        while not done.all():
            start = time.perf_counter()
            actions = policy.act(obs)
            step_times.append((time.perf_counter() - start) * 1000.0)
            evaluations = max(evaluations, int(policy.evaluations))
            for i, env in enumerate(envs):
                if done[i]:
                    continue
                o, r, terminated, truncated, _ = env.step(np.asarray(actions[i], dtype=np.float32))
                obs[i] = flatten_obs(o)
                returns[i] += float(r)
                lengths[i] += 1
                done[i] = terminated or truncated or (max_steps is not None and lengths[i] >= max_steps)
    finally:
        for env in envs:
            env.close()
    return RolloutResult(returns, lengths, evaluations, float(np.median(step_times)))


def time_per_action(policy, obs: np.ndarray, repeats: int = 5) -> float:
    """Median milliseconds of one action (batch 1) on ``obs``, after one warm-up call."""
    one = np.atleast_2d(obs).astype(np.float32)[:1]
    policy.reset(1)
    policy.act(one)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        policy.act(one)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))
