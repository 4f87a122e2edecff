"""Gaps in the tests of `kernels.profiler` (its table-writing logic) found by a mutation audit.

Closed here:
- `write_tables`: the CSV text (shape columns first, floats to 6 significant digits), meta.json's per-op row
  counts and timers, kept tables listed only while their CSV exists and the schema version matches, kept tables'
  own timers (the folder's as a fallback), ``cpu_flush_bytes`` only when given; `kept_rows` reads a table back
  typed as written (integer shape columns), so rewriting kept rows leaves the CSV unchanged;
- the roofline folds: a matmul row raises the peak only when faster (zero-time rows skipped), a kept copy
  bandwidth only when higher, a meta.json that is not an object counts as absent; `_kept_timer`;
- `measure_kernel_model`'s gap is never negative; `default_cpu_flush_bytes` is 4 x the L2 x the cores (sizes
  with K / M suffixes), the fallback where no L2 is listed; a negative flush size means none;
- `select_ops([])` is every op; impls named ``triton*`` are left out on a CPU unless interpreted Triton is
  allowed; `profile_op` times only the dtypes asked for; `run_profile` refuses 0 threads and an unknown grid and
  times the default grid when asked.
"""

from __future__ import annotations

import json

import pytest
import torch

from kernels import profiler
from kernels.ops import TimedOp, load_all_ops
from kernels.profiler import (
    Measurement,
    TimerSettings,
    fold_best_matmul_rates,
    fold_kept_copy_bandwidth,
    kept_rows,
    write_tables,
)
from kernels.timing_schema import SCHEMA_VERSION

FAKE = TimedOp(name="fake", shape_columns=("n", "k"), flops=lambda s: 0.0, bytes_moved=lambda s, dt: 1.0)


def _row(n, k, t, dtype="float32", impl="torch", reps=7):
    return {"n": n, "k": k, "impl": impl, "dtype": dtype, "time_ms_median": t, "time_ms_p10": t / 2,
            "time_ms_p90": t * 2, "n_reps": reps}


def _meta(folder):
    return json.loads((folder / "meta.json").read_text())


def test_the_csv_puts_shape_columns_first_and_floats_to_six_digits(tmp_path):
    rows = [_row(8, 2, 0.123456789), _row(16, 4, 1234567.0, dtype="bfloat16", impl="triton", reps=3)]
    write_tables(tmp_path, "cpu", {"fake": (FAKE, rows)}, {"copy_gbytes_per_s": 1.0}, "timer A")
    assert (tmp_path / "fake.csv").read_text().splitlines() == [
        "n,k,impl,dtype,time_ms_median,time_ms_p10,time_ms_p90,n_reps",
        "8,2,torch,float32,0.123457,0.0617284,0.246914,7",
        "16,4,triton,bfloat16,1.23457e+06,617284,2.46913e+06,3",
    ]
    meta = _meta(tmp_path)
    assert meta["ops"] == {"fake": {"shape_columns": ["n", "k"], "rows": 2, "timer": "timer A"}}
    assert meta["schema_version"] == SCHEMA_VERSION and meta["device"] == tmp_path.name
    assert "cpu_flush_bytes" not in meta


def test_kept_rows_read_back_typed_so_a_rewrite_leaves_the_csv_unchanged(tmp_path):
    rows = [_row(8, 2, 0.5), _row(16, 4, 2.25, dtype="bfloat16")]
    write_tables(tmp_path, "cpu", {"fake": (FAKE, rows)}, {}, "t")
    before = (tmp_path / "fake.csv").read_text()
    kept = kept_rows(tmp_path, FAKE)
    assert kept == rows
    assert all(type(r["n"]) is int and type(r["k"]) is int and type(r["n_reps"]) is int for r in kept)
    write_tables(tmp_path, "cpu", {"fake": (FAKE, kept)}, {}, "t")
    assert (tmp_path / "fake.csv").read_text() == before
    assert kept_rows(tmp_path / "missing", FAKE) == []


def test_meta_lists_kept_tables_with_their_timers_and_records_the_flush(tmp_path):
    other = TimedOp(name="other", shape_columns=("n", "k"), flops=lambda s: 0.0, bytes_moved=lambda s, dt: 1.0)
    write_tables(tmp_path, "cpu", {"fake": (FAKE, [_row(1, 1, 1.0)])}, {}, "old timer")
    write_tables(tmp_path, "cpu", {"other": (other, [_row(1, 1, 1.0)] * 3)}, {}, "new timer", cpu_flush_bytes=4096)
    meta = _meta(tmp_path)
    assert list(meta["ops"]) == ["fake", "other"]
    assert meta["ops"]["fake"] == {"shape_columns": ["n", "k"], "rows": 1, "timer": "old timer"}
    assert meta["ops"]["other"]["rows"] == 3 and meta["ops"]["other"]["timer"] == "new timer"
    assert meta["timer"] == "new timer" and meta["cpu_flush_bytes"] == 4096
    write_tables(tmp_path, "cpu", {"other": (other, [_row(1, 1, 1.0)])}, {}, "newer timer")
    assert _meta(tmp_path)["ops"]["fake"]["timer"] == "old timer"  # its own, not the folder's "new timer"
    meta = _meta(tmp_path)
    # a kept entry without its own timer gets the folder's timer of that time
    meta["ops"]["fake"].pop("timer")
    meta["timer"] = "folder timer"
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    write_tables(tmp_path, "cpu", {"other": (other, [_row(1, 1, 1.0)])}, {}, "newest")
    assert _meta(tmp_path)["ops"]["fake"]["timer"] == "folder timer"


def test_a_kept_table_whose_csv_is_gone_or_of_another_schema_is_not_listed(tmp_path):
    other = TimedOp(name="other", shape_columns=("n", "k"), flops=lambda s: 0.0, bytes_moved=lambda s, dt: 1.0)
    write_tables(tmp_path, "cpu", {"fake": (FAKE, [_row(1, 1, 1.0)])}, {}, "t")
    (tmp_path / "fake.csv").unlink()
    write_tables(tmp_path, "cpu", {"other": (other, [_row(1, 1, 1.0)])}, {}, "t")
    assert list(_meta(tmp_path)["ops"]) == ["other"]
    write_tables(tmp_path, "cpu", {"fake": (FAKE, [_row(1, 1, 1.0)])}, {}, "t")
    meta = _meta(tmp_path)
    meta["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    write_tables(tmp_path, "cpu", {"fake": (FAKE, [_row(1, 1, 1.0)])}, {}, "t")
    assert list(_meta(tmp_path)["ops"]) == ["fake"]


def test_a_matmul_row_raises_the_peak_only_when_faster():
    roofline = {"matmul_tflops": {"float32": 1.0}}
    slow = {"m": 1000, "n": 1000, "k": 1000, "dtype": "float32", "time_ms_median": 4.0}  # 2e9 / 4e-3 s: 0.5
    fold_best_matmul_rates(roofline, [slow, {**slow, "time_ms_median": 0.0}])
    assert roofline == {"matmul_tflops": {"float32": 1.0}}
    fast = {**slow, "time_ms_median": 1.0}  # 2 TFLOP/s
    half = {**slow, "dtype": "bfloat16", "time_ms_median": 0.5}  # a dtype without a square-matmul rate: 4
    fold_best_matmul_rates(roofline, [fast, half])
    assert roofline["matmul_tflops"] == {"float32": pytest.approx(2.0), "bfloat16": pytest.approx(4.0)}
    assert "every row of matmul.csv" in roofline["matmul_tflops_from"]


def test_the_kept_copy_bandwidth_wins_only_when_higher(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"roofline": {"copy_gbytes_per_s": 5.0}}))
    roofline = {"copy_gbytes_per_s": 8.0}
    fold_kept_copy_bandwidth(roofline, tmp_path)
    assert roofline == {"copy_gbytes_per_s": 8.0}
    roofline = {"copy_gbytes_per_s": 3.0}
    fold_kept_copy_bandwidth(roofline, tmp_path)
    assert roofline["copy_gbytes_per_s"] == 5.0
    (tmp_path / "meta.json").write_text("[1, 2]")  # not an object: as if absent
    roofline = {"copy_gbytes_per_s": 3.0}
    fold_kept_copy_bandwidth(roofline, tmp_path)
    assert roofline == {"copy_gbytes_per_s": 3.0}


def test_kept_timer_prefers_the_tables_own_timer(tmp_path):
    assert profiler._kept_timer(tmp_path, "copy") == "timer unknown"
    (tmp_path / "meta.json").write_text(json.dumps({"timer": "folder", "ops": {"copy": {"timer": "own"}, "mm": {}}}))
    assert profiler._kept_timer(tmp_path, "copy") == "own"
    assert profiler._kept_timer(tmp_path, "mm") == "folder"
    assert profiler._kept_timer(tmp_path, "absent") == "timer unknown"


def test_the_dispatch_gap_is_never_negative(monkeypatch):
    medians = iter([1.0, 50.0, 0.001, 0.5])  # floor, then 100 ops back to back (ms)

    def fake_time_call(fn, device, settings):
        t = next(medians)
        return Measurement(t, t, t, 1)

    monkeypatch.setattr(profiler, "time_call", fake_time_call)
    slow_floor = profiler.measure_kernel_model("cpu")
    assert slow_floor["kernel_floor_us"] == 1000.0 and slow_floor["dispatch_gap_us"] == 0.0
    fast_floor = profiler.measure_kernel_model("cpu")
    assert fast_floor["kernel_floor_us"] == pytest.approx(1.0) and fast_floor["dispatch_gap_us"] == pytest.approx(4.0)


def _fake_cache(root, entries):
    for i, (level, kind, size) in enumerate(entries):
        index = root / f"index{i}"
        index.mkdir(parents=True)
        (index / "level").write_text(f"{level}\n")
        (index / "type").write_text(f"{kind}\n")
        (index / "size").write_text(f"{size}\n")


@pytest.mark.parametrize("size, l2_bytes", [("1024K", 1 << 20), ("2M", 2 << 20), ("524288", 524288)])
def test_the_default_flush_is_four_l2_per_core(tmp_path, monkeypatch, size, l2_bytes):
    _fake_cache(tmp_path, [(1, "Data", "48K"), (1, "Instruction", "32K"), (2, "Unified", size), (3, "Unified", "32M")])
    monkeypatch.setattr(profiler, "Path", lambda _path: tmp_path)
    monkeypatch.setattr(profiler.os, "cpu_count", lambda: 3)
    assert profiler.default_cpu_flush_bytes() == 4 * l2_bytes * 3


def test_the_default_flush_falls_back_where_no_l2_is_listed(tmp_path, monkeypatch):
    _fake_cache(tmp_path, [(1, "Data", "48K"), (2, "Instruction", "1M")])
    monkeypatch.setattr(profiler, "Path", lambda _path: tmp_path)
    assert profiler.default_cpu_flush_bytes() == profiler.FALLBACK_CPU_FLUSH_BYTES


def test_a_negative_flush_size_means_no_flush():
    assert TimerSettings(cpu_flush_bytes=-5).flush_bytes() == 0
    assert TimerSettings(cpu_flush_bytes=4096).flush_bytes() == 4096


def test_an_empty_op_list_selects_every_op():
    assert [op.name for op in profiler.select_ops([])] == list(load_all_ops())


def test_triton_named_impls_run_on_a_cpu_only_when_interpreted_triton_is_allowed():
    op = TimedOp(name="x", shape_columns=("n",), flops=lambda s: 0.0, bytes_moved=lambda s, dt: 1.0,
                 impls={"torch": None, "triton": None, "triton_split": None, "dense": None})
    assert profiler._runnable_impls(op, "cpu", False) == ["dense", "torch"]
    assert profiler._runnable_impls(op, "cpu", True) == ["dense", "torch", "triton", "triton_split"]
    assert profiler._runnable_impls(op, "cuda", False) == ["dense", "torch", "triton", "triton_split"]


def test_profile_op_times_only_the_dtypes_asked_for():
    op = load_all_ops().get("residual_add")
    fast = TimerSettings(cpu_budget_s=0.0, cpu_min_reps=1, cpu_max_reps=1, cpu_flush_bytes=0)
    rows = profiler.profile_op(op, "cpu", [{"numel": 16}], torch.Generator().manual_seed(0), fast,
                               dtypes=["bfloat16", "float64"], log=lambda s: None)
    assert [(r["numel"], r["impl"], r["dtype"]) for r in rows] == [(16, "torch", "bfloat16")]


def test_run_profile_refuses_bad_threads_and_grids(tmp_path):
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        profiler.run_profile("cpu", ops=["copy"], out=tmp_path, threads=0, log=lambda s: None)
    with pytest.raises(ValueError, match="grid must be one of quick, default"):
        profiler.run_profile("cpu", ops=["copy"], grid="full", out=tmp_path, log=lambda s: None)
    assert not (tmp_path / "cpu").exists()


def test_run_profile_times_the_default_grid_when_asked(tmp_path, monkeypatch):
    seen = []

    def fake_profile_op(op, device, shapes, gen, settings, **kwargs):
        seen.append(list(shapes))
        return [{"numel": s["numel"], "impl": "torch", "dtype": "float32", "time_ms_median": 1.0,
                 "time_ms_p10": 1.0, "time_ms_p90": 1.0, "n_reps": 1} for s in shapes]

    monkeypatch.setattr(profiler, "profile_op", fake_profile_op)
    monkeypatch.setattr(profiler, "measure_roofline", lambda device, settings: {
        "copy_gbytes_per_s": 1.0, "matmul_tflops": {"float32": 1.0}})
    monkeypatch.setattr(profiler, "measure_kernel_model", lambda device, settings: {
        "kernel_floor_us": 1.0, "dispatch_gap_us": 0.0})
    op = load_all_ops().get("copy")
    profiler.run_profile("cpu", ops=["copy"], grid="default", out=tmp_path, max_shapes=2, log=lambda s: None)
    profiler.run_profile("cpu", ops=["copy"], grid="quick", out=tmp_path, max_shapes=2, log=lambda s: None)
    assert seen == [list(op.grid)[:2], list(op.quick_grid)[:2]]
