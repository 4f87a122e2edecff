"""Gaps in the tests of `kernels.row_topk` found by a mutation audit.

Closed here:
- the torch path on hand-worked rows: values come in ascending column order, ties to the lowest column;
- integer values, k = 0, k > width and an index dtype other than int16/int32/int64 are refused;
- int16 indices cover exactly 32768 columns (the last index 32767 comes back), 32769 are refused;
- the torch path returns the index dtype asked for;
- forced Triton accepts rows exactly `MAX_TRITON_COLS` wide and refuses one column more, naming the reason.
"""

from __future__ import annotations

import pytest
import torch

import kernels.row_topk as rt
from kernels.row_topk import MAX_TRITON_COLS, row_topk


def test_torch_path_on_hand_worked_rows():
    g = torch.tensor([[3.0, 1.0, 3.0, 2.0], [0.5, -1.0, 4.0, 4.0]])
    vals, idx = row_topk(g, 3, impl="torch")
    assert idx.tolist() == [[0, 2, 3], [0, 2, 3]]
    assert vals.tolist() == [[3.0, 3.0, 2.0], [0.5, 4.0, 4.0]]
    vals, idx = row_topk(torch.tensor([2.0, 5.0, 5.0, 5.0, 1.0]), 2, impl="torch")
    assert idx.tolist() == [1, 2] and vals.tolist() == [5.0, 5.0]
    assert row_topk(torch.tensor([[2.0, -1.0, 7.0]]), 3, impl="torch")[1].tolist() == [[0, 1, 2]]  # k = width


@pytest.mark.parametrize("k", [0, -1, 5])
def test_k_outside_one_to_width_is_refused(k):
    with pytest.raises(ValueError, match="k must be in 1..4"):
        row_topk(torch.zeros(2, 4), k)


def test_integer_values_are_refused():
    with pytest.raises(ValueError, match="floating-point"):
        row_topk(torch.arange(6).reshape(2, 3), 1)


def test_an_index_dtype_other_than_int16_32_64_is_refused():
    with pytest.raises(ValueError, match="index_dtype must be"):
        row_topk(torch.zeros(4), 1, index_dtype=torch.float32)
    with pytest.raises(ValueError, match="index_dtype must be"):
        row_topk(torch.zeros(4), 1, index_dtype=torch.uint8)


@pytest.mark.parametrize("index_dtype", [torch.int16, torch.int32, torch.int64])
def test_the_torch_path_returns_the_index_dtype_asked_for(index_dtype):
    vals, idx = row_topk(torch.tensor([[1.0, 3.0, 2.0]]), 2, index_dtype=index_dtype, impl="torch")
    assert idx.dtype == index_dtype and idx.tolist() == [[1, 2]]
    assert vals.dtype == torch.float32


def test_int16_indices_cover_exactly_32768_columns():
    g = torch.zeros(32768)
    g[-1] = 1.0
    vals, idx = row_topk(g, 1, index_dtype=torch.int16, impl="torch")
    assert idx.tolist() == [32767] and vals.tolist() == [1.0]
    with pytest.raises(ValueError, match="int16 indices cover rows up to 32768 columns, got 32769"):
        row_topk(torch.zeros(32769), 1, index_dtype=torch.int16, impl="torch")


def test_forced_triton_takes_rows_up_to_the_register_limit_and_refuses_wider(monkeypatch):
    calls = []

    def fake_triton(g, k, index_dtype):
        calls.append(g.shape[-1])
        return rt.row_topk_ref(g, k, index_dtype)

    monkeypatch.setattr(rt, "_row_topk_triton", fake_triton)
    row_topk(torch.zeros(MAX_TRITON_COLS), 1, impl="triton")
    assert calls == [MAX_TRITON_COLS]
    with pytest.raises(ValueError, match=f"rows wider than {MAX_TRITON_COLS} columns"):
        row_topk(torch.zeros(MAX_TRITON_COLS + 1), 1, impl="triton")
