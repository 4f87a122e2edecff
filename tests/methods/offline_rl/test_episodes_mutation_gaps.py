"""Mutation-audit gaps of the training arrays (methods/offline_rl/episodes.py, reward.py), closed with two
hand-made episodes whose every derived array is worked out by hand: the undiscounted episode returns (the
dataset's return distribution), the scalers' ranges (observations the planner conditions on, not the final one),
the reward model's (state, action) pairs, the history/plan segments and the Diffuser's [state, action] windows
with their padding, the per-episode return-to-go, the d3rlpy dataset of a buffer whose last episode is cut (a
timeout), a constant dimension, and the reward labels' range normalisation and squared-error fit (a conditional
mean, not a median)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.offline_rl.episodes import Episodes, RangeScaler
from methods.offline_rl.reward import RangeNormaliser, fit_reward_model


def _episodes() -> Episodes:
    """Episode 1: states 0, 1, 2 (final 9), actions -1, 0, 1, rewards 1, 2, 3, terminates. Episode 2: states 4, 2
    (final 8), actions 3, -1, rewards 10, -3, neither terminates nor truncates (the buffer ends inside it).
    Observation range [0, 4] -> s/2 - 1; action range [-1, 3] -> (a - 1)/2."""
    f = np.float32
    return Episodes(observations=[np.array([[0], [1], [2], [9]], f), np.array([[4], [2], [8]], f)],
                    actions=[np.array([[-1], [0], [1]], f), np.array([[3], [-1]], f)],
                    rewards=[np.array([1.0, 2.0, 3.0]), np.array([10.0, -3.0])],
                    terminations=[np.array([False, False, True]), np.array([False, False])],
                    truncations=[np.array([False, False, False]), np.array([False, False])], name="hand")


def test_returns_steps_and_scalers():
    ep = _episodes()
    assert ep.episode_returns().tolist() == [6.0, 7.0]
    assert ep.steps == 5 and (ep.obs_dim, ep.act_dim) == (1, 1)
    assert (ep.obs_scaler().low.tolist(), ep.obs_scaler().high.tolist()) == ([0.0], [4.0])  # not the final 9
    assert (ep.act_scaler().low.tolist(), ep.act_scaler().high.tolist()) == ([-1.0], [3.0])


def test_reward_model_inputs_are_each_steps_state_and_action():
    obs, act = _episodes().first_steps()
    assert obs.flatten().tolist() == [-1.0, -0.5, 0.0, 1.0, 0.0]
    assert act.flatten().tolist() == [-1.0, -0.5, 0.0, 1.0, -1.0]


def test_segments_and_joint_windows_by_hand():
    ep = _episodes()
    hist, seq = ep.segments(history=2, horizon=2)
    assert hist.tolist() == [[-1, -1], [-1, -0.5], [-0.5, 0], [1, 1], [1, 0]]
    assert seq[..., 0].tolist() == [[-1, -0.5], [-0.5, 0], [0, 0], [1, -1], [-1, -1]]
    joint = ep.joint_segments(horizon=2)
    assert joint.tolist() == [[[-1, -1], [-0.5, -0.5]], [[-0.5, -0.5], [0, 0]], [[0, 0], [0, 0]],
                              [[1, 1], [0, -1]], [[0, -1], [0, -1]]]


def test_return_to_go_by_hand():
    """gamma 0.5: 1 + (2 + 3/2)/2 = 2.75, 3.5, 3 | 10 - 3/2 = 8.5, -3; gamma 0.99 (the default) for the second
    episode: 10 - 2.97 = 7.03."""
    ep = _episodes()
    assert ep.return_to_go(0.5).tolist() == pytest.approx([2.75, 3.5, 3.0, 8.5, -3.0])
    assert ep.return_to_go()[3] == pytest.approx(7.03)


def test_mdp_dataset_ends_the_cut_episode_as_a_timeout():
    mdp = _episodes().to_mdp_dataset()
    assert [e.size() for e in mdp.episodes] == [3, 2]
    assert [bool(e.terminated) for e in mdp.episodes] == [True, False]
    assert mdp.episodes[0].observations.flatten().tolist() == [0, 1, 2]
    assert mdp.episodes[1].rewards.flatten().tolist() == [10, -3]


def test_minari_episodes_keep_float64_rewards_and_flatten_goal_observations():
    class Episode:
        observations = {"observation": np.array([[1.0, 2.0], [3.0, 4.0]]), "desired_goal": np.array([[9.0], [9.0]]),
                        "achieved_goal": np.array([[1.0], [3.0]])}
        actions = np.array([[0.5]])
        rewards = np.array([1.0001])  # not a float16 (1.0 there) nor a float32 value
        terminations, truncations = np.array([False]), np.array([True])

    class Dataset:
        spec = type("Spec", (), {"dataset_id": "fake/one-v0"})

        def iterate_episodes(self):
            return iter([Episode()])

    ep = Episodes.from_minari(Dataset())
    assert ep.rewards[0].dtype == np.float64 and ep.episode_returns().tolist() == [1.0001]
    assert ep.observations[0].tolist() == [[1, 2, 9], [3, 4, 9]] and ep.name == "fake/one-v0"
    with pytest.raises(ValueError, match="history and horizon must be >= 1"):
        ep.segments(0, 2)


def test_a_constant_dimension_stays_finite_and_round_trips():
    values = np.array([[1.0, 5.0], [3.0, 5.0]])
    scaler = RangeScaler.fit(values)
    unit = scaler.normalise(values)
    assert np.isfinite(unit).all() and unit[:, 0].tolist() == [-1.0, 1.0]
    assert np.allclose(scaler.unnormalise(unit), values)


def test_return_labels_are_range_normalised_to_unit_interval():
    assert RangeNormaliser(2.0, 6.0)(np.array([2.0, 3.0, 6.0])).tolist() == [0.0, 0.25, 1.0]
    assert RangeNormaliser(-4.0, -2.0)(np.array([-4.0, -2.0])).tolist() == [0.0, 1.0]


def test_reward_model_regresses_the_mean_of_range_normalised_returns():
    """One input, returns 2, 2, 8: labels (r - 2) / 6 = 0, 0, 1; a squared-error fit predicts their mean 1/3 (an
    absolute-error fit would give the median, 0). Full batches, so the fit settles (1/3 to 3e-3 over seeds 0-3)."""
    n = 30
    returns = np.tile([2.0, 2.0, 8.0], n // 3)
    model, norm = fit_reward_model(np.zeros((n, 1)), np.zeros((n, 1)), returns, epochs=100, batch=n, lr=2e-2,
                                   dims=(8,))
    assert (norm.low, norm.high) == (2.0, 8.0)
    pred = float(model(torch.zeros(1, 1), torch.zeros(1, 1)))
    assert pred == pytest.approx(1 / 3, abs=0.05)
