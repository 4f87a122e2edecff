"""Gaps in the tests of `kernels.basic_ops` found by a mutation audit.

Closed here:
- element sizes per dtype (fp16 and bf16 are 2 bytes) and an unknown dtype refused naming the known ones;
- matmul and copy bytes on hand-counted shapes in every dtype; matmul's inputs are [m, k] and [k, n];
- the copy impl writes the source into the output; both ops are profiled in fp32, bf16 and fp16;
- the quick grids: matmul over the 1.5 x powers of two too (1536 is measured, not interpolated), copy up to 2^22.
"""

from __future__ import annotations

import pytest
import torch

from kernels.basic_ops import dtype_bytes
from kernels.ops import load_all_ops


def test_element_sizes_and_an_unknown_dtype():
    assert [dtype_bytes(d) for d in ("float32", "bfloat16", "float16")] == [4, 2, 2]
    with pytest.raises(ValueError, match="unknown dtype 'float64'; known: float32, bfloat16, float16"):
        dtype_bytes("float64")


@pytest.mark.parametrize("dtype, size", [("float32", 4), ("bfloat16", 2), ("float16", 2)])
def test_bytes_on_hand_counted_shapes(dtype, size):
    ops = load_all_ops()
    # read a [2, 3] and b [3, 5], write c [2, 5]
    assert ops.get("matmul").bytes_moved({"m": 2, "n": 5, "k": 3}, dtype) == size * (6 + 15 + 10)
    assert ops.get("matmul").flops({"m": 2, "n": 5, "k": 3}) == 60.0
    assert ops.get("copy").bytes_moved({"numel": 10}, dtype) == size * 20  # read once, write once
    assert ops.get("copy").flops({"numel": 10}) == 0.0


def test_matmul_inputs_are_m_by_k_and_k_by_n_in_the_dtype():
    a, b = load_all_ops().get("matmul").make_inputs({"m": 2, "n": 5, "k": 3}, "float16", "cpu",
                                                    torch.Generator().manual_seed(0))
    assert a.shape == (2, 3) and b.shape == (3, 5) and a.dtype == b.dtype == torch.float16


def test_the_copy_impl_writes_the_source_into_the_output():
    op = load_all_ops().get("copy")
    x, out = op.make_inputs({"numel": 16}, "bfloat16", "cpu", torch.Generator().manual_seed(0))
    op.impls["torch"](x, out)
    assert torch.equal(out, x) and out.dtype == torch.bfloat16


def test_both_ceilings_are_profiled_in_every_float_dtype():
    for name in ("matmul", "copy"):
        assert load_all_ops().get(name).dtypes == ("float32", "bfloat16", "float16")


def test_the_quick_grids_cover_the_models_widths_and_large_copies():
    ops = load_all_ops()
    axis = sorted({s["n"] for s in ops.get("matmul").quick_grid})
    assert {96, 192, 384, 768, 1536} <= set(axis) and axis[0] == 64 and axis[-1] == 2048
    assert len(ops.get("matmul").quick_grid) == len(axis) ** 3
    assert max(s["numel"] for s in ops.get("copy").quick_grid) == 1 << 22
