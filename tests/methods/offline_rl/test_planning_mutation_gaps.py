"""Mutation-audit gaps of planning and evaluation (methods/offline_rl/planner.py, policies.py, rollout.py), closed
with stand-in models whose plans are known and a scripted environment: the executed action is the plan's first
one, unnormalised by hand; the observation history is oldest-first (as `Episodes.segments` builds it), starts
from the repeated first observation and restarts at ``reset``; the planner's noise follows its seed; the
Diffuser-style planner inpaints the current state into the first row on every call and executes that row's
action; a rollout sums each episode's rewards, stops an episode at termination, truncation or the cap and never
steps it again, seeds episode i with seed * 10000 + i, closes every environment and reports the median step time;
`time_per_action` is the median after one warm-up call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import methods.offline_rl.rollout as rollout_mod
from methods.offline_rl.edm import EDMConfig, EDMDenoiser
from methods.offline_rl.episodes import RangeScaler
from methods.offline_rl.planner import ActionBounds, Planner, count_calls
from methods.offline_rl.policies import DiffuserPolicy, PlannerPolicy
from methods.offline_rl.rollout import rollout, time_per_action
from methods.offline_rl.student import CTMStudent


class ScriptedStudent(CTMStudent):
    """A student whose plan is step 0 = ``first``, every later step = -1 (plus seeded noise when asked), and
    which records the observations and jumps it was given."""

    def __init__(self, first: float = 0.5, noisy: bool = False) -> None:
        super().__init__(nn.Identity())
        self.first, self.noisy = first, noisy
        self.seen: list[tuple[np.ndarray, int]] = []

    def sample_chain(self, shape, obs=None, nfe=1, generator=None):
        self.seen.append((obs.numpy().copy(), nfe))
        self.net(obs)  # one counted call
        plan = -torch.ones(shape)
        plan[:, 0, :] = self.first
        if self.noisy:
            plan = plan + torch.rand(shape, generator=generator)
        return plan


def test_planner_executes_the_first_action_unnormalised():
    """Plan step 0 = 0.5 in every dimension: on [-2, 2] that is -2 + 1.5/2 * 4 = 1.0, on [0, 10] it is 7.5
    (later steps, -1, would give the low bounds)."""
    bounds = ActionBounds(np.array([-2.0, 0.0]), np.array([2.0, 10.0]))
    planner = Planner(ScriptedStudent(), bounds, horizon=3)
    assert planner.act(np.zeros(4)).tolist() == pytest.approx([1.0, 7.5])
    assert np.allclose(planner.act(np.zeros((2, 4))), [[1.0, 7.5], [1.0, 7.5]])
    assert planner.evaluations == 1


def test_counting_wraps_a_network_once():
    model = ScriptedStudent()
    counter = count_calls(model)
    assert count_calls(model) is counter and model.net is counter and not isinstance(counter.inner, type(counter))


def _policy(model, history: int = 3, **kwargs) -> PlannerPolicy:
    obs_scaler = RangeScaler(np.array([0.0, 0.0]), np.array([2.0, 4.0]))  # o -> 2 o / span - 1
    act_scaler = RangeScaler(np.array([-1.0]), np.array([3.0]))
    return PlannerPolicy(model, obs_scaler, act_scaler, history=history, horizon=2, **kwargs)


def test_planner_policy_history_is_oldest_first_and_restarts_at_reset():
    """Observations (0, 0), (2, 4), (1, 2) normalise to (-1, -1), (1, 1), (0, 0); with history 3 the planner sees
    [o1 o1 o1], [o1 o1 o2], [o1 o2 o3] (the newest last, as in `Episodes.segments`), then after reset [o2 o2 o2]."""
    model = ScriptedStudent()
    policy = _policy(model, nfe=2)
    policy.reset(1)
    for obs in ([0.0, 0.0], [2.0, 4.0], [1.0, 2.0]):
        action = policy.act(np.array([obs]))
    assert np.allclose(action, [[2.0]])  # plan step 0 = 0.5 on [-1, 3]
    policy.reset(1)
    policy.act(np.array([[2.0, 4.0]]))
    seen = [obs.tolist() for obs, _ in model.seen]
    assert seen == [[[-1, -1, -1, -1, -1, -1]], [[-1, -1, -1, -1, 1, 1]], [[-1, -1, 1, 1, 0, 0]], [[1, 1, 1, 1, 1, 1]]]
    assert {nfe for _, nfe in model.seen} == {2}
    policy.act(np.array([[0.0, 0.0], [2.0, 4.0]]))  # a new batch size starts a new history
    assert model.seen[-1][0].tolist() == [[-1] * 6, [1] * 6]


def test_planner_policy_noise_follows_its_seed():
    def actions(seed: int) -> np.ndarray:
        policy = _policy(ScriptedStudent(first=-0.5, noisy=True), history=1, seed=seed)
        policy.reset(4)
        return policy.act(np.zeros((4, 2)))

    assert np.array_equal(actions(5), actions(5))
    assert not np.array_equal(actions(5), actions(6))


class HalfNet(nn.Module):
    """F = 0: the teacher denoises x to c_skip x, not the data, so its samples keep the seeded start noise."""

    def forward(self, x, t, obs=None):
        return torch.zeros_like(x)


@pytest.mark.parametrize("sampler", ["heun", "ddpm"])
def test_teacher_planner_noise_follows_its_seed(sampler):
    def actions(seed: int) -> np.ndarray:
        policy = _policy(EDMDenoiser(HalfNet()), history=1, seed=seed, sampler=sampler, steps=3)
        policy.reset(4)
        return policy.act(np.zeros((4, 2)))

    first = actions(5)
    torch.manual_seed(123)  # the global generator plays no part
    assert np.array_equal(first, actions(5))
    assert not np.array_equal(first, actions(6))


class JointDenoiser(nn.Module):
    """Denoises every [state, action] window to state 0, action 0.5 at step 0 and -0.5 later; records inputs."""

    def __init__(self, o_dim: int) -> None:
        super().__init__()
        self.net, self.cfg, self.o_dim = nn.Identity(), EDMConfig(), o_dim
        self.inputs: list[torch.Tensor] = []

    def forward(self, x, sigma, obs=None):
        self.inputs.append(x.clone())
        self.net(x)
        out = torch.zeros_like(x)
        out[:, :, self.o_dim:] = -0.5
        out[:, 0, self.o_dim:] = 0.5
        return out


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_diffuser_inpaints_the_state_on_every_call_and_executes_the_first_action(sampler):
    model = JointDenoiser(2)
    obs_scaler = RangeScaler(np.array([0.0, 0.0]), np.array([2.0, 4.0]))
    act_scaler = RangeScaler(np.array([-1.0]), np.array([3.0]))
    policy = DiffuserPolicy(model, obs_scaler, act_scaler, horizon=4, sampler=sampler, steps=3)
    action = policy.act(np.array([[2.0, 0.0], [1.0, 4.0]]))  # normalised (1, -1) and (0, 1)
    assert np.allclose(action, [[2.0], [2.0]])  # 0.5 on [-1, 3]
    assert policy.evaluations == len(model.inputs) == 3
    state = torch.tensor([[1.0, -1.0], [0.0, 1.0]])
    for x in model.inputs:
        assert torch.equal(x[:, 0, :2], state)
        assert not torch.equal(x[:, 1, :2], state)


class ScriptedEnv:
    """Episode i (by construction order) pays rewards ``rewards[i]`` and terminates or truncates after them."""

    made: list[ScriptedEnv] = []

    def __init__(self, rewards, truncate: bool = False) -> None:
        self.rewards, self.truncate, self.index = list(rewards), truncate, len(ScriptedEnv.made)
        self.t, self.seeds, self.actions, self.closed = 0, [], [], False

    def reset(self, seed=None):
        self.seeds.append(seed)
        self.t = 0
        return np.array([float(self.index)]), {}

    def step(self, action):
        assert self.t < len(self.rewards), "stepped after the end"
        self.actions.append(np.asarray(action).copy())
        r = self.rewards[self.t]
        self.t += 1
        end = self.t == len(self.rewards)
        return np.array([10.0 * self.t]), r, end and not self.truncate, end and self.truncate, {}

    def close(self):
        self.closed = True


class EchoPolicy:
    """Acts with each environment's index; ``evaluations`` 1, 3, 2, 2, ... over its calls."""

    def __init__(self) -> None:
        self.evaluations, self.calls = 0, 0

    def reset(self, n):
        self.n = n

    def act(self, obs):
        self.calls += 1
        self.seen = getattr(self, "seen", []) + [np.array(obs, copy=True)]
        self.evaluations = {1: 1, 2: 3}.get(self.calls, 2)
        return np.arange(len(obs), dtype=float)[:, None] * np.ones((1, 2))


def _factory(scripts):
    ScriptedEnv.made = []

    def make():
        rewards, truncate = scripts[len(ScriptedEnv.made)]
        env = ScriptedEnv(rewards, truncate)
        ScriptedEnv.made.append(env)
        return env

    return make


def test_rollout_sums_rewards_and_ends_each_episode_once():
    scripts = [([1.0, 2.0, 3.0], False), ([-1.0, 0.5], True), ([4.0] * 10, False)]
    policy = EchoPolicy()
    result = rollout(policy, _factory(scripts), episodes=3, seed=2, max_steps=5)
    assert result.returns.tolist() == [6.0, -0.5, 20.0]  # the third is capped at 5 steps
    assert result.lengths.tolist() == [3, 2, 5]
    assert result.mean_return == pytest.approx(25.5 / 3)
    assert result.evaluations_per_action == 3  # the most any step needed
    envs = ScriptedEnv.made
    assert [e.seeds for e in envs] == [[20_000], [20_001], [20_002]]
    assert [len(e.actions) for e in envs] == [3, 2, 5] and all(e.closed for e in envs)
    assert [float(e.actions[0][0]) for e in envs] == [0.0, 1.0, 2.0]  # each environment gets its own action
    # reset observations are the environments' indices 0, 1, 2; after step t every environment shows 10 t, and a
    # finished one keeps its last observation
    assert [o[:, 0].tolist() for o in policy.seen[:4]] == [[0, 1, 2], [10, 10, 10], [20, 20, 20], [30, 20, 30]]
    uncapped = rollout(EchoPolicy(), _factory(scripts), episodes=3, seed=0)
    assert uncapped.lengths.tolist() == [3, 2, 10] and uncapped.returns.tolist() == [6.0, -0.5, 40.0]
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        rollout(EchoPolicy(), _factory(scripts), episodes=0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_step_and_action_times_are_medians_in_milliseconds(monkeypatch):
    """Policy calls take 1, 5, 2 s (step median 2000 ms, mean 2667); `time_per_action` drops a 100 s warm-up and
    takes the median of 3, 7, 4 s: 4000 ms."""
    clock = FakeClock()
    monkeypatch.setattr(rollout_mod, "time", clock)

    class Timed:
        evaluations = 1

        def __init__(self, durations):
            self.durations = list(durations)
            self.shapes = []

        def reset(self, n):
            pass

        def act(self, obs):
            self.shapes.append(np.shape(obs))
            clock.now += self.durations.pop(0)
            return np.zeros((len(obs), 1))

    result = rollout(Timed([1.0, 5.0, 2.0]), _factory([([0.0] * 3, False)]), episodes=1)
    assert result.step_ms == pytest.approx(2000.0)
    timed = Timed([100.0, 3.0, 7.0, 4.0])
    assert time_per_action(timed, np.zeros((5, 4)), repeats=3) == pytest.approx(4000.0)
    assert timed.shapes == [(1, 4)] * 4  # batch 1
