"""Gaps in the tests of `kernels.arc_select` found by a mutation audit.

Closed here:
- the torch paths on hand-worked matrices: sketch P = G V in fp32, scores ||P_j||^2, pack in the order of
  ``rows``, unpack zeroing the other rows (also of a given ``out``);
- argument checks: G not 2-D or not floating point, rows not 1-D int32/int64, scores not 1-D, k outside
  1..n (k = n accepted), ``out`` of the wrong dtype, an empty sketch; `sketch_matrix` honours ``dtype``;
- `arc_select` draws V from the generator it is given (N(0, 1) entries, m x r, in that order);
- forced Triton sketching accepts r = `MAX_TRITON_R` and refuses r + 1; auto selection of more rows than
  `MAX_TRITON_COLS` asks for the torch path;
- the timed ops' FLOPs and bytes on one hand-counted shape, the pack inputs (k distinct rows, ascending) and the
  ``flat_topk`` baseline (k rows' worth of entries, named as the op's baseline); every grid keeps k <= rows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kernels.arc_select as arc
from kernels.ops import load_all_ops

G3 = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]])
V2 = torch.tensor([[1.0, 0.0], [0.0, -1.0]])


def test_torch_sketch_scores_and_selection_on_a_hand_worked_matrix():
    P = arc.row_sketch(G3, V2, impl="torch")
    assert P.tolist() == [[1.0, -2.0], [3.0, -4.0], [0.0, -1.0]]
    assert arc.row_scores(P, impl="torch").tolist() == [5.0, 25.0, 1.0]
    assert arc.sketch_scores(G3, V2, impl="torch").tolist() == [5.0, 25.0, 1.0]
    assert arc.select_rows(torch.tensor([5.0, 25.0, 1.0]), 2, impl="torch").tolist() == [0, 1]
    assert arc.select_rows(torch.tensor([5.0, 25.0, 1.0]), 3, impl="torch").tolist() == [0, 1, 2]  # k = n


def test_the_sketch_of_a_half_precision_matrix_is_fp32():
    P = arc.row_sketch(G3.to(torch.bfloat16), V2, impl="torch")
    assert P.dtype == torch.float32 and P.tolist() == [[1.0, -2.0], [3.0, -4.0], [0.0, -1.0]]


def test_pack_follows_the_order_of_rows_and_unpack_zeroes_the_rest():
    assert arc.pack_rows(G3, torch.tensor([0, 2]), impl="torch").tolist() == [1.0, 2.0, 0.0, 1.0]
    assert arc.pack_rows(G3, torch.tensor([2, 0], dtype=torch.int32), impl="torch").tolist() == [0.0, 1.0, 1.0, 2.0]
    buf = torch.tensor([5.0, 6.0, 7.0, 8.0])
    expected = [[5.0, 6.0], [0.0, 0.0], [7.0, 8.0]]
    assert arc.unpack_rows(buf, torch.tensor([0, 2]), 3, 2, impl="torch").tolist() == expected
    out = torch.full((3, 2), 9.0)
    result = arc.unpack_rows(buf, torch.tensor([0, 2], dtype=torch.int32), 3, 2, out=out, impl="torch")
    assert result is out and out.tolist() == expected


@pytest.mark.parametrize("G, match", [
    (torch.zeros(4), "G must be a 2-D"),
    (torch.zeros(2, 2, 2), "G must be a 2-D"),
    (torch.zeros(3, 2, dtype=torch.int64), "G must be floating point"),
])
def test_bad_matrices_are_refused(G, match):
    with pytest.raises(ValueError, match=match):
        arc.pack_rows(G, torch.tensor([0]))


@pytest.mark.parametrize("rows", [
    torch.tensor([0.0, 1.0]), torch.tensor([[0, 1]]), torch.tensor([0, 1], dtype=torch.int16),
])
def test_rows_must_be_a_1d_int32_or_int64_tensor(rows):
    with pytest.raises(ValueError, match="rows must be a 1-D int32/int64 tensor"):
        arc.pack_rows(G3, rows)
    with pytest.raises(ValueError, match="rows must be a 1-D int32/int64 tensor"):
        arc.unpack_rows(torch.zeros(4), rows, 3, 2)


def test_unpack_refuses_an_out_of_another_dtype():
    with pytest.raises(ValueError, match="out must be"):
        arc.unpack_rows(torch.zeros(4), torch.tensor([0, 2]), 3, 2, out=torch.zeros(3, 2, dtype=torch.float64))


def test_selection_arguments_are_checked():
    with pytest.raises(ValueError, match="scores must be 1-D"):
        arc.select_rows(torch.zeros(2, 3), 1)
    with pytest.raises(ValueError, match="k must be in 1..3"):
        arc.select_rows(torch.zeros(3), 0)


@pytest.mark.parametrize("m, r", [(0, 2), (3, 0)])
def test_an_empty_sketch_is_refused(m, r):
    with pytest.raises(ValueError, match="m >= 1 and r >= 1"):
        arc.sketch_matrix(m, r, torch.Generator().manual_seed(0))


def test_sketch_matrix_honours_the_dtype_and_is_the_generators_normal_draw():
    V = arc.sketch_matrix(3, 2, torch.Generator().manual_seed(5), dtype=torch.float64)
    assert V.dtype == torch.float64 and V.shape == (3, 2)
    expected = torch.randn(3, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float32)
    assert torch.equal(V, expected.double())


def test_arc_select_draws_its_sketch_from_the_given_generator():
    m, r, k = 16, 3, 5
    for seed in (1, 7, 123):
        # G = I: row j's score is ||V_j||^2, V the generator's next m x r standard normal draw
        V = torch.randn(m, r, generator=torch.Generator().manual_seed(seed)).numpy().astype(np.float64)
        expected = sorted(np.argsort(-(V**2).sum(axis=1), kind="stable")[:k].tolist())
        rows = arc.arc_select(torch.eye(m), r, k, torch.Generator().manual_seed(seed), impl="torch")
        assert rows.tolist() == expected


def test_forced_triton_sketch_takes_r_up_to_the_register_limit(monkeypatch):
    calls = []

    def fake(G, V, write_p, write_s):
        calls.append(V.shape[1])
        P = G.float() @ V.float()
        return P, (P * P).sum(1)

    monkeypatch.setattr(arc, "_sketch_triton", fake)
    arc.row_sketch(torch.ones(2, 3), torch.ones(3, arc.MAX_TRITON_R), impl="triton")
    assert calls == [arc.MAX_TRITON_R]
    with pytest.raises(ValueError, match=f"r={arc.MAX_TRITON_R + 1} > {arc.MAX_TRITON_R}"):
        arc.row_sketch(torch.ones(2, 3), torch.ones(3, arc.MAX_TRITON_R + 1), impl="triton")


def test_auto_selection_over_more_rows_than_triton_holds_asks_for_torch(monkeypatch):
    asked = []
    real = arc.row_topk

    def spy(scores, k, *, impl=None):
        asked.append(impl)
        return real(scores, k, impl="torch")

    monkeypatch.setattr(arc, "row_topk", spy)
    arc.select_rows(torch.zeros(arc.MAX_TRITON_COLS + 1), 1)
    arc.select_rows(torch.zeros(arc.MAX_TRITON_COLS), 1)
    assert asked == ["torch", None]


def test_timed_op_costs_on_a_hand_counted_shape():
    ops = load_all_ops()
    s = {"rows": 10, "cols": 20, "r": 4, "k": 3}
    # sketch: 2 rows cols r; read G (fp32) once and V (fp32) once, write k int64 indices
    assert ops.get("arc_select").flops(s) == 1600.0
    assert ops.get("arc_select").bytes_moved(s, "float32") == 4 * 200 + 4 * 80 + 8 * 3
    assert ops.get("arc_select").bytes_moved(s, "bfloat16") == 2 * 200 + 4 * 80 + 8 * 3
    # pack: read k rows, write them, read k indices; unpack: read the buffer, write all rows, read indices
    assert ops.get("arc_pack").bytes_moved(s, "float32") == 2 * 4 * 60 + 24
    assert ops.get("arc_unpack").bytes_moved(s, "float32") == 4 * (60 + 200) + 24
    assert ops.get("arc_pack").flops(s) == 0.0 and ops.get("arc_unpack").flops(s) == 0.0
    # flat top-k: read numel values, write k values + k int64 indices
    assert ops.get("topk_flat").bytes_moved({"numel": 100, "k": 5}, "float32") == 400 + 12 * 5


def test_pack_inputs_are_k_distinct_ascending_rows_and_their_buffer():
    op = load_all_ops().get("arc_pack")
    G, rows, buf = op.make_inputs({"rows": 40, "cols": 6, "k": 9}, "float32", "cpu", torch.Generator().manual_seed(2))
    listed = rows.tolist()
    assert len(listed) == 9 and listed == sorted(set(listed)) and 0 <= listed[0] and listed[-1] < 40
    assert torch.equal(buf, G[rows].reshape(-1))


def test_the_flat_topk_baseline_keeps_k_rows_worth_of_entries():
    op = load_all_ops().get("arc_select")
    assert op.baseline == "flat_topk"
    shape = {"rows": 12, "cols": 5, "r": 4, "k": 3}
    G, V, k = op.make_inputs(shape, "float32", "cpu", torch.Generator().manual_seed(0))
    kept = op.impls["flat_topk"](G, V, k)
    assert kept.numel() == 15
    assert sorted(G.reshape(-1)[kept].tolist()) == sorted(torch.sort(G.reshape(-1)).values[-15:].tolist())


def test_every_grid_shape_keeps_k_within_the_rows():
    for name in ("arc_select", "arc_pack", "arc_unpack"):
        op = load_all_ops().get(name)
        for shape in [*op.grid, *op.quick_grid]:
            assert 1 <= shape["k"] <= shape["rows"], (name, shape)
