"""Gaps in the tests of `harness.fidelity.compute` found by a mutation audit.

Its table and summary parts only.

Closed here:
- `summarize`: allocators in first-seen order, thread counts sorted, then ``all``; both targets met exactly at
  the targets; the mean signed error; the single-flush and op-profile statistics with their gaps dropped (NaN
  when there are none); and the committed ``summary.csv`` is what `summarize` makes of the committed steps;
- `run_spread`: count, min, median, max and the spread in % of the median, per point over every kept run, and
  the committed ``run_spread.csv`` is what it makes of the committed run history;
- `read_measured` / the saved-CSV reader: a study from before the allocator column reads as ``default``, an
  empty cell is allowed, a missing column or a non-number is a `HarnessError` naming the file, column and line,
  and a study without ``op_times.csv`` has no op profile.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.fidelity.compute import MEASURED_COLUMNS, RUNS_DIR, read_measured, run_spread, summarize

COMMITTED = Path(__file__).resolve().parents[3] / "results" / "fidelity_compute"


def _table(errors, allocators=None, threads=None, **more) -> pd.DataFrame:
    n = len(errors)
    return pd.DataFrame({"allocator": allocators or ["default"] * n, "threads": threads or [1] * n,
                         "error_pct": errors, **more})


def test_summary_rows_are_allocators_in_order_then_sorted_threads_then_all():
    table = _table([1.0, 2.0, 3.0, 4.0], allocators=["keep", "keep", "default", "keep"], threads=[2, 1, 1, 2])
    summary = summarize(table)
    assert list(zip(summary["allocator"], summary["threads"])) == [
        ("keep", "1"), ("keep", "2"), ("keep", "all"), ("default", "1"), ("default", "all")]
    assert summary["n_points"].tolist() == [1, 2, 3, 1, 1]


@pytest.mark.parametrize(("errors", "meets"), [
    ([10.0, -10.0, 25.0], True),  # median |error| exactly 10, worst exactly 25
    ([10.0, -10.5, 11.0], False),  # median 10.5
    ([1.0, 2.0, -25.5], False),  # worst beyond 25
])
def test_targets_hold_up_to_and_including_the_limits(errors, meets):
    row = summarize(_table(errors)).iloc[-1]
    assert bool(row["meets_targets"]) is meets


def test_mean_and_diagnostic_statistics():
    table = _table([-4.0, 2.0, 8.0], error_fixed_flush_pct=[-20.0, 5.0, float("nan")],
                   error_op_profile_pct=[float("nan")] * 3)
    row = summarize(table).iloc[-1]
    assert row["mean_error_pct"] == pytest.approx(2.0)
    assert row["worst_error_pct"] == 8.0 and row["median_abs_error_pct"] == 4.0
    # single-flush: the NaN point is left out of all three numbers
    assert (row["median_abs_error_fixed_flush_pct"], row["worst_error_fixed_flush_pct"],
            row["mean_error_fixed_flush_pct"]) == (12.5, -20.0, -7.5)
    assert math.isnan(row["median_abs_error_op_profile_pct"]) and math.isnan(row["mean_error_op_profile_pct"])


def test_committed_summary_is_the_summary_of_the_committed_steps():
    if not (COMMITTED / "steps.csv").is_file():
        pytest.skip("no committed compute study")
    again = summarize(pd.read_csv(COMMITTED / "steps.csv"))
    committed = pd.read_csv(COMMITTED / "summary.csv", dtype={"threads": str})
    pd.testing.assert_frame_equal(again, committed, check_exact=False, rtol=1e-5, atol=1e-3, check_dtype=False)


def _run(folder: Path, name: str, measured: list[float]) -> None:
    (folder / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"allocator": "default", "threads": 1, "size": ["s", "m"], "micro_batch": 2, "seq_len": 64,
                  "measured_ms": measured}).to_csv(folder / RUNS_DIR / name, index=False)


def test_run_spread_per_point_over_the_runs(tmp_path):
    _run(tmp_path, "a.csv", [10.0, 100.0])
    _run(tmp_path, "b.csv", [14.0, 100.0])
    _run(tmp_path, "c.csv", [11.0, 120.0])
    spread = run_spread(tmp_path)
    assert spread["size"].tolist() == ["s", "m"]
    assert spread["n_runs"].tolist() == [3, 3]
    assert spread["run_min_ms"].tolist() == [10.0, 100.0]
    assert spread["run_median_ms"].tolist() == [11.0, 100.0]
    assert spread["run_max_ms"].tolist() == [14.0, 120.0]
    assert spread["run_spread_pct"].tolist() == pytest.approx([100 * 4 / 11, 20.0])


def test_committed_run_spread_is_the_spread_of_the_committed_runs():
    if not (COMMITTED / "run_spread.csv").is_file():
        pytest.skip("no committed run history")
    committed = pd.read_csv(COMMITTED / "run_spread.csv")
    pd.testing.assert_frame_equal(run_spread(COMMITTED), committed, check_exact=False, rtol=1e-5,
                                  check_dtype=False)


def _saved(folder: Path, **changes) -> Path:
    row = {c: 1 for c in MEASURED_COLUMNS} | {"allocator": "keep", "size": "s", "cpu_busy_before": ""}
    frame = pd.DataFrame([row]).drop(columns=changes.pop("drop", []))
    for column, value in changes.items():
        frame[column] = value
    frame.to_csv(folder / "steps.csv", index=False)
    return folder / "steps.csv"


def test_read_measured_fills_the_allocator_of_old_studies_and_allows_empty_cells(tmp_path):
    _saved(tmp_path, drop=["allocator"], predicted_ms=5.0)  # a prediction column is not read back
    measured, op_times = read_measured(tmp_path)
    assert list(measured.columns) == MEASURED_COLUMNS
    assert measured["allocator"].tolist() == ["default"] and op_times is None
    assert math.isnan(measured["cpu_busy_before"].iloc[0])


def test_read_measured_names_a_missing_column(tmp_path):
    path = _saved(tmp_path, drop=["measured_ms", "vocab"])
    with pytest.raises(HarnessError, match=f"{path} lacks the column\\(s\\) vocab, measured_ms"):
        read_measured(tmp_path)


def test_read_measured_names_the_line_of_a_non_number(tmp_path):
    path = _saved(tmp_path, measured_ms="fast")
    with pytest.raises(HarnessError, match=f"{path}: line 2: column measured_ms: expected a number, got 'fast'"):
        read_measured(tmp_path)


def test_read_measured_refuses_a_folder_and_a_missing_file(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        read_measured(tmp_path)
    (tmp_path / "steps.csv").mkdir()
    with pytest.raises(HarnessError, match="is a folder"):
        read_measured(tmp_path)


def test_read_measured_reads_the_op_profile_beside_the_steps(tmp_path):
    from harness.fidelity.compute import OP_PROFILE_COLUMNS

    _saved(tmp_path)
    profile = {c: 1 for c in OP_PROFILE_COLUMNS} | {"size": "s", "op": "matmul", "impl": "torch", "shape": "m=1"}
    pd.DataFrame([profile]).to_csv(tmp_path / "op_times.csv", index=False)
    _, op_times = read_measured(tmp_path)
    assert list(op_times.columns) == OP_PROFILE_COLUMNS and op_times["op"].tolist() == ["matmul"]
