"""Gaps in the tests of `kv_quality` found by a mutation audit.

Closed here (validation only, nothing trained): the boundaries of its checks, each at and around its edge:
budgets in (0, 1], depths in [0, 1], SnapKV's window shorter than the shortest context for accuracy and needle
rows (not for key similarity), key similarity's distance below the shortest context, and which key each blames.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.workloads.kv_quality import KVQualityWorkload


def test_budgets_lie_in_zero_to_one_and_depths_in_zero_to_one_inclusive():
    assert KVQualityWorkload(budgets=[1.0], depths=[0.0, 1.0]).depths == [0.0, 1.0]
    with pytest.raises(ValidationError, match=r"every budget must lie in \(0, 1\], got 0"):
        KVQualityWorkload(budgets=[0.0])
    with pytest.raises(ValidationError, match=r"every depth must lie in \[0, 1\]"):
        KVQualityWorkload(depths=[1.01])


@pytest.mark.parametrize("output", ["accuracy", "needle"])
def test_snapkv_needs_a_context_longer_than_its_window(output):
    assert KVQualityWorkload(output=output, methods=["snapkv"], context_tokens=[33], snapkv_window=32)
    with pytest.raises(ValidationError, match=r"snapkv_window: snapkv observes the last snapkv_window = 32"):
        KVQualityWorkload(output=output, methods=["snapkv"], context_tokens=[32], snapkv_window=32)
    # a context no longer than the default window (16) is the one blamed
    with pytest.raises(ValidationError, match=r"context_tokens: merging observes"):
        KVQualityWorkload(output=output, methods=["merging"], context_tokens=[16], sink_tokens=0, recent_tokens=0)


def test_key_similarity_ignores_the_snapkv_window_but_needs_a_longer_context_than_its_distance():
    assert KVQualityWorkload(output="key_similarity", methods=["snapkv"], context_tokens=[65], snapkv_window=100)
    with pytest.raises(ValidationError, match=r"max_distance: 65 must be below the shortest context"):
        KVQualityWorkload(output="key_similarity", context_tokens=[65], max_distance=65)
    # at the default distance (64) a context of 64 blames the distance, one of 63 the context
    with pytest.raises(ValidationError, match=r"max_distance: 64 must be below the shortest context"):
        KVQualityWorkload(output="key_similarity", context_tokens=[64])
    with pytest.raises(ValidationError, match=r"context_tokens: the shortest context \(63 tokens\)"):
        KVQualityWorkload(output="key_similarity", context_tokens=[63])
