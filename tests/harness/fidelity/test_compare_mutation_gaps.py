"""Gaps in the tests of `harness.fidelity.compare` found by a mutation audit.

Closed here:
- a measured time that is NaN or infinite is rejected; a predicted time of exactly 0 is allowed (-100 %);
- a scalar error comes back as a plain float;
- `summarize` sorts its groups, keeps a group whose key is missing (NaN), and with no ``by`` keys gives the
  overall row only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.fidelity.compare import signed_error_pct, summarize


@pytest.mark.parametrize("measured", [float("nan"), float("inf")])
def test_a_nonfinite_measured_time_is_rejected(measured):
    with pytest.raises(ValueError, match="measured"):
        signed_error_pct(1.0, measured)


def test_a_zero_prediction_is_minus_one_hundred_percent():
    assert signed_error_pct(0.0, 100.0) == -100.0
    np.testing.assert_array_equal(signed_error_pct([0.0, 50.0], [10.0, 100.0]), [-100.0, -50.0])


def test_a_scalar_error_is_a_float():
    assert type(signed_error_pct(110.0, 100.0)) is float
    assert isinstance(signed_error_pct([110.0], [100.0]), np.ndarray)


def test_summarize_sorts_the_groups():
    table = pd.DataFrame({"op": ["b", "a", "b"], "error_pct": [4.0, -2.0, 8.0]})
    out = summarize(table, ["error_pct"], ["op"], overall=False)
    assert out["op"].tolist() == ["a", "b"]
    assert out["median_abs_error_pct"].tolist() == [2.0, 6.0]


def test_summarize_keeps_a_group_with_a_missing_key():
    table = pd.DataFrame({"rate": [100.0, np.nan, np.nan], "error_pct": [1.0, -3.0, 5.0]})
    out = summarize(table, ["error_pct"], ["rate"], overall=False)
    assert out["n_points"].tolist() == [1, 2]
    assert out["median_abs_error_pct"].tolist() == [1.0, 4.0]


def test_summarize_without_keys_is_the_overall_row_only():
    table = pd.DataFrame({"error_pct": [1.0, -3.0, 5.0]})
    out = summarize(table, ["error_pct"], [])
    assert len(out) == 1
    assert out["n_points"].tolist() == [3]
    assert out["median_abs_error_pct"].tolist() == [3.0]
