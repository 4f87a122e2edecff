"""ARC-Top-K and EF21M: the authors' behaviours where ours differs, each an option, each checked against an oracle."""

from __future__ import annotations

import pytest
import torch

from methods.compress import CompressContext, SimulatedCollective, make_compressor, make_error_feedback, run_lockstep
from methods.compress.base import keep_count
from methods.compress.simulated import compress_once


def _vectors(n_workers: int, d: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(d, generator=gen, dtype=torch.float64) for _ in range(n_workers)]


# ------------------------------------------------------------------------------------------------ 1-D tensors
def test_vectors_dense_keeps_the_whole_mean_and_counts_a_fallback():
    xs = _vectors(3, 11)
    comps = [make_compressor("arc_topk", ratio=0.2) for _ in xs]
    res, coll = compress_once(comps, xs, name="bias")
    torch.testing.assert_close(res[0].aggregate, torch.stack(xs).mean(0), rtol=0, atol=0)
    assert [c.size_bytes for c in coll.calls] == [8 * 11]
    assert comps[0].dense_fallbacks() == {"bias": {"calls": 1, "dense": 1, "reason": "vector"}}


@pytest.mark.parametrize(("d", "ratio"), [(11, 0.2), (100, 0.29), (3, 0.2), (1, 0.5)])
@pytest.mark.parametrize("k_rule", ["floor", "authors"])
def test_vectors_topk_of_mean_is_the_authors_hook(d, ratio, k_rule):
    """Oracle (the authors' hook): all-reduce the vector, keep its k largest |mean| entries, all-reduce their values."""
    xs = _vectors(4, d, seed=d)
    params = {"ratio": ratio, "vectors": "topk_of_mean", "k_rule": k_rule}
    comps = [make_compressor("arc_topk", **params) for _ in xs]
    res, coll = compress_once(comps, xs, name="bias")
    mean = torch.stack(xs).mean(0)
    k = max(1, int(ratio * d)) if k_rule == "authors" else keep_count(ratio, d)
    top = torch.sort(torch.sort(mean.abs(), descending=True, stable=True).indices[:k]).values
    expected = torch.zeros_like(mean)
    expected[top] = mean[top]
    torch.testing.assert_close(res[0].aggregate, expected, rtol=1e-12, atol=1e-12)
    for r, x in zip(res, xs):  # what each worker sent: its own entries on the common set
        local = torch.zeros_like(x)
        local[top] = x[top]
        assert torch.equal(r.local, local)
    # d values (the vector is its own sketch) then k values, both in the gradient dtype
    assert [(c.op, c.size_bytes) for c in coll.calls] == [("all_reduce", 8 * d), ("all_reduce", 8 * k)]
    plan = comps[0].comm_plan((d,), n_workers=4, dtype=torch.float64)
    assert [c.size_bytes for c in plan] == [8 * d, 8 * k]
    assert comps[0].dense_fallbacks() == {"bias": {"calls": 1, "dense": 0, "reason": None}}


def test_vectors_topk_of_mean_with_ef14_keeps_the_dropped_entries():
    xs = _vectors(2, 10, seed=3)
    comps = [make_compressor("arc_topk", ratio=0.3, vectors="topk_of_mean") for _ in xs]
    efs = [make_error_feedback("ef14") for _ in xs]
    ctx = CompressContext("bias", 0, n_workers=2)
    out = run_lockstep([[ef.run(c, x, ctx)] for ef, c, x in zip(efs, comps, xs)], SimulatedCollective(2))
    kept = out[0][0] != 0
    assert int(kept.sum()) == 3
    for ef, x in zip(efs, xs):
        err = ef.memory("bias")["error"]
        assert torch.equal(err[kept], torch.zeros(3, dtype=x.dtype)) and torch.equal(err[~kept], x[~kept])


def test_vectors_topk_of_mean_sends_more_than_dense_so_a_positive_rate_falls_back():
    arc = make_compressor("arc_topk", vectors="topk_of_mean", min_compression_rate=1.0)
    assert arc.dense_reason((50,)) == "unprofitable"  # 50 + 10 >= 50
    assert make_compressor("arc_topk", vectors="topk_of_mean").dense_reason((50,)) is None
    assert arc.dense_reason((0,)) == "empty"


# ------------------------------------------------------------------------------------------------------ K
@pytest.mark.parametrize(("ratio", "n", "ours", "authors"), [
    (0.29, 100, 29, 28), (0.58, 50, 29, 28), (0.7, 90, 63, 62), (0.35, 180, 63, 62), (0.57, 100, 57, 56),
])
def test_k_rule_differs_where_float_rounding_falls_below_an_integer(ratio, n, ours, authors):
    assert ratio * n < ours  # e.g. 0.29 * 100 = 28.999999999999996
    assert keep_count(ratio, n) == ours and keep_count(ratio, n, "authors") == authors == max(1, int(ratio * n))
    for rule, k in (("floor", ours), ("authors", authors)):
        arc = make_compressor("arc_topk", ratio=ratio, rank=2, k_rule=rule)
        assert [c.size_bytes for c in arc.comm_plan((n, 3), n_workers=2)] == [4 * n * 2, 4 * k * 3]
        xs = [torch.randn(n, 3, generator=torch.Generator().manual_seed(w)) for w in range(2)]
        comps = [make_compressor("arc_topk", ratio=ratio, rank=2, k_rule=rule) for _ in xs]
        compress_once(comps, xs)
        assert comps[0].last_rows("x").numel() == k


@pytest.mark.parametrize(("ratio", "n", "k"),
                         [(0.2, 768, 153), (0.2, 3, 1), (0.05, 200, 10), (0.2, 10, 2), (1.0, 7, 7)])
def test_k_rules_agree_elsewhere(ratio, n, k):
    assert keep_count(ratio, n, "floor") == keep_count(ratio, n, "authors") == k


def test_k_rule_is_checked():
    with pytest.raises(ValueError, match="arc_topk.k_rule"):
        make_compressor("arc_topk", k_rule="ceil")


# ------------------------------------------------------------------------------------------------- sketch
def _sketch(arc, x: torch.Tensor, name: str, step: int, seed: int = 3) -> torch.Tensor:
    """The sketch payload a worker sends first (x @ V)."""
    return next(arc.compress(x, CompressContext(name, step, seed, 2))).tensor


def test_fixed_sketch_draws_one_v_per_tensor_for_the_whole_run():
    m, r = 6, 3
    eye = torch.eye(m)  # x = I, so the sketch payload is V itself
    fixed = make_compressor("arc_topk", rank=r, fixed_sketch=True)
    fresh = make_compressor("arc_topk", rank=r)
    v0 = _sketch(fixed, eye, "w", 0)
    assert v0.shape == (m, r)
    for step in (1, 7, 1000):
        assert torch.equal(_sketch(fixed, eye, "w", step), v0)
        assert not torch.equal(_sketch(fresh, eye, "w", step), _sketch(fresh, eye, "w", 0))
    # one V per tensor, the same on every worker (a fresh compressor with the same seed draws it again)
    assert not torch.equal(_sketch(fixed, eye, "other", 0), v0)
    assert torch.equal(_sketch(make_compressor("arc_topk", rank=r, fixed_sketch=True), eye, "w", 5), v0)
    assert not torch.equal(_sketch(fixed, eye, "w", 0, seed=4), v0)


def test_fixed_sketch_selects_the_same_rows_for_the_same_mean():
    gen = torch.Generator().manual_seed(0)
    xs = [torch.randn(30, 8, generator=gen) for _ in range(3)]
    rows = []
    for step in range(6):
        comps = [make_compressor("arc_topk", ratio=0.2, rank=1, fixed_sketch=True) for _ in xs]
        compress_once(comps, xs, step=step)
        rows.append(comps[0].last_rows("x").tolist())
    assert len(set(rows[0])) == keep_count(0.2, 30)  # a real selection, not an empty one
    assert all(r == rows[0] for r in rows)


# ---------------------------------------------------------------------------------------------- EF21M start
def _ef_steps(ef_name: str, ef_params: dict, grads: list[list[torch.Tensor]]) -> tuple[list[torch.Tensor], list]:
    """Run EF over ARC (ratio 0.5) on 2 workers; returns worker 0's direction per step and the wrappers."""
    efs = [make_error_feedback(ef_name, **ef_params) for _ in range(2)]
    comps = [make_compressor("arc_topk", ratio=0.5, rank=2) for _ in range(2)]
    outs = []
    for step, gs in enumerate(grads):
        ctx = CompressContext("w", step, 11, 2)
        out = run_lockstep([[ef.run(c, g, ctx)] for ef, c, g in zip(efs, comps, gs)], SimulatedCollective(2))
        outs.append(out[0][0])
    return outs, efs


@pytest.mark.parametrize(("ef_name", "power"), [("ef21m", 1), ("ef21_sgd2m", 2)])
def test_authors_first_step_v0_zero_e0_gradient(ef_name, power):
    eta = 0.25
    gen = torch.Generator().manual_seed(2)
    grads = [[torch.randn(8, 5, generator=gen, dtype=torch.float64) for _ in range(2)] for _ in range(2)]
    outs, efs = _ef_steps(ef_name, {"eta": eta, "authors_first_step": True}, grads)
    g0, g1 = grads
    # step 0: dense mean of the raw gradients; e_i = g_i; momentum 0
    torch.testing.assert_close(outs[0], (g0[0] + g0[1]) / 2, rtol=0, atol=0)
    # step 1 oracle: momentum from 0 gives eta^power g1; compress its difference to e_0 = g0 with the same ARC
    diffs = [eta**power * g1[w] - g0[w] for w in range(2)]
    res, _ = compress_once([make_compressor("arc_topk", ratio=0.5, rank=2) for _ in range(2)], diffs, name="w",
                           step=1, seed=11)
    torch.testing.assert_close(outs[1], (g0[0] + g0[1]) / 2 + res[0].aggregate, rtol=1e-12, atol=1e-12)
    for w, ef in enumerate(efs):
        torch.testing.assert_close(ef.memory("w")["local"], g0[w] + res[w].local, rtol=1e-12, atol=1e-12)
    # not reachable before: the EF21M paper's start (v_0 = e_0 = g_0) and zero_init (v_0 = 0, e_0 = eta g_0) differ
    for other in ({"eta": eta}, {"eta": eta, "zero_init": True}):
        assert not torch.allclose(_ef_steps(ef_name, other, grads)[0][1], outs[1])


def test_authors_first_step_needs_the_dense_initialisation():
    with pytest.raises(ValueError, match="ef21m.authors_first_step"):
        make_error_feedback("ef21m", authors_first_step=True, dense_init=False)
