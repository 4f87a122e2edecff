"""Gaps in the tests of `harness.pipeline_study.op_times` found by a mutation audit.

Closed here: one pass is enough (``passes=1`` is accepted and every call is timed once).
"""

from __future__ import annotations

from pathlib import Path

from harness.pipeline_study.op_times import measure_op_times, model_op_calls
from harness.pipeline_study.plan import load_plan

PLANS = Path(__file__).resolve().parents[3] / "harness" / "pipeline_study" / "plans"


def test_a_single_pass_is_accepted():
    plan = load_plan(PLANS / "pipeline_fidelity_quick.yaml")
    frame = measure_op_times(plan, passes=1, budget_s=0.0)
    assert len(frame) == len(model_op_calls(plan))
    assert (frame["n_passes"] == 1).all()
