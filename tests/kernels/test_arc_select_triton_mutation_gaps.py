"""Gaps in the tests of `kernels._arc_select_triton` found by a mutation audit.

Closed here (every check runs the Triton kernels in the CPU interpreter, against float64 products or hand values):
- the sketch for every width r = 1..8 (each sketch column read from its own row of V^T and stored in its own
  column of P), with m = 1, and m one past a column block (129);
- strided inputs: G a column slice of a NaN-padded matrix (the row stride and the column mask), G and P
  transposed views (copied to unit column stride first), a pack from a column slice, an unpack into a column
  slice of a larger ``out``; an ``out`` whose columns are not contiguous is refused;
- rows wider than one 4096-column block for pack and unpack; an empty row list packs to an empty buffer.
"""

from __future__ import annotations

import pytest
import torch

from kernels import arc_select as arc


def _matrix(n: int, m: int, seed: int) -> torch.Tensor:
    return torch.randn(n, m, generator=torch.Generator().manual_seed(seed))


def _sketch_ref(G: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    return G.double() @ V.double()


@pytest.mark.parametrize("r", range(1, 9))
def test_every_sketch_width_fills_its_own_columns(r):
    G, V = _matrix(5, 7, r), _matrix(7, r, 100 + r)
    P = arc.row_sketch(G, V, impl="triton")
    expected = _sketch_ref(G, V)
    assert P.shape == (5, r)
    assert torch.allclose(P.double(), expected, rtol=1e-5, atol=1e-5)
    assert torch.allclose(arc.sketch_scores(G, V, impl="triton").double(), (expected**2).sum(1), rtol=1e-5)
    assert torch.allclose(arc.row_scores(P, impl="triton").double(), (P.double() ** 2).sum(1), rtol=1e-6)


@pytest.mark.parametrize("m", [1, 129])
def test_sketch_reads_every_column(m):
    G, V = _matrix(3, m, m), _matrix(m, 2, m + 1)
    G[:, -1] = 100.0  # the last column dominates: missing it changes every entry of P
    assert torch.allclose(arc.row_sketch(G, V, impl="triton").double(), _sketch_ref(G, V), rtol=1e-5, atol=1e-4)


def test_sketch_of_a_column_slice_uses_the_row_stride_and_masks_the_padding():
    n, m = 6, 20
    big = torch.full((n, m + 5), float("nan"))
    big[:, :m] = _matrix(n, m, 1)
    G = big[:, :m]  # unit column stride, row stride 25; the padding must never be read
    V = _matrix(m, 3, 2)
    P = arc.row_sketch(G, V, impl="triton")
    assert torch.allclose(P.double(), _sketch_ref(G, V), rtol=1e-5, atol=1e-5)
    assert torch.allclose(arc.sketch_scores(G, V, impl="triton").double(), (_sketch_ref(G, V) ** 2).sum(1),
                          rtol=1e-5)


def test_sketch_and_scores_of_transposed_views():
    base = _matrix(9, 4, 3)
    G = base.t()  # [4, 9] with column stride 4
    V = _matrix(9, 2, 4)
    assert torch.allclose(arc.row_sketch(G, V, impl="triton").double(), _sketch_ref(G, V), rtol=1e-5, atol=1e-5)
    P = torch.tensor([[1.0, 3.0, 0.0], [2.0, -1.0, 5.0]]).t()  # rows [1, 2], [3, -1], [0, 5]
    assert arc.row_scores(P, impl="triton").tolist() == [5.0, 10.0, 25.0]


def test_pack_from_a_column_slice_and_a_transposed_view():
    big = torch.arange(40.0).reshape(5, 8)
    G = big[:, :3]  # rows [0, 1, 2], [8, 9, 10], ...
    assert arc.pack_rows(G, torch.tensor([3, 1]), impl="triton").tolist() == [24.0, 25.0, 26.0, 8.0, 9.0, 10.0]
    T = torch.arange(6.0).reshape(3, 2).t()  # rows [0, 2, 4], [1, 3, 5]
    assert arc.pack_rows(T, torch.tensor([1]), impl="triton").tolist() == [1.0, 3.0, 5.0]


def test_unpack_into_a_column_slice_leaves_the_rest_of_the_storage_alone():
    big = torch.full((4, 5), float("nan"))
    out = big[:, :3]
    buf = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    result = arc.unpack_rows(buf, torch.tensor([2, 0]), 4, 3, out=out, impl="triton")
    assert result.data_ptr() == out.data_ptr()
    assert out.tolist() == [[4.0, 5.0, 6.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    assert bool(big[:, 3:].isnan().all())


def test_unpack_refuses_an_out_whose_columns_are_not_contiguous():
    out = torch.zeros(3, 4).t()  # [4, 3], column stride 4
    with pytest.raises(ValueError, match="out must have contiguous rows"):
        arc.unpack_rows(torch.zeros(6), torch.tensor([0, 1]), 4, 3, out=out, impl="triton")


def test_pack_and_unpack_rows_wider_than_one_block():
    n, m = 3, 4096 + 37
    G = torch.arange(float(n * m)).reshape(n, m)
    rows = torch.tensor([0, 2])
    buf = arc.pack_rows(G, rows, impl="triton")
    assert torch.equal(buf, torch.cat([G[0], G[2]]))
    back = arc.unpack_rows(buf, rows, n, m, impl="triton")
    assert torch.equal(back[0], G[0]) and torch.equal(back[2], G[2])
    assert not bool(back[1].any())


def test_an_empty_row_list_packs_to_an_empty_buffer():
    buf = arc.pack_rows(torch.ones(3, 4), torch.zeros(0, dtype=torch.int64), impl="triton")
    assert buf.shape == (0,)
    back = arc.unpack_rows(buf, torch.zeros(0, dtype=torch.int64), 3, 4, impl="triton")
    assert back.tolist() == [[0.0] * 4] * 3
