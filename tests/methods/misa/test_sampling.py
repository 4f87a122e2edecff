"""MISA's probabilities, budgeted draw and the Horvitz-Thompson estimator (research card A16 items 1-4, 6)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.misa.sampling import (
    forced_order,
    horvitz_thompson,
    inclusion_probabilities,
    softmax_probabilities,
    weighted_budget_draw,
)

scores = st.lists(st.floats(0, 50, allow_nan=False), min_size=1, max_size=30).map(np.array)
etas = st.floats(0, 500, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(scores, etas, st.one_of(st.none(), st.floats(0.1, 10)))
def test_probabilities_form_a_distribution_monotone_in_the_score(s, eta, clip):
    p = softmax_probabilities(s, eta, clip)
    assert np.all(p >= 0) and abs(p.sum() - 1) < 1e-9
    order = np.argsort(s)
    assert np.all(np.diff(p[order]) >= -1e-15)
    if clip is not None:
        assert p.max() / p.min() <= math.exp(clip) * (1 + 1e-9)


@given(scores)
def test_eta_zero_is_uniform(s):
    assert np.allclose(softmax_probabilities(s, 0.0), 1 / len(s))


@settings(max_examples=100, deadline=None)
@given(scores, st.floats(0.01, 5), st.integers(0, 2**32 - 1))
def test_closed_form_maximises_the_kl_regularised_objective(s, eta, seed):
    """sum p s - KL(p || uniform) / eta is largest at the softmax: beats uniform and random simplex points."""

    def objective(p: np.ndarray) -> float:
        nz = p > 0
        return float(p @ s - np.sum(p[nz] * np.log(p[nz] * len(p))) / eta)

    best = objective(softmax_probabilities(s, eta))
    rivals = np.random.default_rng(seed).dirichlet(np.ones(len(s)), size=20)
    assert all(best >= objective(q) - 1e-9 for q in [np.full(len(s), 1 / len(s)), *rivals])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 1000), min_size=1, max_size=25),
    st.floats(0.001, 1.0),
    st.integers(0, 2**32 - 1),
    st.integers(0, 3),
)
def test_draw_respects_the_budget_and_fills_it_greedily(sizes, delta, seed, sample_last):
    sizes = np.array(sizes)
    rng = np.random.default_rng(seed)
    p = softmax_probabilities(rng.uniform(0, 3, len(sizes)), 1.0)
    last_used = rng.integers(-1, 5, len(sizes))
    budget = delta * sizes.sum()
    chosen = weighted_budget_draw(p, sizes, budget, rng, forced_order(last_used, sample_last))
    assert len(set(chosen)) == len(chosen) and all(0 <= b < len(sizes) for b in chosen)
    if sizes.min() > budget:  # nothing fits: one of the smallest modules alone
        assert len(chosen) == 1 and sizes[chosen[0]] == sizes.min()
        return
    used = sizes[chosen].sum()
    assert used <= budget
    # maximal: every module left out would overflow the budget
    assert all(sizes[b] > budget - used for b in set(range(len(sizes))) - set(chosen))


def test_never_used_modules_are_tried_first():
    last_used = np.array([3, -1, 0, -1, 7])
    assert forced_order(last_used, 0) == [1, 3]
    assert forced_order(last_used, 3) == [1, 3, 2]


def _design(seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(10, 60, 6)
    p = softmax_probabilities(rng.uniform(0, 2, 6), eta=1.0)
    return p, sizes, 0.3 * sizes.sum()


def test_exact_inclusion_probabilities_sum_to_the_expected_count():
    p, sizes, budget = _design()
    pi = inclusion_probabilities(p, sizes, budget)
    rng = np.random.default_rng(1)
    counts = [len(weighted_budget_draw(p, sizes, budget, rng)) for _ in range(3000)]
    assert np.all((pi > 0) & (pi <= 1))
    assert abs(pi.sum() - np.mean(counts)) < 4 * np.std(counts) / np.sqrt(len(counts))


def _z_scores(pi_used: np.ndarray, pi_true: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Per-module z of the Horvitz-Thompson mean of random gradients, variance from the true design."""
    p, sizes, budget = _design()
    rng = np.random.default_rng(seed)
    grads = [rng.normal(size=(3, 2)) for _ in sizes]
    total = [np.zeros_like(g) for g in grads]
    for _ in range(n):
        for acc, est in zip(total, horvitz_thompson(grads, weighted_budget_draw(p, sizes, budget, rng), pi_used)):
            acc += est
    # each entry of g_hat_b is g_b * 1[b in S] / pi_b: mean ratio to g_b is 1 iff unbiased
    ratio = np.array([float(np.mean(acc / n / g)) for acc, g in zip(total, grads)])
    sd = np.sqrt(pi_true * (1 - pi_true)) / pi_used / np.sqrt(n)
    return (ratio - 1) / sd


def test_importance_weighted_gradient_is_unbiased():
    """Two-sided z-test per module, Bonferroni over 6 modules: false-alarm rate 1e-3 for the whole test.

    With the wrong inclusion probabilities (the softmax p itself) the same test must reject: it can fail.
    """
    p, sizes, budget = _design()
    pi = inclusion_probabilities(p, sizes, budget)
    critical = 3.94  # two-sided normal quantile for alpha = 1e-3 / 6
    z = _z_scores(pi, pi, n=6000, seed=2)
    assert np.max(np.abs(z)) < critical, z
    wrong = _z_scores(np.clip(p * len(sizes) * pi.mean(), 1e-3, 1), pi, n=6000, seed=3)
    assert np.max(np.abs(wrong)) > critical, wrong


def test_when_nothing_fits_one_of_the_smallest_is_drawn_by_its_probability():
    """Layer blocks under a small delta: not always the first layer, but each smallest block by its p."""
    p, sizes = np.array([0.2, 0.5, 0.3]), np.array([50, 50, 80])
    pi = inclusion_probabilities(p, sizes, budget=10)
    assert np.allclose(pi, [0.2 / 0.7, 0.5 / 0.7, 0.0])
    rng = np.random.default_rng(0)
    n = 4000
    draws = [weighted_budget_draw(p, sizes, 10, rng) for _ in range(n)]
    assert all(len(d) == 1 for d in draws)
    freq = np.bincount([d[0] for d in draws], minlength=3) / n
    assert np.all(np.abs(freq - pi) <= 4 * np.sqrt(pi * (1 - pi) / n) + 1e-12), (freq, pi)
