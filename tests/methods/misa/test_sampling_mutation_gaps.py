"""Gaps a mutation audit found in methods/misa/sampling.py: a budget filled exactly (forced and drawn modules, and
the inclusion probabilities), and probabilities that underflow to zero (the uniform fallbacks), by hand."""

from __future__ import annotations

import numpy as np

from methods.misa.sampling import inclusion_probabilities, weighted_budget_draw


def test_modules_that_fill_the_budget_exactly_are_all_kept():
    p, sizes = np.array([0.5, 0.5]), np.array([4, 4])
    assert weighted_budget_draw(p, sizes, 8, np.random.default_rng(0), forced=[0, 1]) == [0, 1]
    assert sorted(weighted_budget_draw(p, sizes, 8, np.random.default_rng(0))) == [0, 1]
    assert np.allclose(inclusion_probabilities(p, sizes, 8), [1.0, 1.0])


def test_zero_probabilities_fall_back_to_a_uniform_draw():
    """Module 0 (size 5) never fits a budget of 2; the two others have probability 0 (an underflowed softmax) yet
    both fit, so both are drawn; pi = (0, 1, 1)."""
    p, sizes = np.array([1.0, 0.0, 0.0]), np.array([5, 1, 1])
    for seed in range(5):
        assert sorted(weighted_budget_draw(p, sizes, 2, np.random.default_rng(seed))) == [1, 2]
    assert np.allclose(inclusion_probabilities(p, sizes, 2), [0.0, 1.0, 1.0])


def test_nothing_fits_and_the_smallest_have_zero_probability():
    """No module fits a budget of 2; the smallest (1 and 2, size 3) have p = 0: one of them, uniformly."""
    p, sizes = np.array([1.0, 0.0, 0.0]), np.array([5, 3, 3])
    picks = {tuple(weighted_budget_draw(p, sizes, 2, np.random.default_rng(seed))) for seed in range(20)}
    assert picks == {(1,), (2,)}
    assert np.allclose(inclusion_probabilities(p, sizes, 2), [0.0, 0.5, 0.5])
