"""kernels/row_topk.py: the Triton selection equals the stable-sort reference exactly (ties included)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.row_topk import row_topk, row_topk_ref
from kernels.testing import poisoned_allocations


@settings(max_examples=12, deadline=None)
@given(
    rows=st.integers(1, 3),
    cols=st.integers(1, 300),
    frac=st.floats(0.0, 1.0),
    levels=st.sampled_from([0, 2, 7]),  # 0: continuous values; else few distinct values (many ties)
    seed=st.integers(0, 2**31 - 1),
)
def test_triton_matches_reference_with_ties(rows, cols, frac, levels, seed):
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(rows, cols, generator=gen)
    if levels:
        g = torch.round(g * levels) / levels
    k = max(1, round(frac * cols))
    with poisoned_allocations():
        vals, idx = row_topk(g, k, impl="triton")
    ref_vals, ref_idx = row_topk_ref(g, k)
    assert torch.equal(idx, ref_idx)
    assert torch.equal(vals, ref_vals)
    assert bool((idx[:, 1:] > idx[:, :-1]).all())  # ascending


def test_ties_go_to_lowest_index_and_signed_zeros_tie():
    g = torch.tensor([[1.0, 2.0, 2.0, 0.0, 2.0], [-0.0, 0.0, -1.0, 0.0, -3.0]])
    _, idx = row_topk(g, 2, impl="triton")
    assert idx.tolist() == [[1, 2], [0, 1]]


def test_one_dimensional_input_and_index_dtypes():
    g = torch.randn(50, generator=torch.Generator().manual_seed(0))
    for dtype in (torch.int16, torch.int32, torch.int64):
        vals, idx = row_topk(g, 7, index_dtype=dtype, impl="triton")
        assert idx.shape == (7,) and idx.dtype == dtype
        assert set(idx.tolist()) == set(torch.topk(g, 7).indices.tolist())


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="k must be in 1..4"):
        row_topk(torch.zeros(2, 4), 5)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        row_topk(torch.zeros(2, 2, 2), 1)
    with pytest.raises(ValueError, match="impl must be one of"):
        row_topk(torch.zeros(4), 1, impl="cuda")
    with pytest.raises(ValueError, match="int16 indices"):
        row_topk(torch.zeros(40000), 1, index_dtype=torch.int16)


def test_auto_picks_torch_on_cpu_tensors():
    g = torch.randn(3, 10)
    assert torch.equal(row_topk(g, 3)[1], row_topk_ref(g, 3)[1])


@pytest.mark.parametrize("k", [1, 50, 1000, 2500, 4999])
def test_histogram_path_with_a_crowded_bin(k):
    """Few wide rows take the histogram path; a bin holding more than CAP - 1 keys uses the full-row search."""
    g = torch.randn(2, 5000, generator=torch.Generator().manual_seed(k))
    g[:, 100:3100] = 1.0  # 3000 equal keys: one histogram bin far over capacity
    g[1, 4000:4100] = torch.round(g[1, 4000:4100])  # and a few more ties
    with poisoned_allocations():
        vals, idx = row_topk(g, k, impl="triton")
    ref_vals, ref_idx = row_topk_ref(g, k)
    assert torch.equal(idx, ref_idx) and torch.equal(vals, ref_vals)


def test_histogram_path_on_a_gaussian_decode_row():
    g = torch.randn(1, 11008, generator=torch.Generator().manual_seed(3))
    assert torch.equal(row_topk(g, 1376, impl="triton")[1], row_topk_ref(g, 1376)[1])
