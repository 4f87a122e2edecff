"""The `harness.fidelity_compute` figure: drawn from the study's steps.csv, its verdict follows the two targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import plots.papers.harness_fidelity_compute as figure_module
from harness.fidelity.compute import SPREAD_COLUMNS
from plots.registry import FIGURES
from plots.runner import PROJECT_ROOT


class _Ctx:
    """The study's points (``frame``) and run spread (``spread``; none: an empty history), or the committed files."""

    def __init__(self, frame: pd.DataFrame | None = None, spread: pd.DataFrame | None = None):
        self.frame, self.spread = frame, spread

    def read_csv(self, path: str) -> pd.DataFrame:
        assert path in figure_module.INPUTS, f"{path} is not a declared input"
        if self.frame is None:
            return pd.read_csv(PROJECT_ROOT / path)
        if path == figure_module.SPREAD_CSV:
            return self.spread.copy() if self.spread is not None else pd.DataFrame(columns=SPREAD_COLUMNS)
        return self.frame.copy()


def _points(errors, allocator="keep") -> pd.DataFrame:
    rows = []
    for i, error in enumerate(errors):
        measured = 10.0 * (i + 1)
        rows.append({"allocator": allocator, "threads": 1 + i % 2, "minor_faults_per_step": 0.0,
                     "size": f"d{64 << (i % 4)}", "d_model": 64 << (i % 4), "micro_batch": 2,
                     "seq_len": 64, "tokens": 128, "params": 1000, "measured_ms": measured,
                     "measured_ms_p10": measured * 0.95, "measured_ms_p90": measured * 1.1,
                     "predicted_ms": measured * (1 + error / 100), "error_pct": error, "roofline_fraction": 0.0,
                     "cpu_busy_before": 0.5 if i == 0 else 0.0})
    return pd.DataFrame(rows)


def test_registered_with_its_input_and_claim():
    spec = FIGURES.get("harness.fidelity_compute")
    assert spec.inputs == figure_module.INPUTS and "10%" in spec.claim and "25%" in spec.claim


@pytest.mark.parametrize(("errors", "status"), [
    ([-3.0, 4.0, 8.0, -9.0, 2.0], "reproduced"),
    ([-3.0, 4.0, 8.0, -30.0, 2.0], "partly"),
    ([-30.0, 40.0, 28.0, -12.0], "not_reproduced"),
])
def test_verdict_follows_the_median_and_worst_targets(errors, status):
    from matplotlib.figure import Figure

    out = figure_module.draw_fidelity_compute(_Ctx(_points(errors)))
    assert isinstance(out.figure, Figure) and len(out.figure.axes) == 2
    assert out.verdict.status == status and not out.verdict.contradictions()
    assert out.ours.startswith(f"keep allocator: median |error| {np.median(np.abs(errors)):.1f}%")
    assert len(out.data) == len(errors)


def test_each_allocator_is_a_row_and_checked_on_its_own():
    good, bad = _points([-3.0, 4.0, 8.0, -9.0]), _points([-40.0, -35.0, 5.0, -2.0], allocator="default")
    out = figure_module.draw_fidelity_compute(_Ctx(pd.concat([bad, good], ignore_index=True)))
    assert len(out.figure.axes) == 4 and out.verdict.status == "partly"
    held = {c.name: c.holds for c in out.verdict.checks}
    assert held["keep allocator, 1 thread: worst |error| (%)"]
    assert not held["default allocator, 1 thread: worst |error| (%)"]
    assert out.ours.startswith("default allocator: median") and "; keep allocator: median" in out.ours


def test_a_study_without_allocators_reads_as_the_default_one():
    out = figure_module.draw_fidelity_compute(_Ctx(_points([-3.0, 4.0]).drop(columns="allocator")))
    assert set(out.data["allocator"]) == {"default"}


def test_committed_study_draws():
    if not (PROJECT_ROOT / figure_module.STEPS_CSV).is_file():
        pytest.skip("results/fidelity_compute/steps.csv not committed yet")
    steps = pd.read_csv(PROJECT_ROOT / figure_module.STEPS_CSV)
    out = figure_module.draw_fidelity_compute(_Ctx())
    assert len(out.data) == len(steps) and np.isfinite(out.data["error_pct"]).all()
    assert not out.verdict.contradictions()


def test_run_spread_draws_a_range_and_is_reported():
    points = _points([-3.0, 4.0])
    spread = points[["allocator", "threads", "size", "micro_batch", "seq_len"]].assign(
        n_runs=3, run_min_ms=points["measured_ms"] * 0.9, run_median_ms=points["measured_ms"],
        run_max_ms=points["measured_ms"] * 1.3)
    spread["run_spread_pct"] = [40.0, 20.0]
    out = figure_module.draw_fidelity_compute(_Ctx(points, spread))
    assert list(out.data["n_runs"]) == [3, 3] and list(out.data["run_spread_pct"]) == [40.0, 20.0]
    assert "measured in 3 runs: medians apart by 30% of their median (median over points; largest 40%)" in out.ours
    assert out.verdict.status == "reproduced"  # the verdict judges the committed run alone


def test_the_explanation_reports_the_error_per_size_and_the_op_profile_diagnostic():
    points = _points([20.0, 10.0, -10.0, -20.0, 30.0])  # sizes d64, d128, d256, d512, d64
    text = figure_module.explanation(points)
    assert "d64 +25%, d128 +10%, d256 -10%, d512 -20%" in text and "same rounds" not in text
    profiled = points.assign(error_op_profile_pct=[1.0, -2.0, 3.0, -4.0, 5.0],
                             predicted_op_profile_ms=points["measured_ms"])
    # op profile: mean signed +0.6%; tables: mean +6.0%
    assert "median |error| is 3.0% (tables: 20.0%, mean signed error +0.6% against +6.0%)" in (
        figure_module.explanation(profiled))
    fixed = points.assign(error_fixed_flush_pct=[40.0, -50.0, 10.0, 5.0, 1.0])
    assert "median |error| is 10.0% and the worst -50.0% (cache-state tables: 20.0%, +30.0%)" in (
        figure_module.explanation(fixed))
    out = figure_module.draw_fidelity_compute(_Ctx(profiled))
    assert "error_op_profile_pct" in out.data and "diagnostic" in out.ours
    assert "measured back to back" not in text  # one allocator configuration: no pairs


def test_the_explanation_compares_the_two_allocators_shape_by_shape():
    keep = _points([0.0, 0.0, 0.0])
    default = keep.assign(allocator="default", measured_ms=keep["measured_ms"] * [2.0, 0.5, 1.0])
    text = figure_module.explanation(pd.concat([keep, default], ignore_index=True))
    # keep / default per pair: 0.5, 2, 1 -> geometric mean 1
    assert "1.00x the time on average over 3 pairs" in text and "0.50x to 2.00x for single pairs" in text
