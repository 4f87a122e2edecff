"""Gaps in the tests of `harness.devices` found by a mutation audit.

Closed here:
- a catalogue kernel floor whose source is only blanks names no source;
- a roofline time without FLOPs needs no peak for the dtype;
- measured roofline values: a boolean is no number, a zero kernel floor is allowed, a zero matmul rate and a
  matmul block that is not a mapping are refused;
- matmul.csv: the best row per dtype wins, a row timed at zero is skipped, a table without meta.json is not read;
- an unknown device needs both a measured copy bandwidth and a matmul rate;
- a matmul.csv rate replaces a catalogue peak that meta.json did not measure, even a lower one;
- a catalogue kernel floor and dispatch gap are used (with their sources) when meta.json measured none.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

import harness.devices as devices
from harness.devices import _CatalogEntry, best_matmul_rates, get_device, load_catalog
from harness.errors import HarnessError, TimingTableError

TIMINGS = Path(__file__).parents[1] / "data" / "timings"


def _cpu_copy(tmp_path: Path, **roofline) -> Path:
    """A copy of the fixture CPU table set with meta.json's roofline block replaced by ``roofline``."""
    folder = tmp_path / "cpu"
    shutil.copytree(TIMINGS / "cpu", folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["roofline"] = roofline
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def _matmul_rows(folder: Path, rows: list[tuple[int, int, int, str, float]]) -> None:
    frame = pd.DataFrame(rows, columns=["m", "n", "k", "dtype", "time_ms_median"])
    frame = frame.assign(impl="torch", time_ms_p10=frame["time_ms_median"], time_ms_p90=frame["time_ms_median"],
                         n_reps=5)[["m", "n", "k", "impl", "dtype", "time_ms_median", "time_ms_p10", "time_ms_p90",
                                    "n_reps"]]
    frame.to_csv(folder / "matmul.csv", index=False)
    meta = json.loads((folder / "meta.json").read_text())
    meta["ops"]["matmul"]["rows"] = len(frame)
    (folder / "meta.json").write_text(json.dumps(meta))


def test_a_catalogue_kernel_floor_with_a_blank_source_is_refused():
    base = load_catalog()["h100"].model_dump()
    with pytest.raises(ValidationError, match="kernel_floor_us and kernel_floor_source go together"):
        _CatalogEntry.model_validate({**base, "kernel_floor_us": 3.0, "kernel_floor_source": "   "})


def test_a_roofline_time_without_flops_needs_no_peak_for_the_dtype(tmp_path):
    h100 = get_device("h100", timings_root=tmp_path)
    assert h100.roofline_time_ms(0.0, 3001.49e9, "int4") == pytest.approx(1000.0)
    with pytest.raises(HarnessError, match="no peak FLOP rate for dtype 'int4'"):
        h100.roofline_time_ms(1.0, 3001.49e9, "int4")


@pytest.mark.parametrize("roofline, message", [
    ({"copy_gbytes_per_s": True}, r"roofline.copy_gbytes_per_s: expected a number > 0, got True"),
    ({"matmul_tflops": {"float32": 0}}, r"roofline.matmul_tflops.float32: expected a number > 0, got 0"),
    ({"matmul_tflops": [0.05]}, r"roofline.matmul_tflops: expected \{dtype: TFLOP/s\}, got \[0.05\]"),
    ({"dispatch_gap_us": -1.0}, r"roofline.dispatch_gap_us: expected a number >= 0, got -1.0"),
])
def test_bad_measured_roofline_values_are_refused(tmp_path, roofline, message):
    _cpu_copy(tmp_path, **roofline)
    with pytest.raises(TimingTableError, match=message):
        get_device("cpu", timings_root=tmp_path)


def test_a_measured_kernel_floor_of_zero_is_allowed(tmp_path):
    _cpu_copy(tmp_path, copy_gbytes_per_s=20.0, kernel_floor_us=0, dispatch_gap_us=0.0)
    cpu = get_device("cpu", timings_root=tmp_path)
    assert (cpu.kernel_floor_us, cpu.dispatch_gap_us) == (0.0, 0.0)
    assert cpu.sources["kernel_floor"] == "measured by harness profile (cpu/meta.json roofline)"


def test_the_best_matmul_row_per_dtype_wins_and_a_row_timed_at_zero_is_skipped(tmp_path):
    folder = _cpu_copy(tmp_path)
    # 2 * 1000^3 FLOP in 2 ms: 1 TFLOP/s; 2 * 1000 * 1000 * 500 FLOP in 2 ms: 0.5 TFLOP/s
    _matmul_rows(folder, [(1000, 1000, 2000, "float32", 0.0), (1000, 1000, 1000, "float32", 2.0),
                          (1000, 1000, 500, "float32", 2.0), (1000, 1000, 500, "float16", 2.0)])
    assert best_matmul_rates(folder) == {"float32": (pytest.approx(1.0), "m=1000, n=1000, k=1000 (torch)"),
                                         "float16": (pytest.approx(0.5), "m=1000, n=1000, k=500 (torch)")}


def test_a_matmul_table_without_its_meta_json_is_not_read(tmp_path):
    folder = _cpu_copy(tmp_path)
    (folder / "meta.json").unlink()
    assert best_matmul_rates(folder) == {}


def test_an_unknown_device_needs_a_measured_copy_bandwidth_and_a_matmul_rate(tmp_path):
    _cpu_copy(tmp_path, copy_gbytes_per_s=20.0)
    (tmp_path / "cpu").rename(tmp_path / "tpu9")
    with pytest.raises(HarnessError, match="unknown device 'tpu9'"):
        get_device("tpu9", timings_root=tmp_path)


def test_a_table_rate_replaces_a_catalogue_peak_that_meta_json_did_not_measure(tmp_path):
    catalogue = load_catalog()["cpu"].peak_tflops["bfloat16"]
    folder = _cpu_copy(tmp_path, copy_gbytes_per_s=20.0, matmul_tflops={"float32": 0.05})
    seconds = 2.0 * 1000**3 / (catalogue / 2 * 1e12)  # half the catalogue rate
    _matmul_rows(folder, [(1000, 1000, 1000, "bfloat16", seconds * 1e3)])
    cpu = get_device("cpu", timings_root=tmp_path)
    assert cpu.peak_tflops["bfloat16"] == pytest.approx(catalogue / 2)
    assert cpu.sources["bfloat16"] == "best measured rate: m=1000, n=1000, k=1000 (torch) in cpu/matmul.csv " \
                                      "(harness profile)"
    assert cpu.peak_tflops["float32"] == 0.05  # meta.json's rate is above the table's: it stays


def test_a_catalogue_floor_and_gap_are_used_when_nothing_was_measured(tmp_path, monkeypatch):
    real = load_catalog()
    entry = real["cpu"].model_copy(update={"kernel_floor_us": 7.5, "kernel_floor_source": "catalogue: floor",
                                           "dispatch_gap_us": 1.5, "dispatch_gap_source": "catalogue: gap"})
    monkeypatch.setattr(devices, "load_catalog", lambda: {**real, "cpu": entry})
    cpu = get_device("cpu", timings_root=tmp_path)
    assert (cpu.kernel_floor_us, cpu.dispatch_gap_us) == (7.5, 1.5)
    assert (cpu.sources["kernel_floor"], cpu.sources["dispatch_gap"]) == ("catalogue: floor", "catalogue: gap")
    _cpu_copy(tmp_path, copy_gbytes_per_s=20.0, kernel_floor_us=2.0)
    measured = get_device("cpu", timings_root=tmp_path)
    assert (measured.kernel_floor_us, measured.dispatch_gap_us) == (2.0, 1.5)
