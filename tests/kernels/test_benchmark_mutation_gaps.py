"""Gaps in the tests of `kernels.benchmark` found by a mutation audit.

Closed here:
- which impl is "ours" (Triton on a GPU or when interpreted Triton is allowed, else torch, else none) and the
  baseline (the op's own, else torch, never ours again);
- `why_not_benched`: the roofline ceilings, ops with neither a torch nor a Triton impl, and a Triton-only op
  (benched);
- `bench_op` arithmetic on fixed times: speedup = baseline / ours, GB/s = bytes / time, fraction of the copy
  bandwidth; a shape whose inputs fail is skipped;
- `run_bench` times the default grid when asked;
- `format_rows`: the copy-bandwidth line, ``k=v`` shapes, ``-`` for a missing baseline, percent of copy.
"""

from __future__ import annotations

import pytest
import torch

from kernels import benchmark
from kernels.benchmark import BenchRow, baseline_impl, bench_op, format_rows, ours_impl, why_not_benched
from kernels.ops import TimedOp, load_all_ops
from kernels.profiler import Measurement


def _op(impls, baseline=None, name="x", make_inputs=None):
    return TimedOp(name=name, shape_columns=("n",), flops=lambda s: 0.0, bytes_moved=lambda s, dt: 4e6,
                   impls=impls, baseline=baseline, make_inputs=make_inputs)


def test_ours_is_triton_on_a_gpu_or_when_interpreted_triton_is_allowed():
    both = _op({"torch": None, "triton": None})
    assert ours_impl(both, "cpu") == "torch"
    assert ours_impl(both, "cpu", allow_interpreted_triton=True) == "triton"
    assert ours_impl(both, "cuda:0") == "triton"
    assert ours_impl(_op({"dense": None}), "cuda") is None


def test_the_baseline_is_the_ops_own_else_torch_never_ours():
    assert baseline_impl(_op({"torch": None, "triton": None}), "triton") == "torch"
    assert baseline_impl(_op({"torch": None}), "torch") is None
    assert baseline_impl(_op({"torch": None, "triton": None, "dense": None}, baseline="dense"), "torch") == "dense"
    assert baseline_impl(_op({"torch": None}, baseline="dense"), "torch") is None


def test_why_not_benched_names_ceilings_and_ops_without_torch_or_triton():
    ops = load_all_ops()
    assert "roofline ceiling" in why_not_benched(ops.get("matmul"))
    assert "roofline ceiling" in why_not_benched(ops.get("copy"))
    assert why_not_benched(ops.get("adamw_step")) == (
        "impls forloop, foreach, fused, no torch or triton one; timed by 'harness profile'")
    assert why_not_benched(_op({})) == "impls none, no torch or triton one; timed by 'harness profile'"
    assert why_not_benched(_op({"triton": None})) is None
    names = benchmark.bench_ops()
    assert names == sorted(names) and "arc_select" in names
    assert not {"matmul", "copy", "adamw_step", "sgd_momentum_step"} & set(names)


def test_bench_op_arithmetic_on_fixed_times(monkeypatch):
    times = {"ours": 2.0, "base": 6.0}

    def fake_time_call(fn, device, settings):
        t = times[fn()]
        return Measurement(t, t, t, 1)

    def make_inputs(shape, dtype, device, gen):
        if shape["n"] == 0:
            raise RuntimeError("no inputs for n = 0")
        return ()

    monkeypatch.setattr(benchmark, "time_call", fake_time_call)
    op = _op({"torch": lambda: "ours", "dense": lambda: "base"}, baseline="dense", make_inputs=make_inputs)
    logged = []
    rows = bench_op(op, "cpu", [{"n": 0}, {"n": 1}], torch.Generator(), copy_gbytes_per_s=10.0, log=logged.append)
    (row,) = rows
    assert (row.shape, row.ours_impl, row.baseline_impl) == ({"n": 1}, "torch", "dense")
    assert (row.ours_ms, row.baseline_ms, row.speedup) == (2.0, 6.0, 3.0)
    assert row.achieved_gbps == pytest.approx(2.0)  # 4e6 bytes in 2 ms
    assert row.copy_fraction == pytest.approx(0.2)
    assert len(logged) == 1 and "no inputs for n = 0" in logged[0]


def test_run_bench_times_the_default_grid_when_asked(monkeypatch):
    seen = []
    monkeypatch.setattr(benchmark, "measure_roofline", lambda device, settings: {"copy_gbytes_per_s": 1.0})
    monkeypatch.setattr(benchmark, "bench_op", lambda op, device, shapes, *a, **k: seen.append(shapes) or [])
    op = load_all_ops().get("residual_add")
    benchmark.run_bench("cpu", ops=["residual_add"], grid="default", log=lambda s: None)
    benchmark.run_bench("cpu", ops=["residual_add"], grid="quick", log=lambda s: None)
    assert seen == [op.grid, op.quick_grid]


def test_format_rows_on_hand_built_rows():
    rows = [
        BenchRow("arc_select", {"rows": 4, "cols": 8}, "float32", "torch", 1.5, "flat_topk", 3.0, 2.0, 12.34, 0.25),
        BenchRow("residual_add", {"numel": 64}, "bfloat16", "torch", 0.25, None, None, None, 5.0, 0.5),
    ]
    lines = format_rows(rows, 49.36).splitlines()
    assert lines[0] == "copy bandwidth measured in this run: 49.4 GB/s"
    assert lines[1].split() == ["op", "shape", "dtype", "ours", "ours_ms", "baseline", "base_ms", "speedup", "GB/s",
                                "%copy"]
    assert set(lines[2]) == {"-"} and len(lines[2]) == len(lines[1])
    assert lines[3].split() == ["arc_select", "rows=4,cols=8", "float32", "torch", "1.5000", "flat_topk", "3.0000",
                                "2.00x", "12.3", "25.0%"]
    assert lines[4].split() == ["residual_add", "numel=64", "bfloat16", "torch", "0.2500", "-", "-", "-", "5.0",
                                "50.0%"]
