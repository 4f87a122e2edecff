"""MISA's sampling math: KL-regularised probabilities, the budgeted weighted draw, inclusion probabilities.

Follows MISA (Liu, Deng, He, Wang, Yao, Yuan, arXiv 2511.00056). The paper's outer problem at loop n is
``max_p  sum_b p_b ||g_b||^2 - (1/eta) KL(p || uniform)`` over the simplex, whose closed form is the softmax
``p_b = exp(eta s_b) / sum_j exp(eta s_j)`` (Algorithm 1; eta -> 0 uniform, eta -> inf greedy). The authors'
code clips the exponent at ``G_clip = 5`` (``min(G_clip, eta s)``), which we expose as ``exp_clip``.

The draw follows the authors' ``weighted_sample_without_replacement`` in module mode: first every module never
used, or among the ``sample_last`` least-recently-used, is tried in least-recently-used order; then modules are
drawn one at a time with probability proportional to p from those not yet tried; a module is kept if it still fits
in the budget (``sum of chosen sizes <= delta * total``) and leaves the population either way, until the
population is empty (a greedy budget fill in random priority order). If no module fits at all we keep one of the
smallest, drawn with probability proportional to p (the authors' code would train nothing; a documented
deviation). With layers as the blocks this is the code's layer mode, which drops the budget and draws one layer by
its probability.

For the variance argument we also give the exact inclusion probabilities pi_b of that draw (enumeration, small B)
and the Horvitz-Thompson estimator ``g_hat = sum_{b in S} g_b / pi_b``, unbiased for any design with pi_b > 0
because modules are disjoint coordinate blocks (our derivation, not the paper's estimator: MISA steps the active
modules without re-weighting).

Example::

    >>> import numpy as np
    >>> p = softmax_probabilities(np.array([0.0, 1.0, 2.0]), eta=1.0)
    >>> round(float(p.sum()), 12), bool(p[2] > p[1] > p[0])
    (1.0, True)
    >>> sizes = np.array([4, 4, 4]); sorted(weighted_budget_draw(p, sizes, budget=8, rng=np.random.default_rng(0)))
    [1, 2]
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def softmax_probabilities(scores: np.ndarray, eta: float, exp_clip: float | None = None) -> np.ndarray:
    """``p_b proportional to exp(min(exp_clip, eta * s_b))``, computed stably (max subtracted)."""
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    logits = eta * np.asarray(scores, dtype=np.float64)
    if exp_clip is not None:
        logits = np.minimum(logits, exp_clip)
    logits = logits - logits.max()
    w = np.exp(logits)
    return w / w.sum()


def forced_order(last_used: np.ndarray, sample_last: int) -> list[int]:
    """Modules tried before the weighted draw: never used (``-1``) or among the ``sample_last`` least recent."""
    order = np.argsort(last_used, kind="stable")
    return [int(b) for rank, b in enumerate(order) if last_used[b] < 0 or rank < sample_last]


def weighted_budget_draw(
    p: np.ndarray,
    sizes: np.ndarray,
    budget: float,
    rng: np.random.Generator,
    forced: list[int] | None = None,
) -> list[int]:
    """Chosen module indices (in the order chosen). ``budget`` is in parameters (``delta * total``)."""
    chosen: list[int] = []
    used = 0
    population = set(range(len(p)))
    for b in forced or []:
        if used + sizes[b] <= budget:
            chosen.append(b)
            used += int(sizes[b])
        population.discard(b)
    while population:
        idx = np.fromiter(sorted(population), dtype=np.int64)
        w = p[idx]
        b = int(rng.choice(idx, p=w / w.sum())) if w.sum() > 0 else int(rng.choice(idx))
        if used + sizes[b] <= budget:
            chosen.append(b)
            used += int(sizes[b])
        population.discard(b)
    if not chosen:
        smallest = _smallest(sizes)
        w = p[smallest]
        chosen.append(int(rng.choice(smallest, p=w / w.sum())) if w.sum() > 0 else int(rng.choice(smallest)))
    return chosen


def _smallest(sizes: np.ndarray) -> np.ndarray:
    sizes = np.asarray(sizes)
    return np.flatnonzero(sizes == sizes.min())


def inclusion_probabilities(p: np.ndarray, sizes: np.ndarray, budget: float) -> np.ndarray:
    """Exact pi_b = P(b chosen) of `weighted_budget_draw` without forced modules (enumeration; keep B <= ~10)."""
    p = np.asarray(p, dtype=np.float64)
    sizes_t = tuple(int(s) for s in sizes)
    n = len(p)

    @lru_cache(maxsize=None)
    def walk(remaining: frozenset[int], used: int) -> tuple[float, ...]:
        # expected inclusion indicator of each module from this state on
        out = np.zeros(n)
        if not remaining:
            return tuple(out)
        total = sum(p[j] for j in remaining)
        for b in remaining:
            q = p[b] / total if total > 0 else 1.0 / len(remaining)
            fits = used + sizes_t[b] <= budget
            sub = np.array(walk(remaining - {b}, used + sizes_t[b] if fits else used))
            if fits:
                sub[b] += 1.0
            out += q * sub
        return tuple(out)

    pi = np.array(walk(frozenset(range(n)), 0))
    if min(sizes_t) > budget:  # nothing fits: one of the smallest modules, drawn by p
        smallest = _smallest(np.array(sizes_t))
        w = p[smallest]
        pi[smallest] = w / w.sum() if w.sum() > 0 else 1.0 / len(smallest)
    return pi


def horvitz_thompson(grads: list[np.ndarray], chosen: list[int], pi: np.ndarray) -> list[np.ndarray]:
    """``g_hat_b = 1[b in S] g_b / pi_b`` per module: an unbiased estimate of every module's gradient."""
    member = set(chosen)
    return [g / pi[b] if b in member else np.zeros_like(g) for b, g in enumerate(grads)]
