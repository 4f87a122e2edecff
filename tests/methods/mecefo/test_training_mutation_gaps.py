"""Mutation-audit gaps in MeCeFO's data-parallel loop (methods/mecefo/training.py), its neighbour switches and
the outage records (each test fails on a mutant that the older tests let through).

- Algorithm 1's aggregation on a failure step against a brute-force reference: attention weights averaged over
  the ranks that computed them exactly only, everything else over every micro-batch; the neighbour really runs in
  neighbour mode; the recorded error is ||g~ - g|| / ||g|| (not squared, not swapped); the row's loss is the mean
  over the micro-batches run; AdamW gets the weight decay;
- orphans: failed / neighbour / dropped counts and the error against all ranks;
- rows: evaluation at the last step (and the first), error rows kept between ``record_every`` rows,
  ``error_every`` counted from the first failure step, the number of error measurements;
- the SVD bases are refreshed every tau steps of the run (the loop's step reaches `LowRankBases`);
- outages taking every rank down at one step are refused before training (they crashed at that step);
- `mean_grads` / `relative_error` by hand; `Techniques.exact` is False for each single switch and ``skip_ffn``
  (Figure 3's study) drops the FFN gradients; `Outage` refuses a negative rank or start.
"""

from __future__ import annotations

import math

import pytest
import torch

from methods.mecefo.failures import Outage
from methods.mecefo.lowrank import LowRankBases
from methods.mecefo.neighbour import EXACT, MECEFO, Techniques, neighbour_loss
from methods.mecefo.training import TrainSettings, mean_grads, micro_batch_grads, relative_error, train
from methods.models.gpt import TinyLlama

ATTENTION = (".attn_norm.", ".qkv.", ".proj.")
FFN = (".mlp_norm.", ".gate.", ".up.", ".down.")


def _model() -> TinyLlama:
    return TinyLlama(vocab_size=15, d_model=16, n_layers=2, n_heads=2, d_ff=24, max_seq_len=8, seed=0)


def _batch(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 * step + rank)
    return torch.randint(0, 15, (2, 8), generator=gen), torch.randint(0, 15, (2, 8), generator=gen)


def _grads(model: TinyLlama, loss: torch.Tensor) -> dict[str, torch.Tensor | None]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}


def _error(approx: dict[str, torch.Tensor], truth: dict[str, torch.Tensor]) -> float:
    diff = sum(float((approx[n] - truth[n]).pow(2).sum()) for n in truth)
    return math.sqrt(diff / sum(float(g.pow(2).sum()) for g in truth.values()))


def test_one_failure_step_matches_a_brute_force_reference():
    """Rank 0 of 3 down at step 0: rank 1 runs batches 1 and 0 in MeCeFO mode, rank 2 runs batch 2 exactly."""
    ref = _model()
    exact = {r: _grads(ref, ref.loss(*_batch(r, 0))) for r in range(3)}
    bases = LowRankBases(MECEFO.low_rank, MECEFO.refresh_every)
    approx = {r: _grads(ref, neighbour_loss(ref, *_batch(r, 0), MECEFO, bases, 0)) for r in (1, 0)}
    agg = {}
    for name in exact[0]:
        if any(part in name for part in ATTENTION):  # skipped on the neighbour: rank 2's exact gradient alone
            assert approx[0][name] is None and approx[1][name] is None
            agg[name] = exact[2][name]
        else:
            agg[name] = (approx[1][name] + approx[0][name] + exact[2][name]) / 3
    truth = {n: (exact[0][n] + exact[1][n] + exact[2][n]) / 3 for n in exact[0]}
    expected_error = _error(agg, truth)
    assert expected_error > 0.01  # the neighbour's approximations are visible at this size
    with torch.no_grad():
        losses = [float(ref.loss(*_batch(r, 0))) for r in range(3)]
    optimizer = torch.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=0.1)
    for name, p in ref.named_parameters():
        p.grad = agg[name]
    optimizer.step()

    ours = _model()
    result = train(ours, _batch, TrainSettings(n_ranks=3, steps=1, techniques=MECEFO, outages=(Outage(0, 0, 1),),
                                               lr=1e-2, weight_decay=0.1))
    (row,) = result.rows
    assert row["grad_rel_error"] == pytest.approx(expected_error, rel=1e-4)
    assert row["loss"] == pytest.approx(sum(losses) / 3, rel=1e-6)
    assert (row["n_failed"], row["n_neighbours"], row["n_dropped"]) == (1, 1, 0)
    for (name, a), b in zip(ref.named_parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7, msg=name)


def test_orphans_counts_loss_and_error_against_every_rank():
    """3 of 4 ranks down: rank 3 carries rank 0, ranks 1 and 2 are lost; all exact, so g~ = (g3 + g0) / 2."""
    ref = _model()
    exact = {r: _grads(ref, ref.loss(*_batch(r, 0))) for r in range(4)}
    with torch.no_grad():
        losses = {r: float(ref.loss(*_batch(r, 0))) for r in range(4)}
    agg = {n: (exact[3][n] + exact[0][n]) / 2 for n in exact[0]}
    truth = {n: sum(exact[r][n] for r in range(4)) / 4 for n in exact[0]}
    outages = tuple(Outage(r, 0, 1) for r in range(3))
    result = train(_model(), _batch, TrainSettings(n_ranks=4, steps=1, techniques=EXACT, outages=outages))
    (row,) = result.rows
    assert (row["n_failed"], row["n_neighbours"], row["n_dropped"]) == (3, 1, 2)
    assert result.info["dropped_micro_batches"] == 2 and result.info["failure_steps"] == 1
    assert row["loss"] == pytest.approx((losses[3] + losses[0]) / 2, rel=1e-6)
    assert row["grad_rel_error"] == pytest.approx(_error(agg, truth), rel=1e-4)


def test_rows_evaluations_and_the_error_schedule():
    """Rank 1 down at steps 1-4 of 6; errors every 2nd failure step (steps 1, 3), evaluations every 4 steps and at
    the last, rows every 100 steps: rows at 0 (record and evaluation), 1, 3 (errors), 4 and 5 (evaluations)."""
    calls = []

    def evaluate(model: TinyLlama) -> float:
        calls.append(1)
        return float(len(calls))

    settings = TrainSettings(n_ranks=2, steps=6, techniques=EXACT, outages=(Outage(1, 1, 5),), error_every=2,
                             eval_every=4, record_every=100)
    result = train(_model(), _batch, settings, evaluate=evaluate)
    assert [r["step"] for r in result.rows] == [0, 1, 3, 4, 5]
    assert [r["eval_loss"] for r in result.rows][::3] == [1.0, 2.0] and result.rows[-1]["eval_loss"] == 3.0
    assert [not math.isnan(r["grad_rel_error"]) for r in result.rows] == [False, True, True, False, False]
    assert math.isnan(result.rows[1]["eval_loss"]) and math.isnan(result.rows[2]["eval_loss"])
    assert result.info["failure_steps"] == 4 and result.info["error_measurements"] == 2
    quiet = train(_model(), _batch, TrainSettings(n_ranks=2, steps=3, record_every=100))
    assert [r["step"] for r in quiet.rows] == [0, 2]  # the last step is always kept


def test_svd_bases_are_refreshed_every_tau_steps_of_the_run():
    """Rank 0 down for all 5 steps, tau = 2: the neighbour's 6 FFN matrices get SVDs at steps 0, 2 and 4."""
    tech = Techniques(skip_attention=True, low_rank=2, refresh_every=2)
    result = train(_model(), _batch, TrainSettings(n_ranks=2, steps=5, techniques=tech, outages=(Outage(0, 0, 5),),
                                                   error_every=0))
    assert result.info["svd_refreshes"] == 3 * 6


def test_mean_grads_and_relative_error_by_hand():
    t = torch.tensor
    out = mean_grads([{"a": t([1.0, 2.0]), "b": None, "c": None}, {"a": t([3.0, 4.0]), "b": t([5.0]), "c": None}])
    assert torch.equal(out["a"], t([2.0, 3.0])) and torch.equal(out["b"], t([5.0])) and out["c"] is None
    exact = {"a": t([3.0, 4.0]), "skipped": None}
    assert relative_error({"a": t([3.0, 0.0]), "skipped": t([100.0])}, exact) == pytest.approx(0.8)
    assert relative_error({"a": None, "skipped": None}, exact) == pytest.approx(1.0)  # missing counts as zero
    assert relative_error({"a": t([6.0, 8.0]), "skipped": None}, exact) == pytest.approx(1.0)
    assert relative_error({"a": t([1.0, 1.0])}, {"a": t([0.0, 0.0])}) == 0.0


def test_each_switch_alone_is_not_exact_and_skip_ffn_drops_the_ffn_gradients():
    for tech in (Techniques(skip_attention=True), Techniques(recompute_ffn=True), Techniques(low_rank=2),
                 Techniques(skip_ffn=True)):
        assert not tech.exact, tech
    _, grads = micro_batch_grads(_model(), _batch(0, 0), Techniques(skip_ffn=True), None, 0)
    assert all((g is None) == any(part in n for part in FFN) for n, g in grads.items())


def test_outage_refuses_a_negative_rank_or_start():
    for rank, start in ((-1, 0), (0, -1)):
        with pytest.raises(ValueError, match="outage of rank"):
            Outage(rank, start, 3)


def test_every_rank_down_at_one_step_is_refused_before_training():
    """Explicit outages (or explicit ones plus a Poisson schedule) can take every rank down; the loop used to train
    until that step and then stop with an IndexError from an empty gradient list."""
    model, fresh = _model(), _model()
    outages = (Outage(0, 0, 3), Outage(1, 2, 3))
    with pytest.raises(ValueError, match="all 2 ranks down at step 2"):
        train(model, _batch, TrainSettings(n_ranks=2, steps=4, outages=outages))
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters(), strict=True))
