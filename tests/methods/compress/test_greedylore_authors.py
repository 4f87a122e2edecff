"""GreedyLore against the authors' hook (``subspace_hook_ef14``): the refresh step's EF14 memory, dense fallback.

The authors' refresh step zeroes e and all-reduces the raw gradient (``error_inherit=0``), or keeps e
(``error_inherit=1``); ours by default all-reduces g + e and then zeroes e (``refresh_error="send"``).
"""

from __future__ import annotations

import pytest
import torch

from methods.compress import CompressContext, SimulatedCollective, make_compressor, make_error_feedback, run_lockstep
from methods.compress.simulated import compress_once

N_WORKERS = 2
SHAPE = (6, 10)


def _grads(steps: int) -> list[list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(3)
    return [[torch.randn(SHAPE, generator=gen, dtype=torch.float64) for _ in range(N_WORKERS)] for _ in range(steps)]


def _ef14_steps(refresh_error: str, grads):
    """EF14 over GreedyLore (rank 1, refresh every 2 calls): per step the output and each worker's e before/after."""
    comps = [make_compressor("greedylore", rank=1, refresh_period=2, exact_scores=True, refresh_error=refresh_error)
             for _ in range(N_WORKERS)]
    efs = [make_error_feedback("ef14") for _ in range(N_WORKERS)]
    steps = []
    for step, gs in enumerate(grads):
        before = [ef.memory("w").get("error") for ef in efs]
        ctx = CompressContext("w", step, 0, N_WORKERS)
        out = run_lockstep([[ef.run(c, g, ctx)] for ef, c, g in zip(efs, comps, gs)], SimulatedCollective(N_WORKERS))
        steps.append((out[0][0], before, [ef.memory("w")["error"] for ef in efs]))
    return steps


def _mean(ts):
    return torch.stack(ts).mean(0)


def test_error_rule_names_only_the_refresh_calls():
    for rule in ("zero", "inherit"):
        gl = make_compressor("greedylore", rank=1, refresh_period=3, refresh_error=rule)
        seen = []
        for step in range(7):
            seen.append(gl.error_rule("w", SHAPE))
            compress_once([gl], [torch.randn(SHAPE, dtype=torch.float64)], name="w", step=step)
        assert seen == [rule, "add", "add", rule, "add", "add", rule]
        assert gl.error_rule("bias", (10,)) == "add"  # sent dense, never refreshed
    ours = make_compressor("greedylore", rank=1, refresh_period=3)
    assert ours.refresh_error == "send" and ours.error_rule("w", SHAPE) == "add"
    assert ours.refreshes_next("w", SHAPE)


def test_refresh_send_all_reduces_g_plus_e_then_zeroes_e():
    """Ours (default): the refresh at step 2 applies the residual e_1 left by step 1."""
    grads = _grads(3)
    steps = _ef14_steps("send", grads)
    out, e1, e2 = steps[2]
    assert all(float(e.abs().max()) > 1e-3 for e in e1)  # step 1 left a real residual
    torch.testing.assert_close(out, _mean([g + e for g, e in zip(grads[2], e1)]))
    assert all(float(e.abs().max()) == 0.0 for e in e2)


@pytest.mark.parametrize("rule", ["zero", "inherit"])
def test_refresh_authors_all_reduce_the_raw_gradient(rule):
    grads = _grads(4)
    steps = _ef14_steps(rule, grads)
    out, e1, e2 = steps[2]
    assert all(float(e.abs().max()) > 1e-3 for e in e1)
    torch.testing.assert_close(out, _mean(grads[2]))  # the raw gradient, e_1 not sent
    for before, after in zip(e1, e2):
        torch.testing.assert_close(after, torch.zeros_like(before) if rule == "zero" else before)
    # the next compressed step compresses g_3 + e (e = 0 after "zero", e_1 after "inherit")
    _, e3_before, _ = steps[3]
    for kept, before in zip(e2, e3_before):
        torch.testing.assert_close(before, kept)


def test_small_matrices_are_compressed_by_default():
    """min_compression_rate 0: a 16 x 9 conv gradient (p + r q = 73 of 144 values) is compressed; the authors'
    rate 2 (compress only when r max(n, m) * 2 < n m, here 64 * 2 >= 144) sends it dense."""
    shape = (16, 9)
    default = make_compressor("greedylore", rank=4)
    assert default.min_compression_rate == 0.0 and not default.uses_dense(shape)
    assert sum(c.size_bytes for c in default.comm_plan(shape, n_workers=4)) < 16 * 9 * 4
    assert make_compressor("greedylore", rank=4, min_compression_rate=2.0).uses_dense(shape)


@pytest.mark.parametrize(
    "params,key",
    [({"refresh_error": "drop"}, "greedylore.refresh_error"), ({"min_compression_rate": -1}, "min_compression_rate")],
)
def test_bad_options_name_the_key(params, key):
    with pytest.raises(ValueError, match=key):
        make_compressor("greedylore", **params)
