"""Gaps in the tests of `harness.timing.drift` found by a mutation audit.

Closed here: `sample_rows` rounds its evenly spaced positions (not truncates); the thread count is read whole
from meta.json (16, not its first digit) and the re-timing runs at it; each call runs once outside the timed
window; rows timed at 0 ms are skipped; the median (not the mean) of the ratios, the per-op min and max, and the
"N% faster" of the summary (1 - ratio, not 1 / ratio - 1), on a timer returning chosen multiples of the rows;
rows of Triton implementations are skipped on a CPU (and said so).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.timing.drift import check_drift, profiled_threads, sample_rows
from kernels.ops import load_all_ops
from tests.harness.timing.table_edits import set_rows

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "timings"
COPY_MS = [0.028214, 0.42143, 1.679722]  # cpu-f4/copy.csv, fastest to slowest


def _quiet(**kwargs):
    return check_drift(FIXTURES / "cpu-f4", ops=["copy"], log=lambda _: None, **kwargs)


def test_sample_rows_rounds_the_evenly_spaced_positions():
    frame = pd.DataFrame({"time_ms_median": [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]})
    # positions 0, 1.67, 3.33, 5 -> rows 0, 2, 3, 5 of the sorted times
    assert sample_rows(frame, 4)["time_ms_median"].tolist() == [1.0, 3.0, 4.0, 6.0]


def test_thread_counts_of_two_digits_are_read_whole():
    assert profiled_threads({"device_name": "x86_64 (32 logical cores; torch uses 16 thread(s))"}) == 16


def test_ratios_summarised_by_median_min_max_and_the_percent_faster():
    now = iter([0.5 * COPY_MS[0], COPY_MS[1], 4 * COPY_MS[2]])  # ratios 0.5, 1, 4 (mean 1.83)
    report = _quiet(rows_per_op=3, timer=lambda fn, device, settings: next(now))
    assert report.rows["ratio"].tolist() == pytest.approx([0.5, 1.0, 4.0])
    assert report.median_ratio == pytest.approx(1.0)
    per_op = report.per_op().set_index("op").loc["copy"]
    assert (per_op["min_ratio"], per_op["median_ratio"], per_op["max_ratio"]) == pytest.approx((0.5, 1.0, 4.0))
    faster = _quiet(rows_per_op=1, timer=lambda fn, device, settings: 0.8 * COPY_MS[0])
    assert "now / table median 0.80" in faster.summary() and "runs the set's ops 20% faster now" in faster.summary()


def test_each_call_runs_once_before_the_timer_at_the_sets_thread_count(tmp_path, monkeypatch):
    folder = tmp_path / "cpu-f4"
    shutil.copytree(FIXTURES / "cpu-f4", folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["device_name"] = "x86_64 (4 logical cores; torch uses 3 thread(s))"
    (folder / "meta.json").write_text(json.dumps(meta))
    copy = load_all_ops().get("copy")
    calls = []
    real = copy.impls["torch"]
    monkeypatch.setitem(copy.impls, "torch", lambda *args: calls.append("call") or real(*args))
    seen = []

    def timer(fn, device, settings):
        import torch

        seen.append((len(calls), torch.get_num_threads()))
        return 1.0

    check_drift(folder, rows_per_op=2, ops=["copy"], timer=timer, log=lambda _: None)
    assert seen == [(1, 3), (2, 3)]  # the timer never runs the call itself here: one call per row before it


def test_rows_timed_at_zero_ms_are_skipped(tmp_path):
    folder = tmp_path / "cpu-f4"
    shutil.copytree(FIXTURES / "cpu-f4", folder)
    frame = pd.read_csv(folder / "copy.csv")
    frame.loc[0, ["time_ms_median", "time_ms_p10"]] = 0.0
    set_rows(folder, "copy", frame)
    report = check_drift(folder, rows_per_op=5, ops=["copy"], timer=lambda fn, d, s: 1.0, log=lambda _: None)
    assert report.rows["table_ms"].tolist() == COPY_MS[1:]


def test_triton_rows_are_skipped_on_a_cpu(tmp_path):
    folder = tmp_path / "cpu-f4"
    shutil.copytree(FIXTURES / "cpu-f4", folder)
    rows = [(4, 16, 4, impl, "float32", 0.01, 0.01, 0.01, 5) for impl in ("torch", "triton")]
    pd.DataFrame(rows, columns=["rows", "cols", "k", "impl", "dtype", "time_ms_median", "time_ms_p10",
                                "time_ms_p90", "n_reps"]).to_csv(folder / "arc_pack.csv", index=False)
    meta = json.loads((folder / "meta.json").read_text())
    meta["ops"]["arc_pack"] = {"shape_columns": ["rows", "cols", "k"], "rows": 2}
    (folder / "meta.json").write_text(json.dumps(meta))
    report = check_drift(folder, rows_per_op=5, ops=["arc_pack"], timer=lambda fn, d, s: 0.02, log=lambda _: None)
    assert report.rows["impl"].tolist() == ["torch"]
    assert report.skipped == ("arc_pack: 1 row(s) of implementations that do not run on this cpu",)
