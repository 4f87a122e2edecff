"""kernels/arc_select.py: sketch, scores, selection, pack/unpack against torch; determinism; energy property."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import arc_select as arc
from kernels.testing import poisoned_allocations, rel_err


@pytest.mark.parametrize("n,m,r,k,dtype", [(37, 53, 4, 5, torch.float32), (9, 130, 8, 9, torch.float32),
                                           (20, 16, 1, 3, torch.bfloat16), (6, 5, 3, 2, torch.float32)])
def test_triton_matches_reference(n, m, r, k, dtype):
    G = torch.randn(n, m, generator=torch.Generator().manual_seed(n * m)).to(dtype)
    V = arc.sketch_matrix(m, r, torch.Generator().manual_seed(1))
    with poisoned_allocations():
        P = arc.row_sketch(G, V, impl="triton")
        S = arc.row_scores(P, impl="triton")
        fused = arc.sketch_scores(G, V, impl="triton")
        rows = arc.select_rows(fused, k, impl="triton")
        buf = arc.pack_rows(G, rows, impl="triton")
        out = torch.empty(n, m, dtype=dtype)  # poisoned: unpack must zero the rows it does not fill
        back = arc.unpack_rows(buf, rows, n, m, out=out, impl="triton")
    P_ref = G.double() @ V.double()
    assert rel_err(P, P_ref) < 1e-5
    assert rel_err(S, (P_ref**2).sum(1)) < 1e-5
    assert rel_err(fused, (P_ref**2).sum(1)) < 1e-5
    assert torch.equal(rows, arc.select_rows(fused, k, impl="torch"))
    assert rows.dtype == torch.int64 and bool((rows[1:] > rows[:-1]).all())
    assert torch.equal(buf, G[rows].reshape(-1))
    assert back.data_ptr() == out.data_ptr()
    assert torch.equal(back, arc.unpack_rows(buf, rows, n, m, impl="torch"))


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 40), m=st.integers(1, 30), r=st.integers(1, 6), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_selection_is_identical_for_identical_inputs_and_seeds(n, m, r, seed, data):
    k = data.draw(st.integers(1, n))
    G = torch.randn(n, m, generator=torch.Generator().manual_seed(seed))
    impl = data.draw(st.sampled_from(["torch", "triton"]))
    first = arc.arc_select(G, r, k, torch.Generator().manual_seed(seed + 1), impl=impl)
    again = arc.arc_select(G.clone(), r, k, torch.Generator().manual_seed(seed + 1), impl=impl)
    assert torch.equal(first, again)
    V1 = arc.sketch_matrix(m, r, torch.Generator().manual_seed(seed))
    V2 = arc.sketch_matrix(m, r, torch.Generator().manual_seed(seed))
    assert torch.equal(V1, V2) and V1.shape == (m, r)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30), m=st.integers(1, 12), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_exact_sketch_keeps_at_least_k_over_n_of_the_energy(n, m, seed, data):
    """With V = I the scores are the exact row energies: the k chosen rows hold >= k/n of ||G||^2."""
    k = data.draw(st.integers(1, n))
    G = torch.randn(n, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    G = G * torch.rand(n, 1, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64) ** 3
    rows = arc.select_rows(arc.row_scores(arc.row_sketch(G, torch.eye(m, dtype=torch.float64))), k)
    kept = (G[rows] ** 2).sum()
    assert kept >= k / n * (G**2).sum() * (1 - 1e-12)


def test_ties_choose_lowest_rows():
    assert arc.select_rows(torch.tensor([1.0, 3.0, 3.0, 3.0, 0.5]), 2, impl="triton").tolist() == [1, 2]


def test_unpack_rejects_mismatched_buffers_and_outputs():
    rows = torch.tensor([0, 2])
    with pytest.raises(ValueError, match="buf has 5 elements"):
        arc.unpack_rows(torch.zeros(5), rows, 4, 3)
    with pytest.raises(ValueError, match="out must be"):
        arc.unpack_rows(torch.zeros(6), rows, 4, 3, out=torch.zeros(4, 4))
    with pytest.raises(ValueError, match="V must be"):
        arc.row_sketch(torch.zeros(4, 3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="k must be in 1..3"):
        arc.select_rows(torch.zeros(3), 4)


@pytest.mark.parametrize("impl", ["torch", "triton"])
@pytest.mark.parametrize("rows,shown", [([0, 4], "from 0 to 4"), ([-1, 2], "from -1 to 2")])
def test_rows_outside_the_matrix_are_refused_before_any_copy(impl, rows, shown):
    """The Triton pack would read past the matrix (and torch's negative index would wrap) without the check."""
    G, rows = torch.ones(4, 3), torch.tensor(rows)
    with pytest.raises(ValueError, match=f"rows must lie in 0..3 .*{shown}"):
        arc.pack_rows(G, rows, impl=impl)
    with pytest.raises(ValueError, match=f"rows must lie in 0..3 .*{shown}"):
        arc.unpack_rows(torch.zeros(6), rows, 4, 3, impl=impl)
    assert arc.pack_rows(G, torch.tensor([0, 3]), impl=impl).tolist() == [1.0] * 6  # both ends are rows


def test_flat_topk_baseline_picks_the_largest_entries():
    g = torch.tensor([[0.5, 4.0], [3.0, -9.0]])
    assert sorted(arc.flat_topk(g, 2).tolist()) == [1, 2]
