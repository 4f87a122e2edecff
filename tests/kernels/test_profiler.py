"""kernels/profiler.py and kernels/benchmark.py: tables in the strict schema, merging, benchmark rows."""

import json

import pytest
import torch

from harness.timing.table import load_table_set
from kernels.benchmark import bench_op, format_rows
from kernels.ops import load_all_ops
from kernels.profiler import Measurement, TimerSettings, device_folder, run_profile, time_call

FAST = TimerSettings(cpu_budget_s=0.0, cpu_min_reps=2, cpu_max_reps=2)


def test_measurement_percentiles_bracket_the_median():
    m = Measurement.from_times([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (m.time_ms_p10, m.time_ms_median, m.time_ms_p90, m.n_reps) == (pytest.approx(1.4), 3.0, pytest.approx(4.6), 5)
    assert time_call(lambda: None, "cpu", FAST).n_reps == 2


def test_tables_pass_the_strict_loader_and_other_tables_are_kept(tmp_path):
    run_profile("cpu", ops=["copy", "arc_pack"], grid="quick", out=tmp_path, settings=FAST, max_shapes=1, log=lambda s: None)
    run_profile("cpu", ops=["arc_unpack"], grid="quick", out=tmp_path, settings=FAST, max_shapes=1, log=lambda s: None)
    folder = tmp_path / device_folder("cpu")
    tables = load_table_set(folder)  # strict schema: columns, meta keys, row counts
    assert sorted(tables.tables) == ["arc_pack", "arc_unpack", "copy"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["device"] == "cpu" and meta["roofline"]["copy_gbytes_per_s"] > 0
    assert set(meta["roofline"]["matmul_tflops"]) == {"float32", "bfloat16"}
    frame = tables.tables["arc_pack"].frame
    assert set(frame["impl"]) == {"torch"}  # Triton impls are timed on CUDA devices only
    assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_every_kernel_op_has_inputs_impls_and_positive_costs():
    for name, op in load_all_ops().items():
        assert op.make_inputs is not None and op.impls, name
        assert op.quick_grid and op.grid, name
        if op.baseline is not None:
            assert op.baseline in op.impls, name
        shape = op.quick_grid[0]
        assert op.bytes_moved(shape, op.dtypes[0]) > 0, name
        assert op.flops(shape) >= 0, name


def test_benchmark_rows_compare_ours_with_the_baseline():
    op = load_all_ops().get("arc_select")
    rows = bench_op(op, "cpu", op.quick_grid[:1], torch.Generator().manual_seed(0), copy_gbytes_per_s=10.0, settings=FAST,
                    allow_interpreted_triton=True)
    (row,) = rows
    assert (row.ours_impl, row.baseline_impl) == ("triton", "flat_topk")
    assert row.speedup == pytest.approx(row.baseline_ms / row.ours_ms)
    assert row.copy_fraction == pytest.approx(row.achieved_gbps / 10.0)
    assert "arc_select" in format_rows(rows, 10.0)


def test_cpu_timer_flushes_the_private_caches_before_every_timed_call(monkeypatch):
    """Issue 7: in a step other ops run between two calls of an op, so the CPU timer evicts the cores' private
    caches before every call (untimed), as do_bench does on a GPU; 0 bytes turns it off."""
    from kernels import profiler

    fills = []
    original = torch.Tensor.fill_

    def counting_fill(self, value):
        fills.append(self.numel() * self.element_size())
        return original(self, value)

    monkeypatch.setattr(torch.Tensor, "fill_", counting_fill)
    settings = TimerSettings(cpu_budget_s=0.0, cpu_min_reps=3, cpu_max_reps=3, cpu_flush_bytes=1 << 20)
    assert time_call(lambda: None, "cpu", settings).n_reps == 3
    assert fills == [1 << 20] * 3  # one flush per timed call, none for the warm-up
    fills.clear()
    time_call(lambda: None, "cpu", TimerSettings(cpu_budget_s=0.0, cpu_min_reps=2, cpu_max_reps=2, cpu_flush_bytes=0))
    assert fills == []
    assert profiler.default_cpu_flush_bytes() >= 1 << 20  # four times the cores' L2 (16 MiB on the dev VM)
    assert TimerSettings().flush_bytes() == profiler.default_cpu_flush_bytes()
    assert "MiB written before every call" in profiler.timer_description("cpu")
    assert "no cache flush" in profiler.timer_description("cpu", TimerSettings(cpu_flush_bytes=0))


def test_meta_records_each_tables_timer_and_keeps_the_timer_of_kept_tables(tmp_path):
    fast_warm = TimerSettings(cpu_budget_s=0.0, cpu_min_reps=1, cpu_max_reps=1, cpu_flush_bytes=0)
    run_profile("cpu", ops=["copy"], grid="quick", out=tmp_path, settings=fast_warm, max_shapes=1, log=lambda s: None)
    folder = tmp_path / device_folder("cpu")
    meta = json.loads((folder / "meta.json").read_text())
    meta["ops"]["copy"].pop("timer")  # as written before tables carried their own timer
    (folder / "meta.json").write_text(json.dumps(meta))
    run_profile("cpu", ops=["residual_add"], grid="quick", out=tmp_path, settings=FAST, max_shapes=1,
                dtypes=["float32"], log=lambda s: None)
    ops = json.loads((folder / "meta.json").read_text())["ops"]
    assert "no cache flush" in ops["copy"]["timer"]  # the folder's timer when copy was measured
    assert "written before every call" in ops["residual_add"]["timer"]
    load_table_set(folder)  # still passes the strict loader


def test_passes_interleave_the_ops_and_keep_the_median_per_row(tmp_path, monkeypatch):
    """A machine that changes speed for seconds at a time stamps one moment's speed on a block of consecutive
    rows; with passes, every row is timed once per pass over all the ops, and the table keeps the median."""
    from kernels import profiler

    order, speeds = [], iter([1.0, 2.0, 10.0, 3.0, 20.0, 4.0])  # copy, residual_add, copy, residual_add, ...

    def fake_profile_op(op, device, shapes, gen, settings, **kwargs):
        order.append((op.name, settings.cpu_budget_s))
        t = next(speeds)
        return [{**{c: shape[c] for c in op.shape_columns}, "impl": "torch", "dtype": "float32",
                 "time_ms_median": t, "time_ms_p10": t / 2, "time_ms_p90": 2 * t, "n_reps": 5}
                for shape in list(op.quick_grid)[:1]]

    monkeypatch.setattr(profiler, "profile_op", fake_profile_op)
    settings = TimerSettings(cpu_budget_s=0.3, cpu_min_reps=1, cpu_max_reps=1)
    folder = run_profile("cpu", ops=["copy", "residual_add"], grid="quick", out=tmp_path, settings=settings,
                         max_shapes=1, passes=3, log=lambda s: None)
    # passes over all ops, not op after op; each pass gets a third of the budget
    assert order == [("copy", pytest.approx(0.1)), ("residual_add", pytest.approx(0.1))] * 3
    tables = load_table_set(folder)
    copy = tables.tables["copy"].frame.iloc[0]
    assert (copy["time_ms_median"], copy["time_ms_p10"], copy["time_ms_p90"], copy["n_reps"]) == (10.0, 5.0, 20.0, 15)
    assert tables.tables["residual_add"].frame.iloc[0]["time_ms_median"] == 3.0
    meta = json.loads((folder / "meta.json").read_text())
    assert "3 passes" in meta["ops"]["copy"]["timer"]
    with pytest.raises(ValueError, match="passes must be >= 1"):
        run_profile("cpu", ops=["copy"], out=tmp_path, settings=FAST, passes=0, log=lambda s: None)


def test_merging_a_single_pass_keeps_its_rows():
    from kernels.profiler import merge_passes

    op = load_all_ops().get("copy")
    row = {"numel": 8, "impl": "torch", "dtype": "float32", "time_ms_median": 2.0, "time_ms_p10": 1.0,
           "time_ms_p90": 3.0, "n_reps": 4}
    assert merge_passes(op, [[row]]) == [row]


def test_a_partial_profile_keeps_the_peak_of_the_kept_matmul_table(tmp_path, monkeypatch):
    """The device's matmul peak is the best rate of the square matmul and every matmul row; profiling other ops
    later must fold the kept matmul table in again, not fall back to the square matmul alone."""
    from kernels import profiler

    def fake_profile_op(op, device, shapes, gen, settings, **kwargs):
        # matmul's first quick shape at a rate no real square matmul here reaches (1000 TFLOP/s)
        return [{**{c: shape[c] for c in op.shape_columns}, "impl": "torch", "dtype": "float32",
                 "time_ms_median": (2.0 * shape["m"] * shape["n"] * shape["k"] / 1e15 * 1e3
                                    if op.name == "matmul" else 1.0),
                 "time_ms_p10": 1e-9, "time_ms_p90": 10.0, "n_reps": 3}
                for shape in list(op.quick_grid)[:1]]

    monkeypatch.setattr(profiler, "profile_op", fake_profile_op)
    for ops in (["matmul"], ["copy"]):
        folder = run_profile("cpu", ops=ops, grid="quick", out=tmp_path, settings=FAST, max_shapes=1,
                             dtypes=["float32"], log=lambda s: None)
        roofline = json.loads((folder / "meta.json").read_text())["roofline"]
        assert roofline["matmul_tflops"]["float32"] == pytest.approx(1000.0), ops


def test_a_profile_of_some_dtypes_keeps_the_other_dtypes_rows(tmp_path):
    """Profiling bf16 into a folder that holds fp32 rows must not drop them; the op's timer names the kept rows."""
    quiet = {"grid": "quick", "out": tmp_path, "settings": FAST, "max_shapes": 2, "log": lambda s: None}
    folder = run_profile("cpu", ops=["residual_add"], dtypes=["float32"], **quiet)
    fp32 = (folder / "residual_add.csv").read_text().splitlines()[1:]
    run_profile("cpu", ops=["residual_add"], dtypes=["bfloat16"], passes=2, **quiet)
    table = load_table_set(folder).tables["residual_add"]
    assert sorted(table.frame["dtype"].value_counts().items()) == [("bfloat16", 2), ("float32", 2)]
    assert all(line in (folder / "residual_add.csv").read_text().splitlines() for line in fp32)  # unchanged
    timer = json.loads((folder / "meta.json").read_text())["ops"]["residual_add"]["timer"]
    assert timer.count("float32 rows kept from an earlier profile (") == 1  # not nested by the second pass
    run_profile("cpu", ops=["residual_add"], dtypes=["float32"], **quiet)  # re-timing fp32 replaces fp32 only
    assert sorted(load_table_set(folder).tables["residual_add"].frame["dtype"].value_counts().items()) == [
        ("bfloat16", 2), ("float32", 2)]


def test_a_partial_profile_keeps_the_best_copy_bandwidth(tmp_path, monkeypatch):
    """The copy bandwidth is the best measured for the folder: a later profile of some ops, measuring it once at a
    slower moment, keeps the higher one (a full profile measures it anew)."""
    from kernels import profiler

    real = profiler.measure_roofline
    rates = iter([500.0, 1.0])

    def roofline_at(device, settings):
        return {**real(device, FAST), "copy_gbytes_per_s": next(rates)}

    monkeypatch.setattr(profiler, "measure_roofline", roofline_at)
    quiet = {"grid": "quick", "out": tmp_path, "settings": FAST, "max_shapes": 1, "log": lambda s: None}
    run_profile("cpu", ops=["copy"], **quiet)
    folder = run_profile("cpu", ops=["residual_add"], **quiet)
    roofline = json.loads((folder / "meta.json").read_text())["roofline"]
    assert roofline["copy_gbytes_per_s"] == 500.0 and "kept in meta.json" in roofline["copy_gbytes_per_s_from"]
