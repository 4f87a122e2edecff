"""`methods.perplexity`: exp of the loss, +inf past a float's range (a diverged run) instead of an error."""

from __future__ import annotations

import math

from methods.perplexity import perplexity


def test_perplexity_is_exp_of_the_loss_and_inf_where_exp_overflows():
    assert perplexity(0.0) == 1.0 and perplexity(math.log(32.0)) == 32.0
    assert perplexity(709.0) == math.exp(709.0) and perplexity(710.0) == math.inf and perplexity(math.inf) == math.inf
    assert math.isnan(perplexity(math.nan))
