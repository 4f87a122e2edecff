"""Gaps in the tests of `harness.non_finite` found by a mutation audit.

Closed here:
- a boolean column is never counted, not even a nullable one with a missing value;
- a first non-finite row whose ``step`` is itself missing gets no ``first_step``;
- without a ``step`` column, NaN through the last row is a note, never a divergence;
- a run may have diverged when any one of its metrics did, not only when all did;
- the order of the metrics in a line: those that may have diverged first, then by their first non-finite row;
- exactly `NAMES_SHOWN` other metrics are listed without "...", one more adds it;
- exactly `POINTS_SHOWN` flagged points name no "more"; more diverged points than that are cut with "and N more".
"""

from __future__ import annotations

import math

import pandas as pd

from harness.non_finite import may_have_diverged, non_finite_columns, run_line, sweep_line

DIVERGED = {"rows": 4, "count": 2, "first_row": 2, "values": ["nan"], "first_step": 20}
GAPS = {"rows": 4, "count": 1, "first_row": 1, "values": ["nan"], "first_step": 10}
DETAILS = "details: non_finite in each point's run.json"


def test_a_missing_step_at_the_first_bad_row_gives_no_first_step():
    metrics = pd.DataFrame({"step": [0.0, math.nan, 20.0], "x": [1.0, math.inf, 2.0]})
    assert non_finite_columns(metrics) == {
        "step": {"rows": 3, "count": 1, "first_row": 1, "values": ["nan"]},
        "x": {"rows": 3, "count": 1, "first_row": 1, "values": ["+inf"]},
    }


def test_a_nullable_boolean_column_with_a_missing_value_is_not_counted():
    metrics = pd.DataFrame({"ok": pd.array([True, None, False], dtype="boolean"), "x": [1.0, 2.0, math.nan]})
    assert non_finite_columns(metrics) == {"x": {"rows": 3, "count": 1, "first_row": 2, "values": ["nan"]}}


def test_nan_to_the_last_row_without_a_step_column_is_only_a_note():
    to_the_end = {"latency_s": {"rows": 4, "count": 2, "first_row": 2, "values": ["nan"]}}
    assert run_line(to_the_end) == "note: metric 'latency_s' is NaN from row 3 on (2 of 4 rows)"
    assert may_have_diverged(to_the_end) is False


def test_one_diverged_metric_is_enough_for_a_run_that_may_have_diverged():
    assert may_have_diverged({"eval_loss": GAPS, "loss": DIVERGED}) is True
    assert may_have_diverged({"eval_loss": GAPS}) is False
    assert sweep_line([{"eval_loss": GAPS, "loss": DIVERGED}]) == (
        f"warning: 1 of 1 point has metrics that are not finite: point 1 (loss, eval_loss); point 1 may have "
        f"diverged; {DETAILS}")


def test_a_diverged_metric_leads_and_the_others_follow_by_their_first_bad_row():
    late_gap = {"rows": 4, "count": 1, "first_row": 2, "values": ["nan"], "first_step": 20}
    early_gap = {"rows": 4, "count": 1, "first_row": 0, "values": ["nan"], "first_step": 0}
    diverged = {"rows": 4, "count": 1, "first_row": 3, "values": ["+inf"], "first_step": 30}
    line = run_line({"d": diverged, "z": late_gap, "y": early_gap})
    assert line == ("warning: metric 'd' is +inf at step 30 (1 of 4 rows): the run may have diverged; "
                    "also not finite: y, z")


def test_three_other_metrics_are_listed_in_full_and_a_fourth_is_cut():
    others = {name: {**GAPS, "rows": 10, "first_row": row} for row, name in enumerate(["b", "c", "d", "e"], start=1)}
    lead = {"a": DIVERGED}
    three = run_line({**lead, **dict(list(others.items())[:3])})
    assert three.endswith("; also not finite: b, c, d")
    assert run_line({**lead, **others}).endswith("; also not finite: b, c, d, ...")


def test_five_flagged_points_are_all_named_with_no_more():
    points = ", ".join(["1", "2", "3", "4", "5"])
    named = "; ".join(f"point {number} (loss)" for number in range(1, 6))
    assert sweep_line([{"loss": DIVERGED}] * 5) == (
        f"warning: 5 of 5 points have metrics that are not finite: {named}; points {points} may have diverged; "
        f"{DETAILS}")


def test_more_than_five_diverged_points_are_cut_with_and_n_more():
    named = "; ".join(f"point {number} (loss)" for number in range(1, 6))
    assert sweep_line([{"loss": DIVERGED}] * 7 + [{}]) == (
        f"warning: 7 of 8 points have metrics that are not finite: {named}; 2 more; points 1, 2, 3, 4, 5 and 2 "
        f"more may have diverged; {DETAILS}")
