"""Gaps in the tests of `rollout` found by a mutation audit.

- `rollout` resets the policy for as many environments as it runs (a history per episode), once, before the
  first action.
"""

from __future__ import annotations

import numpy as np

from methods.offline_rl.rollout import rollout


class OneStepEnv:
    def reset(self, seed=None):
        return np.zeros(1), {}

    def step(self, action):
        return np.zeros(1), 1.0, True, False, {}

    def close(self):
        pass


class ResetRecorder:
    evaluations = 1

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def reset(self, n):
        self.calls.append(("reset", n))

    def act(self, obs):
        self.calls.append(("act", len(obs)))
        return np.zeros((len(obs), 1))


def test_the_policy_is_reset_for_every_episode_before_acting():
    policy = ResetRecorder()
    result = rollout(policy, OneStepEnv, episodes=3)
    assert policy.calls == [("reset", 3), ("act", 3)]
    assert result.returns.tolist() == [1.0, 1.0, 1.0]
