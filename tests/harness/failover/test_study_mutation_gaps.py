"""Gaps in the tests of `harness.failover.study` found by a mutation audit, closed here on hand-built records.

The real-run tests bound the study's numbers only loosely (a predicted drop in (0, 100), a loss jump under the
bound), so the measured per-step costs, the time lost and the measured drop of `measure`, the simulator's drop of
`predict_drop_pct` (outage of a warm or cold rejoin, checkpoint interval), the loss-jump windows and their sign,
the per-worker sample counts and the neighbour-step extrapolation all survived mutation. Every expected number
here is worked out by hand from a record built in the test (no gloo run).
"""

from __future__ import annotations

import pytest

from harness.failover.study import (MeasuredPricer, loss_jumps, measure, predict_drop_pct, sample_counts,
                                    state_bytes_of)
from harness.failover.worker import JobConfig


def test_neighbour_step_is_extrapolated_linearly_in_micro_batches():
    pricer = MeasuredPricer(normal_s=1.0, neighbour_s=1.5, state_bytes=8, tokens_per_step=100)
    assert [pricer.neighbour_step_s(k) for k in (1, 2, 3)] == [1.0, 1.5, 2.0]
    assert pricer.normal_step_s() == 1.0


def _ledger(losses: dict[int, float]) -> list[dict]:
    return [{"step": step, "loss": loss} for step, loss in reversed(sorted(losses.items()))]  # not in step order


def test_loss_jump_is_the_signed_difference_of_five_step_means():
    """Steps 0-4 at 100, 5-9 at 1, step 10 at 11, 11-19 at 1: the jump at step 10 is mean(11, 1, 1, 1, 1) - mean of
    steps 5-9 = 3 - 1 = 2 (a window of 6 would take in a 100 before, or move step 10 to the left side); at step 5
    it is 1 - 100 = -99 (signed); at step 0 nothing comes before, so no jump."""
    losses = {s: 100.0 for s in range(5)} | {s: 1.0 for s in range(5, 20)} | {10: 11.0}
    assert loss_jumps(_ledger(losses), [10, 5, 0]) == [pytest.approx(2.0), pytest.approx(-99.0)]


def test_sample_counts_count_each_workers_shards_in_the_final_ledger():
    cfg = JobConfig(mode="mecefo", n_workers=4, steps=3, kill_step=1, batch_size=4)
    ledger = [{"step": 0, "by": [0, 1, 2, 3]}, {"step": 1, "by": [0, 2, 2, 3]}, {"step": 2, "by": [0, 2, 2, 3]}]
    record = {"workers": [{"exit": "done", "ledger": ledger[:2]}, {"exit": "done", "ledger": ledger},
                          {"exit": "killed", "ledger": []}]}
    table = sample_counts(record, cfg)
    assert table["shards"].tolist() == [3, 1, 5, 3]
    assert table["samples"].tolist() == [12, 4, 20, 12]


def _mecefo_record() -> dict:
    """Steps 0-9 take 1 s (commit at step + 1); worker 1 is killed at 10.2 s, the survivors detect it at 11.0 and
    11.4 s and re-form at 12.5 s; steps 10-21 take 1.5 s each (the neighbour carries two shards) up to 30.5 s, when
    the replacement (started at 10.5 s, formed at 18.5 s) is admitted; steps 22-39 take 1 s, the last committed at
    48.5 s."""
    rows = [(s, float(s), s + 1.0) for s in range(10)]
    rows += [(s, 12.5 + 1.5 * (s - 10), 14.0 + 1.5 * (s - 10)) for s in range(10, 22)]
    rows += [(s, 30.5 + (s - 22), 31.5 + (s - 22)) for s in range(22, 40)]
    ledger = [{"step": s, "t_start": a, "t_commit": b, "loss": 2.0, "n_members": 4} for s, a, b in rows]
    survivor = {"worker": 0, "generation": 0, "join": False, "t_formed": 0.5, "exit": "done", "ledger": ledger,
                "steps": [], "start_step": 0,
                "events": [{"kind": "detected", "t": 11.0}, {"kind": "reformed", "t": 12.5},
                           {"kind": "admitted", "t": 30.5, "step": 22}]}
    other = {**survivor, "worker": 2, "t_formed": 0.7, "events": [{"kind": "detected", "t": 11.4}]}
    victim = {"worker": 1, "generation": 0, "join": False, "t_formed": 0.6, "exit": "killed", "ledger": [],
              "steps": [], "start_step": 0, "events": []}
    spare = {"worker": 1, "generation": 0, "join": True, "t_formed": 18.5, "exit": "done", "ledger": ledger[:30],
             "steps": [], "start_step": 22, "events": [{"kind": "joined", "t": 30.5}]}
    spawned = [[0, 0, False, 0.0], [1, 0, False, 0.1], [2, 0, False, 0.2], [1, 0, True, 10.5]]
    return {"t_kill": 10.2, "spawned": spawned, "workers": [survivor, victim, other, spare]}


def test_measure_a_take_over_by_hand():
    cfg = JobConfig(mode="mecefo", n_workers=4, steps=40, kill_step=10, victim=1, timeout_s=2.0, recovery_s=3.0)
    m, table = measure(_mecefo_record(), cfg)
    assert m["steps"] == 40 and m["wall_s"] == 48.5 and m["kill_at_s"] == pytest.approx(10.2)
    assert (m["detect_s_min"], m["detect_s_max"]) == (pytest.approx(0.8), pytest.approx(1.2))
    assert m["startup_s"] == pytest.approx(0.5)  # formed 0.5, 0.5 and 0.5 s after each first-generation spawn
    assert m["rejoin_after_kill_s"] == pytest.approx(20.3)
    assert (m["normal_step_s"], m["before_step_s"], m["degraded_step_s"], m["after_step_s"]) == (1.0, 1.0, 1.5, 1.0)
    assert m["lost_s"] == pytest.approx(48.5 - 40)
    assert m["measured_drop_pct"] == pytest.approx(100 * 8.5 / 48.5)  # 17.53 %
    tokens = cfg.n_workers * cfg.batch_size * cfg.seq_len
    assert m["tokens_per_s_degraded"] == pytest.approx(tokens / 1.5)
    assert table["phase"].tolist() == ["before"] * 10 + ["degraded"] * 12 + ["after"] * 18


def _measured(**extra) -> dict:
    return {"normal_step_s": 1.0, "degraded_step_s": 1.5, "startup_s": 10.0, "kill_at_s": 20.0, "wall_s": 100.0,
            "checkpoint_write_s": 0.5, **extra}


@pytest.mark.parametrize("warm, drop", [
    # detection 2 s paused; the rest of the outage at 1 / 1.5 of the speed; the rejoin copies 12.5 GB at 25 GB/s
    (True, 2 + (10 - 2) / 3 + 0.5),    # warm spare: out for max(recovery 3 s, start-up 10 s) = 10 s -> 5.17 %
    (False, 2 + (13 - 2) / 3 + 0.5),   # cold: out for recovery + start-up = 13 s -> 6.17 %
])
def test_predicted_mecefo_drop_by_hand(warm, drop):
    cfg = JobConfig(mode="mecefo", n_workers=4, steps=100, kill_step=20, recovery_s=3.0, timeout_s=2.0,
                    warm_rejoin=warm)
    assert predict_drop_pct(_measured(), cfg, state_bytes=12_500_000_000) == pytest.approx(drop)  # 100 s run: % = s


def test_predicted_checkpoint_restart_drop_by_hand():
    """Checkpoint every 10 steps of 1 s, a 0.5 s write: cycles of 10.5 s. The kill at 20 s finds 9.5 s unsaved
    (lost); detection 2 s + restart (the start-up) 10 s + reload 0.5 s paused; the 67.5 s left hold 6 writes (3 s);
    one write before the kill (0.5 s): 25.5 s of 100 s short."""
    cfg = JobConfig(mode="ckpt", n_workers=4, steps=100, kill_step=20, ckpt_every=10, timeout_s=2.0)
    assert predict_drop_pct(_measured(), cfg, state_bytes=10**9) == pytest.approx(25.5)


def test_state_bytes_are_weights_and_two_adamw_moments_in_fp32():
    """The default job's TinyLlama, on 200 sentences (which use every letter): 25 characters (the 23 letters of the
    grammar's words, space, full stop), d 32, 2 layers, d_ff 88: embedding and head 2 x 25 x 32, final norm 32, per
    layer 2 norms (64), q/k/v/o (4 x 32 x 32) and gate/up/down (3 x 32 x 88) = 12,608; 26,848 parameters x 12
    bytes."""
    assert state_bytes_of(JobConfig(n_sentences=200)) == 12 * (2 * 25 * 32 + 32 + 2 * 12_608)  # 322,176
