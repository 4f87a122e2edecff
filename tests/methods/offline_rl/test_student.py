"""RACTD student and planners (methods/offline_rl/student.py, planner.py, reward.py): the exact boundary
condition, the warm start, the gradient paths of the three loss terms, counted evaluations per action, actions
within bounds, and the return-to-go labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.offline_rl.edm import EDMDenoiser
from methods.offline_rl.networks import NetworkConfig, build_network
from methods.offline_rl.planner import ActionBounds, Planner
from methods.offline_rl.reward import RewardModel, discounted_return_to_go, fit_reward_model
from methods.offline_rl.student import CTMStudent, StudentConfig, student_from_teacher, train_student

TINY = NetworkConfig("mlp", emb_dim=8, hidden=32, depth=1)
UNET = NetworkConfig("unet", (8, 16), emb_dim=8, kernel=3, groups=4)


def _pair(cfg: NetworkConfig, act_dim: int = 3, obs_dim: int = 5, horizon: int = 4):
    torch.manual_seed(0)
    teacher = EDMDenoiser(build_network(cfg, act_dim=act_dim, obs_dim=obs_dim, horizon=horizon))
    student = student_from_teacher(
        teacher, build_network(cfg, act_dim=act_dim, obs_dim=obs_dim, horizon=horizon, with_stop_time=True))
    return teacher, student


@pytest.mark.parametrize("cfg", [TINY, UNET])
def test_boundary_condition_is_exact(cfg):
    _, student = _pair(cfg)
    with torch.no_grad():  # make F large so only the parameterisation can give exactness
        for p in student.net.parameters():
            p.add_(torch.randn_like(p) * 3)
    x = torch.randn(6, 4, 3) * 50
    obs = torch.randn(6, 5)
    for t in (0.02, 0.5, 7.3, 80.0):
        assert torch.equal(student(x, torch.tensor(t), torch.tensor(t), obs), x)
    t = torch.rand(6) * 80 + 0.02
    assert torch.equal(student(x, t, t, obs), x)
    assert not torch.allclose(student(x, torch.tensor(80.0), torch.tensor(0.02), obs), x)


def test_warm_start_student_is_the_teacher_and_one_jump_is_an_euler_step():
    teacher, student = _pair(UNET)
    x, obs = torch.randn(4, 4, 3), torch.randn(4, 5)
    t, s = torch.tensor(3.0), torch.tensor(1.0)
    with torch.no_grad():
        assert torch.allclose(student.g(x, t, s, obs), teacher(x, t, obs), atol=1e-6)
        euler = x + (s - t) * (x - teacher(x, t, obs)) / t
        assert torch.allclose(student(x, t, s, obs), euler, atol=1e-5)


def test_each_loss_term_reaches_the_student():
    teacher, student = _pair(TINY)
    x0, obs = torch.rand(64, 4, 3) * 2 - 1, torch.randn(64, 5)
    reward = RewardModel(3, 5, (8,)).requires_grad_(False)
    for weights in ({"alpha": 1.0, "beta": 0.0, "reward_weight": 0.0},
                    {"alpha": 0.0, "beta": 1.0, "reward_weight": 0.0},
                    {"alpha": 0.0, "beta": 0.0, "reward_weight": 1.0}):
        before = [p.clone() for p in student.net.parameters()]
        history = train_student(student, teacher, reward, x0, obs, StudentConfig(steps=2, batch=32, **weights))
        assert all(np.isfinite(list(h.values())).all() for h in history)
        assert any(not torch.equal(a, b) for a, b in zip(before, student.net.parameters())), weights


def test_reward_term_moves_one_step_actions_towards_high_reward():
    """Reward-only distillation (alpha = beta = 0) for 40 steps raises the frozen reward of the student's
    one-step actions (reward = first action coordinate, learned by the reward model)."""
    teacher, student = _pair(TINY, act_dim=2, obs_dim=0, horizon=2)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (2000, 2))
    reward, _ = fit_reward_model(actions, np.zeros((2000, 0)), actions[:, 0], epochs=3, dims=(16, 16))
    x0 = torch.rand(256, 2, 2) * 2 - 1

    def mean_first_coordinate() -> float:
        return float(student.sample((500, 2, 2), generator=torch.Generator().manual_seed(3))[:, 0, 0].mean())

    before = mean_first_coordinate()
    train_student(student, teacher, reward, x0, None,
                  StudentConfig(steps=40, batch=64, lr=1e-3, alpha=0.0, beta=0.0, reward_weight=1.0))
    assert mean_first_coordinate() > before + 0.2


@pytest.mark.parametrize("cfg", [TINY, UNET])
def test_student_makes_exactly_one_evaluation_per_action_and_the_teacher_its_sampler_count(cfg):
    teacher, student = _pair(cfg)
    bounds = ActionBounds(np.array([-1.0, 0.0, -2.0]), np.array([1.0, 0.5, 3.0]))
    student_planner = Planner(student, bounds, horizon=4)
    for batch_obs in (np.zeros(5), np.ones((7, 5))):  # one environment, then a batch of 7 in one call
        student_planner.act(batch_obs)
        assert student_planner.evaluations == 1
    teacher_planner = Planner(teacher, bounds, horizon=4, sampler="heun", steps=10)
    teacher_planner.act(np.zeros(5))
    assert teacher_planner.evaluations == 19
    teacher_planner = Planner(teacher, bounds, horizon=4, sampler="ddim", steps=7)
    teacher_planner.act(np.zeros(5))
    assert teacher_planner.evaluations == 7


def test_actions_stay_within_bounds_for_any_observation():
    teacher, student = _pair(TINY)
    with torch.no_grad():
        for p in student.net.parameters():
            p.mul_(50)  # outputs far outside the box
    bounds = ActionBounds(np.array([-1.0, 0.0, -2.0]), np.array([1.0, 0.5, 3.0]))
    obs = np.concatenate([np.random.default_rng(0).normal(0, 1e3, (50, 5)), np.zeros((1, 5))])
    for planner in (Planner(student, bounds, horizon=4), Planner(teacher, bounds, horizon=4, steps=3)):
        actions = planner.act(obs)
        assert actions.shape == (51, 3)
        assert (actions >= bounds.low).all() and (actions <= bounds.high).all()
    assert np.array_equal(bounds.unnormalise(np.array([-5.0, 5.0, 0.0])), np.array([-1.0, 0.5, 0.5]))
    with pytest.raises(ValueError, match="low < high"):
        ActionBounds(np.zeros(2), np.array([1.0, 0.0]))


def test_discounted_return_to_go_restarts_at_episode_ends():
    rewards = np.array([1.0, 1.0, 1.0, 2.0, 0.0])
    ends = np.array([False, False, True, False, True])
    q = discounted_return_to_go(rewards, ends, gamma=0.5)
    assert np.allclose(q, [1.75, 1.5, 1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="equal 1-D"):
        discounted_return_to_go(rewards, ends[:3])


def test_student_sample_is_one_call_clamped():
    _, student = _pair(TINY)
    assert isinstance(student, CTMStudent)
    x = student.sample((10, 4, 3), torch.randn(10, 5))
    assert x.abs().max() <= 1.0
