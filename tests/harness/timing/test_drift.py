"""`harness.timing.drift`: a table set's rows timed again on this machine (now / table), and `harness timings
drift`."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.timing.drift import check_drift, profiled_threads, sample_rows

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "timings"


def _copy_set(tmp_path: Path, name: str = "cpu-f4", **meta_changes) -> Path:
    folder = tmp_path / name
    shutil.copytree(FIXTURES / "cpu-f4", folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(device=name, **meta_changes)
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_sample_rows_spans_fastest_to_slowest():
    frame = pd.DataFrame({"time_ms_median": [5.0, 1.0, 3.0, 2.0, 4.0, 6.0, 7.0]})
    picked = sample_rows(frame, 3)["time_ms_median"].tolist()
    assert picked == [1.0, 4.0, 7.0]
    assert sorted(sample_rows(frame, 50)["time_ms_median"]) == sorted(frame["time_ms_median"])
    assert sample_rows(frame, 1)["time_ms_median"].tolist() == [1.0]
    with pytest.raises(ValueError, match="rows per op"):
        sample_rows(frame, 0)


def test_profiled_threads_read_from_the_device_name():
    assert profiled_threads({"device_name": "x86_64 (2 logical cores; torch uses 2 thread(s))"}) == 2
    assert profiled_threads({"device_name": "NVIDIA H100 80GB HBM3"}) is None


def test_ratios_are_the_new_times_over_the_table_rows():
    calls = []

    def timer(fn, device, settings):
        fn()  # the prepared call runs: its inputs were built for the row's shape
        calls.append((device, settings.flush_bytes()))
        return 0.5

    report = check_drift(FIXTURES / "cpu-f4", rows_per_op=2, ops=["copy"], timer=timer, log=lambda _: None)
    assert len(report.rows) == 2
    assert calls == [("cpu", 4 << 20)] * 2  # the set's cache state, on the CPU
    for row in report.rows.itertuples():
        assert row.ratio == pytest.approx(0.5 / row.table_ms)
    table = pd.read_csv(FIXTURES / "cpu-f4" / "copy.csv")
    assert set(report.rows["table_ms"]) == {table["time_ms_median"].min(), table["time_ms_median"].max()}
    assert report.median_ratio == pytest.approx(float(report.rows["ratio"].median()))
    per_op = report.per_op().set_index("op")
    assert per_op.loc["copy", "rows"] == 2
    assert per_op.loc["copy", "min_ratio"] <= per_op.loc["copy", "median_ratio"] <= per_op.loc["copy", "max_ratio"]


def test_summary_says_faster_or_slower():
    fast = check_drift(FIXTURES / "cpu-f4", rows_per_op=1, ops=["copy"], timer=lambda fn, d, s: 1e-6,
                       log=lambda _: None)
    slow = check_drift(FIXTURES / "cpu-f4", rows_per_op=1, ops=["copy"], timer=lambda fn, d, s: 1e6,
                       log=lambda _: None)
    assert "faster now" in fast.summary() and "slower now" in slow.summary()
    assert "2025-01-01" in fast.summary()


def test_the_real_timer_gives_finite_positive_ratios():
    report = check_drift(FIXTURES / "cpu-f4", rows_per_op=1, ops=["copy"], log=lambda _: None)
    assert len(report.rows) == 1
    assert math.isfinite(report.median_ratio) and report.median_ratio > 0


def test_imported_unknown_and_cuda_sets_are_refused(tmp_path):
    imported = _copy_set(tmp_path, "vendor", provenance={"source": "a published profile"})
    with pytest.raises(HarnessError, match="imported .a published profile.*nothing to time again"):
        check_drift(imported, log=lambda _: None)
    with pytest.raises(HarnessError, match="no table for op.*sdpa_fwd"):
        check_drift(FIXTURES / "cpu-f4", ops=["sdpa_fwd"], log=lambda _: None)
    import torch

    if not torch.cuda.is_available():
        gpu = _copy_set(tmp_path, "h100", cuda="12.4", device_name="NVIDIA H100 80GB HBM3")
        with pytest.raises(HarnessError, match="no CUDA device"):
            check_drift(gpu, log=lambda _: None)


def test_cli_reports_and_fails_above_a_threshold(tmp_path, capsys):
    out_csv = tmp_path / "drift.csv"
    assert main(["timings", "drift", "cpu-f4", "--out", str(FIXTURES), "--ops", "copy", "--rows", "1",
                 "--csv", str(out_csv)]) == 0
    assert "now / table median" in capsys.readouterr().out
    written = pd.read_csv(out_csv)
    assert list(written["op"]) == ["copy"] and written["ratio"].iloc[0] > 0
    # the fixture's times are synthetic, so this machine is never within 0.001% of them
    assert main(["timings", "drift", "cpu-f4", "--out", str(FIXTURES), "--ops", "copy", "--rows", "1",
                 "--fail-above", "0.001"]) == 1
    assert "beyond the allowed" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["no-such-set"], "no such kernel table set"),
    (["cpu-f4", "--rows", "0"], "--rows"),
    (["cpu-f4", "--fail-above", "-5"], "--fail-above"),
    (["cpu-f4", "--ops", "nosuch"], "no table for op(s) nosuch; it has copy"),  # before anything is printed
])
def test_cli_bad_input_is_one_line_exit_2(args, message, capsys):
    assert main(["timings", "drift", "--out", str(FIXTURES), *args]) == 2
    out, err = capsys.readouterr()
    assert message in err.strip() and len(err.strip().splitlines()) == 1 and out == ""


def test_timings_list_says_when_and_how_a_set_was_measured(capsys):
    assert main(["timings", "list", "--out", str(FIXTURES)]) == 0
    lines = {line.split(":")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["cpu-f4"].startswith("cpu-f4: kernels (measured 2025-01-01, 4 MiB flush): copy ")


@pytest.mark.parametrize("args, line", [
    # a --csv that cannot be written was found only after every row was timed again: a traceback, the rows lost
    (["cpu-f4", "--csv", "/proc/drift_rows.csv"], "error: --csv /proc/drift_rows.csv: cannot write there ("),
    (["../cpu-f4"], "error: SET: expected a table-set name (letters, digits"),  # a path, not a set's name
])
def test_cli_refuses_before_timing(args, line, capsys, monkeypatch):
    def timed(*_args, **_kwargs):
        raise AssertionError("timed before the flags were checked")

    monkeypatch.setattr("harness.timing.drift.check_drift", timed)
    assert main(["timings", "drift", "--out", str(FIXTURES), *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    (printed,) = err.strip().splitlines()
    assert printed.startswith(line), printed
