"""Perplexity from a mean cross-entropy loss in nats, shared by the language-model trainers and their figures.

A diverged run's loss can pass ~709.78 nats, where ``math.exp`` raises ``OverflowError``: its perplexity is then
+inf (and NaN stays NaN), so the run is stored and reported as what it is instead of crashing.
"""

from __future__ import annotations

import math


def perplexity(loss: float) -> float:
    """exp(``loss``); +inf where that overflows a float, NaN for NaN."""
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf
