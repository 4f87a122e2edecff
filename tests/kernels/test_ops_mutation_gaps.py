"""Gaps in the tests of `kernels.ops` found by a mutation audit.

Closed here:
- `product_grid` on hand-worked axes: every combination, the last axis varying fastest, int axes constant;
- `load_all_ops` registers the ops of every kernel module (MoC's included);
- a `TimedOp` profiles fp32 unless told otherwise.
"""

from __future__ import annotations

from kernels.ops import TimedOp, load_all_ops, product_grid


def test_product_grid_varies_the_last_axis_fastest():
    assert product_grid(a=[1, 2], b=[10, 20, 30], c=7) == [
        {"a": 1, "b": 10, "c": 7}, {"a": 1, "b": 20, "c": 7}, {"a": 1, "b": 30, "c": 7},
        {"a": 2, "b": 10, "c": 7}, {"a": 2, "b": 20, "c": 7}, {"a": 2, "b": 30, "c": 7},
    ]
    assert product_grid(k=(4, 8)) == [{"k": 4}, {"k": 8}]


def test_every_kernel_module_registers_its_ops():
    names = set(load_all_ops())
    assert {"matmul", "copy", "tah_quantize", "arc_select", "adamw_step"} <= names
    assert any(name.startswith("moc") for name in names)


def test_a_timed_op_profiles_fp32_by_default():
    op = TimedOp(name="x", shape_columns=("n",), flops=lambda s: 0.0, bytes_moved=lambda s, dt: 0.0)
    assert op.dtypes == ("float32",) and op.baseline is None and op.impls is None
