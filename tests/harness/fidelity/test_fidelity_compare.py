"""Comparison math (harness.fidelity.compare): signed % error, median |error|, summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.fidelity.compare import median_abs_error_pct, signed_error_pct, summarize


def test_signed_error_sign_and_value():
    assert signed_error_pct(110.0, 100.0) == pytest.approx(10.0)
    assert signed_error_pct(90.0, 100.0) == pytest.approx(-10.0)
    assert signed_error_pct(100.0, 100.0) == 0.0
    np.testing.assert_allclose(signed_error_pct([2.0, 1.0], [1.0, 2.0]), [100.0, -50.0])


@settings(max_examples=50, deadline=None)
@given(measured=st.floats(1e-6, 1e6), ratio=st.floats(0.01, 100.0))
def test_signed_error_is_the_ratio_minus_one(measured, ratio):
    assert signed_error_pct(measured * ratio, measured) == pytest.approx(100.0 * (ratio - 1.0), rel=1e-9, abs=1e-9)


def test_median_abs_error_ignores_sign():
    assert median_abs_error_pct([-30.0, 10.0, 20.0]) == 20.0
    assert median_abs_error_pct([-5.0, 5.0]) == 5.0


@pytest.mark.parametrize("bad", [[], [float("nan")], [1.0, float("inf")]])
def test_median_abs_error_rejects_empty_and_nonfinite(bad):
    with pytest.raises(ValueError, match="errors_pct"):
        median_abs_error_pct(bad)


@pytest.mark.parametrize(("predicted", "measured"), [(1.0, 0.0), (1.0, -1.0), (-1.0, 1.0), (float("nan"), 1.0)])
def test_signed_error_rejects_impossible_times(predicted, measured):
    with pytest.raises(ValueError):
        signed_error_pct(predicted, measured)


def test_summarize_groups_and_overall_row():
    table = pd.DataFrame({"op": ["a", "a", "b"], "error_pct": [10.0, -30.0, 5.0]})
    out = summarize(table, ["error_pct"], ["op"])
    assert out["op"].tolist() == ["a", "b", "all"]
    assert out["n_points"].tolist() == [2, 1, 3]
    assert out["median_abs_error_pct"].tolist() == [20.0, 5.0, 10.0]
    assert len(summarize(table, ["error_pct"], ["op"], overall=False)) == 2
