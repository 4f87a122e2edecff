"""The `harness.pipeline_fidelity` verdict: computed from the figure's own table, failing where a check fails."""

from __future__ import annotations

import pandas as pd

from plots.papers.harness_pipeline import verdict_of


def _table(errors: list[float], agree: bool = True) -> pd.DataFrame:
    return pd.DataFrame([{"error_pct": e, "error_pct_measured_compute": e / 2, "measured_stage_compute_ms": 11.0,
                          "predicted_stage_compute_ms": 10.0, "cpu_busy_before": 0.1,
                          "sender_receiver_agree": agree} for e in errors])


def test_median_within_target_and_agreement_reproduce():
    verdict = verdict_of(_table([-30.0, 5.0, -12.0, 14.0, 40.0]))  # median |error| 14%
    assert verdict.status == "reproduced"


def test_median_above_target_or_disagreement_spoil_the_verdict():
    for table in (_table([-30.0, 16.0, -20.0]), _table([1.0, 2.0, 3.0], agree=False)):
        verdict = verdict_of(table)
        assert verdict.status != "reproduced"
        assert any(not check.holds for check in verdict.checks)
