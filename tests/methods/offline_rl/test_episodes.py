"""Minari episodes -> training arrays and the d3rlpy dataset (methods/offline_rl/episodes.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from methods.offline_rl.episodes import Episodes, RangeScaler, flatten_obs


def test_minari_round_trip_keeps_every_transition(tiny_hopper):
    ep = Episodes.from_minari(tiny_hopper)
    assert len(ep.actions) == tiny_hopper.total_episodes
    assert ep.steps == tiny_hopper.total_steps
    assert (ep.obs_dim, ep.act_dim) == (11, 3)
    for o, a in zip(ep.observations, ep.actions):
        assert len(o) == len(a) + 1


@pytest.mark.parametrize("history,horizon", [(1, 4), (3, 8)])
def test_segments_shapes_range_and_padding(tiny_hopper, history, horizon):
    ep = Episodes.from_minari(tiny_hopper)
    obs, seq = ep.segments(history, horizon)
    assert obs.shape == (ep.steps, history * ep.obs_dim)
    assert seq.shape == (ep.steps, horizon, ep.act_dim)
    assert seq.min() >= -1 - 1e-6 and seq.max() <= 1 + 1e-6
    a_sc, o_sc = ep.act_scaler(), ep.obs_scaler()
    n0 = len(ep.actions[0])
    # the last step of the first episode repeats its last action over the horizon
    assert np.allclose(a_sc.unnormalise(seq[n0 - 1]), np.repeat(ep.actions[0][-1:], horizon, axis=0), atol=1e-5)
    # the first step's history repeats the first observation; the newest observation is last
    first = o_sc.unnormalise(obs[0].reshape(history, -1))
    assert np.allclose(first, np.repeat(ep.observations[0][:1], history, axis=0), atol=1e-4)
    assert np.allclose(o_sc.unnormalise(obs[1].reshape(history, -1))[-1], ep.observations[0][1], atol=1e-4)


def test_return_to_go_never_crosses_episodes(tiny_hopper):
    ep = Episodes.from_minari(tiny_hopper)
    rtg = ep.return_to_go(0.99)
    ends = np.cumsum([len(r) for r in ep.rewards]) - 1
    rewards = np.concatenate(ep.rewards)
    assert np.allclose(rtg[ends], rewards[ends])
    inner = np.setdiff1d(np.arange(len(rtg) - 1), ends)
    assert np.allclose(rtg[inner], rewards[inner] + 0.99 * rtg[inner + 1])


def test_mdp_dataset_has_the_same_transitions(tiny_hopper):
    ep = Episodes.from_minari(tiny_hopper)
    mdp = ep.to_mdp_dataset()
    assert len(mdp.episodes) == len(ep.actions)
    assert sum(e.size() for e in mdp.episodes) == ep.steps
    assert np.allclose(mdp.episodes[0].actions, ep.actions[0])
    assert bool(mdp.episodes[0].terminated) == bool(ep.terminations[0][-1])


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (7, 3), elements=st.floats(-1e3, 1e3)))
def test_range_scaler_round_trip(values):
    sc = RangeScaler.fit(values)
    unit = sc.normalise(values)
    assert unit.min() >= -1 - 1e-5 and unit.max() <= 1 + 1e-5
    varying = (sc.high - sc.low) > 1e-8
    assert np.allclose(sc.unnormalise(unit)[:, varying], values[:, varying], rtol=1e-5, atol=1e-3)


def test_flatten_goal_observations():
    obs = {"observation": np.ones((2, 4)), "desired_goal": np.zeros((2, 2)), "achieved_goal": np.ones((2, 2))}
    flat = flatten_obs(obs)
    assert flat.shape == (2, 6) and flat.dtype == np.float32 and flat[:, 4:].sum() == 0
    with pytest.raises(ValueError, match="desired_goal"):
        flatten_obs({"observation": np.ones(4)})
