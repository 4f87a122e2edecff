"""Gaps in the tests of `harness.timing.notes` found by a mutation audit.

Closed here: the roofline share printed when the predicted times sum to 0 ms (every prediction came from the
roofline: 100%) and a share under 1% ("<1%", not a rounded "0%").
"""

from __future__ import annotations

from harness.timing.notes import roofline_note


def _info(roofline_ms: float, exact_ms: float) -> dict:
    return {"timing_sources": {"matmul": {"exact": 1, "interpolated": 0, "roofline": 1}},
            "time_by_source_ms": {"matmul": {"exact": exact_ms, "interpolated": 0.0, "roofline": roofline_ms}}}


def test_a_zero_total_is_all_roofline():
    assert roofline_note(_info(0.0, 0.0)).startswith("note: 100% of predicted compute time came from the roofline")


def test_a_share_under_one_percent_is_shown_as_under_one_percent():
    assert roofline_note(_info(0.4, 99.6)).startswith("note: <1% of predicted compute time")
    assert roofline_note(_info(1.0, 99.0)).startswith("note: 1% of predicted compute time")
