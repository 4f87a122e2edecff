"""Gaps in the tests of `planner` found by a mutation audit.

- a teacher `Planner` samples with Heun over 80 bins by default: 159 counted evaluations per action;
- `Planner.plan` returns (batch, horizon, action dims) plans;
- `ActionBounds` refuses bounds of different shapes (its own message, not numpy's) and `normalise` maps the
  bounds onto [-1, 1] (hand values, the inverse of `unnormalise`); `unnormalise` never leaves the bounds, even
  where low + (high - low) rounds above high.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from methods.offline_rl.edm import EDMDenoiser
from methods.offline_rl.planner import ActionBounds, Planner

BOUNDS = ActionBounds(np.array([-2.0, 0.0]), np.array([2.0, 10.0]))


class ZeroNet(nn.Module):
    def forward(self, x, t, obs=None):
        return torch.zeros_like(x)


def test_a_teacher_plans_with_heun_over_80_bins_by_default():
    planner = Planner(EDMDenoiser(ZeroNet()), BOUNDS, horizon=2)
    planner.act(np.zeros(3))
    assert planner.evaluations == 2 * 80 - 1


def test_plans_have_the_batch_horizon_and_action_dimensions():
    planner = Planner(EDMDenoiser(ZeroNet()), BOUNDS, horizon=3, sampler="ddim", steps=2)
    assert planner.plan(np.zeros(4)).shape == (1, 3, 2)
    assert planner.plan(np.zeros((5, 4))).shape == (5, 3, 2)


def test_action_bounds_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="equal shapes and low < high"):
        ActionBounds(np.zeros(2), np.ones(3))


def test_normalise_maps_the_bounds_onto_minus_one_to_one():
    """On [-2, 2]: 1.0 -> 0.5, -2 -> -1; on [0, 10]: 7.5 -> 0.5, 10 -> 1."""
    assert BOUNDS.normalise(np.array([[1.0, 7.5], [-2.0, 10.0]])).tolist() == [[0.5, 0.5], [-1.0, 1.0]]
    assert BOUNDS.unnormalise(BOUNDS.normalise(np.array([0.3, 2.0]))).tolist() == pytest.approx([0.3, 2.0])


def test_unnormalise_stays_within_the_bounds_where_the_affine_map_rounds_above_them():
    bounds = ActionBounds(np.array([-1.95]), np.array([1.38]))
    assert -1.95 + (1.38 - -1.95) > 1.38  # 1.3800000000000001 in floating point
    assert bounds.unnormalise(np.array([1.0])).tolist() == [1.38]
