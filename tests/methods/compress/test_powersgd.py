"""PowerSGD: rank <= r, orthonormal P, exact on low-rank means, bytes b r (n + m), torch-hook-style EF."""

from __future__ import annotations

import torch

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
    assert c.uses_dense((7,)) and c.uses_dense((8, 8))  # 4*(8+8)*2 >= 64
    assert not c.uses_dense((64, 64))
    assert c.dense_reason((8, 8)) == "unprofitable" and c.dense_reason((7,)) == "vector"
    default = make_compressor("powersgd", rank=4)  # default min_compression_rate 0: every matrix compressed
    assert default.uses_dense((7,)) and not default.uses_dense((8, 8))
