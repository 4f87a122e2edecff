"""PowerSGD: rank <= r, orthonormal P, exact on low-rank means, bytes b r (n + m), torch-hook-style EF; a matrix
whose P and Q would not be smaller than it is sent dense (``min_compression_rate``, torch's hook's rule)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.compress import make_compressor, make_error_feedback
from methods.compress.powersgd import orthonormalize
from methods.compress.simulated import compress_once


def test_output_rank_and_exactness_on_low_rank_mean():
    gen = torch.Generator().manual_seed(0)
    u, v = torch.randn(20, 2, generator=gen, dtype=torch.float64), torch.randn(2, 15, generator=gen, dtype=torch.float64)
    low_rank = u @ v
    noise = torch.randn(20, 15, generator=gen, dtype=torch.float64)
    xs = [low_rank + noise, low_rank - noise]  # mean is exactly rank 2
    comps = [make_compressor("powersgd", rank=2) for _ in xs]
    for step in range(3):  # warm start converges the power iteration
        res, coll = compress_once(comps, xs, step=step)
    assert torch.linalg.matrix_rank(res[0].aggregate) <= 2
    torch.testing.assert_close(res[0].aggregate, low_rank, rtol=1e-8, atol=1e-8)
    assert [(c.op, c.size_bytes) for c in coll.calls] == [("all_reduce", 20 * 2 * 8), ("all_reduce", 15 * 2 * 8)]


def test_orthonormalize_is_finite_on_zero_and_orthonormal_otherwise():
    q = orthonormalize(torch.zeros(6, 2))
    assert torch.isfinite(q).all()
    p = orthonormalize(torch.randn(9, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    torch.testing.assert_close(p.T @ p, torch.eye(3, dtype=torch.float64))


def test_ef14_residual_is_taken_against_the_decoded_aggregate_like_torch():
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn(16, 12, generator=gen) for _ in range(2)]
    comps = [make_compressor("powersgd", rank=1) for _ in xs]
    efs = [make_error_feedback("ef14") for _ in xs]
    from methods.compress import CompressContext, SimulatedCollective, run_lockstep

    ctx = CompressContext("w", 0, n_workers=2)
    out = run_lockstep([[ef.run(c, x, ctx)] for ef, c, x in zip(efs, comps, xs)], SimulatedCollective(2))
    for ef, x in zip(efs, xs):
        torch.testing.assert_close(ef.memory("w")["error"], x - out[0][0])


def test_small_or_1d_tensors_go_dense():
    c = make_compressor("powersgd", rank=4, min_compression_rate=2.0)  # torch's hook setting
    assert c.uses_dense((7,)) and c.uses_dense((8, 12))  # 4*(8+12)*2 >= 96
    assert not c.uses_dense((64, 64))
    assert c.dense_reason((8, 12)) == "unprofitable" and c.dense_reason((7,)) == "vector"
    default = make_compressor("powersgd", rank=4)  # default min_compression_rate 1: P and Q only when smaller
    assert default.min_compression_rate == 1.0
    assert default.uses_dense((7,)) and not default.uses_dense((8, 12))  # 4*(8+12) = 80 < 96
    assert default.dense_reason((8, 8)) == "unprofitable"  # 4*(8+8) = 64: as large as the matrix
    always = make_compressor("powersgd", rank=4, min_compression_rate=0)  # 0: every matrix compressed
    assert always.uses_dense((7,)) and not always.uses_dense((8, 8)) and not always.uses_dense((1, 9))


def test_default_sends_a_matrix_dense_where_p_and_q_are_not_smaller_and_counts_it():
    """A 4 x 4 gradient at rank 2: P and Q hold 2 (4 + 4) = 16 values, as many as the matrix. The default sends
    the 16 values once (one all-reduce: the exact mean) and counts an "unprofitable" fallback; before, it sent P
    and Q (two all-reduces, 16 values) and decoded a rank-2 approximation."""
    gen = torch.Generator().manual_seed(3)
    xs = [torch.randn(4, 4, generator=gen, dtype=torch.float64) for _ in range(3)]
    comps = [make_compressor("powersgd", rank=2) for _ in xs]
    assert [(c.op, c.size_bytes) for c in comps[0].comm_plan((4, 4), 3)] == [("all_reduce", 16 * 4)]
    res, coll = compress_once(comps, xs)
    assert [(c.op, c.size_bytes) for c in coll.calls] == [("all_reduce", 16 * 8)]
    torch.testing.assert_close(res[0].aggregate, (xs[0] + xs[1] + xs[2]) / 3, rtol=0, atol=0)
    assert comps[0].dense_fallbacks() == {"x": {"calls": 1, "dense": 1, "reason": "unprofitable"}}
    always = [make_compressor("powersgd", rank=2, min_compression_rate=0) for _ in xs]
    res, coll = compress_once(always, xs)
    assert [c.size_bytes for c in coll.calls] == [4 * 2 * 8, 4 * 2 * 8]
    assert torch.linalg.matrix_rank(res[0].aggregate) <= 2


def test_a_rate_between_0_and_1_is_refused():
    for bad in (0.5, 0.999, -1):
        with pytest.raises(ValueError, match=r"^powersgd\.min_compression_rate: expected 0 \(always compress\) or a "
                                             r"number >= 1, got "):
            make_compressor("powersgd", min_compression_rate=bad)
    for fine in (0, 0.0, 1, 2.5):
        assert make_compressor("powersgd", min_compression_rate=fine).min_compression_rate == fine


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 20), m=st.integers(2, 20), rank=st.integers(1, 24), rate=st.sampled_from([1, 1.5, 2, 4]),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]))
def test_payload_stays_below_dense_and_a_fallback_sends_and_returns_the_exact_mean(n, m, rank, rate, dtype):
    shape, n_workers = (n, m), 3
    comp = make_compressor("powersgd", rank=rank, min_compression_rate=rate)
    plan = [(c.op, c.size_bytes) for c in comp.comm_plan(shape, n_workers, dtype=dtype)]
    dense_bytes = n * m * dtype.itemsize
    r = min(rank, n, m)
    if comp.uses_dense(shape):
        assert r * (n + m) * rate >= n * m and comp.dense_reason(shape) == "unprofitable"
        assert plan == [("all_reduce", dense_bytes)]
    else:
        assert r * (n + m) * rate < n * m
        assert plan == [("all_reduce", n * r * dtype.itemsize), ("all_reduce", m * r * dtype.itemsize)]
    assert sum(size for _, size in plan) <= dense_bytes
    gen = torch.Generator().manual_seed(n * 1000 + m)
    xs = [torch.randn(shape, generator=gen).to(dtype) for _ in range(n_workers)]
    comps = [make_compressor("powersgd", rank=rank, min_compression_rate=rate) for _ in xs]
    res, coll = compress_once(comps, xs)
    assert [(c.op, c.size_bytes) for c in coll.calls] == plan  # the plan is what goes on the wire
    if comp.uses_dense(shape):
        torch.testing.assert_close(res[0].aggregate, (xs[0] + xs[1] + xs[2]) / 3, rtol=0, atol=0)
        assert comps[0].dense_fallbacks() == {"x": {"calls": 1, "dense": 1, "reason": "unprofitable"}}
    else:
        assert comps[0].dense_fallbacks() == {"x": {"calls": 1, "dense": 0, "reason": None}}


def test_warm_start_runs_the_power_iteration_across_steps_and_a_fresh_q_does_not():
    """The same mean at every step: warm-started Q converges to the best rank-r approximation (subspace
    iteration, error ~ (s3/s2)^steps); a fresh random Q at every step stays a single power step away from it."""
    gen = torch.Generator().manual_seed(4)
    u, _ = torch.linalg.qr(torch.randn(12, 12, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(9, 9, generator=gen, dtype=torch.float64))
    spectrum = torch.tensor([8.0, 6.0, 3.0, 1.0, 0.5, 0.3, 0.2, 0.1, 0.05], dtype=torch.float64)
    mean = u[:, :9] @ torch.diag(spectrum) @ v.T
    best = u[:, :2] @ torch.diag(spectrum[:2]) @ v[:, :2].T
    spread = torch.randn(12, 9, generator=gen, dtype=torch.float64)
    xs = [mean + spread, mean - spread]
    gap = {}
    for warm in (True, False):
        comps = [make_compressor("powersgd", rank=2, warm_start=warm) for _ in xs]
        for step in range(40):
            res, _ = compress_once(comps, xs, step=step)
        gap[warm] = float((res[0].aggregate - best).norm() / best.norm())
    assert gap[True] < 1e-9 and gap[False] > 1e-3


def test_local_error_reference_is_each_workers_own_projection():
    """``error_reference="local"``: worker i's local is P Q_i^T (its own gradient on the shared P), so the locals
    differ between workers and average to the aggregate; ``"aggregate"`` (torch's hook) uses P Q^T everywhere."""
    gen = torch.Generator().manual_seed(5)
    xs = [torch.randn(10, 8, generator=gen, dtype=torch.float64) for _ in range(3)]
    for reference in ("local", "aggregate"):
        comps = [make_compressor("powersgd", rank=2, error_reference=reference) for _ in xs]
        res, _ = compress_once(comps, xs)
        agg = res[0].aggregate
        torch.testing.assert_close(torch.stack([r.local for r in res]).mean(0), agg, rtol=1e-12, atol=1e-12)
        differ = [not torch.equal(r.local, agg) for r in res]
        assert all(differ) if reference == "local" else not any(differ)
