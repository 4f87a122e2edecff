"""Gaps in the tests of `selection` found by a mutation audit.

- `ScoredChannelMLP` refuses K = 0 and K > d_ff where it is built (K = d_ff is allowed), for either score.
"""

from __future__ import annotations

import pytest

from methods.moc.selection import ScoredChannelMLP


@pytest.mark.parametrize("score", ["abs_up", "random"])
@pytest.mark.parametrize("k", [0, 17])
def test_k_outside_1_to_d_ff_is_refused(score, k):
    with pytest.raises(ValueError, match=f"k must be in 1..d_ff=16, got {k}"):
        ScoredChannelMLP(8, 16, k, score)


@pytest.mark.parametrize("k", [1, 16])
def test_k_at_the_bounds_is_allowed(k):
    assert ScoredChannelMLP(8, 16, k, "abs_up").k == k
