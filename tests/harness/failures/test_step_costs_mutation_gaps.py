"""Gaps in the tests of `step_costs` found by a mutation audit.

Closed here (the other step-cost tests price every call at 1 ms, so they see call counts, never shapes):

- the low-rank weight gradient's three GEMM shapes, and its rank capped at the weight's input width;
- the power-iteration refresh's GEMM shapes per FFN matrix (down_proj is d_ff wide, gate/up d_model wide), each
  with its own rank cap, and the call counts (layers x rounds);
- the gradient all-reduce moves the gradients in the compute dtype (a bf16 step all-reduces half the bytes of an
  fp32 one), the checkpoint state is 2 or 4 + 4 + 8 bytes per parameter, and a step's tokens count every rank;
- MeCeFO's step is as slow as its slowest rank: a neighbour whose reduced work is cheaper than a normal rank's
  (attention backward dominating) still waits for the normal ranks.
"""

from __future__ import annotations

import pytest

from harness.cost.training_step import OpCall, layer_ops, optimizer_ops
from harness.failures.step_costs import StepPricer, StepSetup, low_rank_wgrad, svd_refresh_ops
from harness.models.llama import LlamaDims
from harness.sim.collectives import LinkCost
from harness.sim.topology import Topology
from harness.timing.replay import Prediction
from tests.harness.failures.one_ms_per_call import OneMsPerCall, count_calls

#: 420 parameters: two blocks of 4 d^2 + 3 d f + 2 d = 64 + 72 + 8, embedding and head 16 x 4 each, final norm 4
TINY = LlamaDims(d_model=4, d_ff=6, n_heads=1, n_layers=2, vocab_size=16)
TINY_PARAMS = 2 * 144 + 64 + 64 + 4


def _shapes(calls):
    return [(c.label, c.shape["m"], c.shape["n"], c.shape["k"], c.count) for c in calls]


def test_low_rank_wgrad_has_the_three_gemms_of_g_x_v_vt():
    # weight gradient (n_out 6, n_in 4) over 10 tokens, rank 2: x V1 (10 x 4 @ 4 x 2), G^T (x V1) (6 x 10 @ 10 x 2),
    # then (6 x 2) @ V1^T (2 x 4)
    wgrad = OpCall("matmul", {"m": 6, "n": 4, "k": 10}, "gate_proj.wgrad")
    assert _shapes(low_rank_wgrad(wgrad, 2)) == [
        ("gate_proj.wgrad.lowrank_xv", 10, 2, 4, 1),
        ("gate_proj.wgrad.lowrank_gxv", 6, 2, 10, 1),
        ("gate_proj.wgrad.lowrank_out", 6, 4, 2, 1),
    ]


def test_low_rank_wgrad_caps_the_rank_at_the_input_width():
    # rank 8 on a 4-wide input: V1 has at most 4 columns
    wgrad = OpCall("matmul", {"m": 6, "n": 4, "k": 10}, "up_proj.wgrad")
    assert _shapes(low_rank_wgrad(wgrad, 8)) == [
        ("up_proj.wgrad.lowrank_xv", 10, 4, 4, 1),
        ("up_proj.wgrad.lowrank_gxv", 6, 4, 10, 1),
        ("up_proj.wgrad.lowrank_out", 6, 4, 4, 1),
    ]


def test_svd_refresh_prices_each_ffn_matrix_with_its_own_shape_and_rank_cap():
    # d_model 4, d_ff 6, 2 layers, rank 5, 3 rounds: gate and up are (6 x 4), rank capped at 4; down is (4 x 6),
    # rank 5; per round W V (n_out, r, n_in) then W^T (W V) (n_in, r, n_out), 2 layers x 3 rounds = 6 calls each
    dims = LlamaDims(d_model=4, d_ff=6, n_heads=1, n_layers=2, vocab_size=16)
    assert _shapes(svd_refresh_ops(dims, rank=5, power_iterations=3)) == [
        ("svd.wv", 6, 4, 4, 6), ("svd.wtwv", 4, 4, 6, 6),
        ("svd.wv", 6, 4, 4, 6), ("svd.wtwv", 4, 4, 6, 6),
        ("svd.wv", 4, 5, 6, 6), ("svd.wtwv", 6, 5, 4, 6),
    ]


def _two_rank_pricer(dtype: str) -> StepPricer:
    # one bucket (1000 MiB cap), no overlap: the step is all compute, then one all-reduce, then the optimizer
    setup = StepSetup(TINY, 1, 8, dtype, "adamw", 1000.0, False, lowrank_rank=2, refresh_every=4, power_iterations=1,
                      stages_min=2, stages_max=4)
    return StepPricer(setup, OneMsPerCall(), Topology(1, 2, LinkCost(1_000, 10.0), LinkCost(1_000, 10.0)))


@pytest.mark.parametrize(("dtype", "grad_bytes", "state_bytes"), [
    ("float32", 4 * TINY_PARAMS, 16 * TINY_PARAMS), ("bfloat16", 2 * TINY_PARAMS, 14 * TINY_PARAMS)])
def test_the_all_reduce_moves_gradients_in_the_compute_dtype(dtype, grad_bytes, state_bytes):
    pricer = _two_rank_pricer(dtype)
    calls = sum(count_calls(l.forward) + count_calls(l.backward) for l in layer_ops(TINY, 1, 8))
    calls += count_calls(optimizer_ops(TINY, "adamw", "cpu"))
    # ring all-reduce over 2 ranks: 2 steps, each 1 us + half the buffer at 10 bytes/ns
    all_reduce_ns = 2 * (1_000 + grad_bytes / 2 / 10)
    assert pricer.normal_step_s() == pytest.approx(calls / 1e3 + all_reduce_ns / 1e9, rel=1e-12)
    assert pricer.state_bytes == state_bytes
    assert pricer.tokens_per_step == 1 * 8 * 2


class SlowAttentionBackward(OneMsPerCall):
    """1 ms per op call, except attention's backward (``sdpa_bwd``): 100 ms."""

    def predict(self, op, *, impl=None, dtype="float32", **shape):
        return Prediction(100.0 if op == "sdpa_bwd" else 1.0, "exact", "")


def test_a_neighbour_cheaper_than_a_normal_rank_waits_for_the_normal_ranks():
    # the neighbour skips attention's backward (technique I): at 100 ms per sdpa_bwd its two micro-batches cost far
    # less than one normal micro-batch, so the synchronous step is the normal ranks' step
    setup = StepSetup(TINY, 1, 8, "float32", "adamw", 25.0, True, lowrank_rank=2, refresh_every=4,
                      power_iterations=1, stages_min=2, stages_max=4)
    pricer = StepPricer(setup, SlowAttentionBackward(), Topology(1, 1, LinkCost(1_000, 10.0), LinkCost(1_000, 10.0)))
    layers = layer_ops(TINY, 1, 8)
    calls = sum(count_calls(l.forward) + count_calls(l.backward) for l in layers)
    calls += count_calls(optimizer_ops(TINY, "adamw", "cpu"))
    normal_s = (calls + 99 * TINY.n_layers) / 1e3  # one sdpa_bwd per block at 100 ms instead of 1 ms
    assert pricer.normal_step_s() == pytest.approx(normal_s, rel=1e-12)
    assert pricer.neighbour_step_s(2) == pytest.approx(normal_s, rel=1e-12)
