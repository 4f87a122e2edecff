"""Gaps in the tests of the harness figures' verdicts found by a mutation audit, closed here on hand-built frames.

Closed: collective_time_vs_ranks judged at the largest rank count only (a smaller count that disagrees does not
count) on the smallest and largest message; failover's bounds at their edges (signed error +-5 pp, shards exactly
once, detection within the timeout plus the slack, loss jump 0.15 nats); fidelity_compute's median and worst
|error| per (allocator, threads) group, the edges included; pipeline_fidelity's median |error| and bit-exact
agreement; fidelity's overall median leaving the quiet-host panel out and the largest over-prediction signed.
"""

from __future__ import annotations

import pandas as pd
import pytest

from plots.papers import harness_core, harness_failover, harness_fidelity, harness_fidelity_compute
from plots.papers import harness_pipeline


def holding(verdict) -> list[bool]:
    return [check.holds for check in verdict.checks]


# -------------------------------------------------------------------------------------- collective time vs ranks
def _collectives(times: dict[tuple[int, int, str], int]) -> pd.DataFrame:
    return pd.DataFrame([{"size_bytes": size, "algorithm": algorithm, "n_ranks": ranks, "time_ns_closed_form": t,
                          "time_ns_link_level": t, "rel_diff_pct": 0.0}
                         for (ranks, size, algorithm), t in times.items()])


def test_time_vs_ranks_is_judged_at_the_largest_rank_count():
    times = {
        # 8 ranks: the tree loses on the small message and wins on the large one (the opposite of the claim)
        (8, 1024, "ring"): 100, (8, 1024, "tree"): 200, (8, 2**20, "ring"): 200, (8, 2**20, "tree"): 100,
        # 64 ranks: the claim
        (64, 1024, "ring"): 200, (64, 1024, "tree"): 100, (64, 2**20, "ring"): 100, (64, 2**20, "tree"): 200,
        # a middle size at 64 ranks where the tree loses: only the smallest and largest message are judged
        (64, 4096, "ring"): 100, (64, 4096, "tree"): 300,
    }
    assert harness_core.verdict_time_vs_ranks(_collectives(times)).status == "reproduced"
    flipped = {(8 if r == 64 else 64, s, a): t for (r, s, a), t in times.items()}
    assert holding(harness_core.verdict_time_vs_ranks(_collectives(flipped))) == [False, False, True]


def test_time_vs_ranks_a_tie_is_neither_a_win_nor_a_loss():
    times = {(64, 1024, "ring"): 100, (64, 1024, "tree"): 100, (64, 2**20, "ring"): 100, (64, 2**20, "tree"): 100}
    assert holding(harness_core.verdict_time_vs_ranks(_collectives(times))) == [False, False, True]


def test_exact_agreement_one_nanosecond_apart_fails():
    data = _collectives({(8, 1024, "ring"): 100, (8, 1024, "tree"): 200})
    data.loc[1, "time_ns_link_level"] = 199  # below the closed form: the absolute difference counts
    assert harness_core.verdict_time_vs_size(data).status == "not_reproduced"


# ------------------------------------------------------------------------------------------------------ failover
def _failover(**row) -> pd.DataFrame:
    base = {"mode": "mecefo", "steps": 500, "timeout_s": 2.0, "detect_s_max": 1.5, "error_pp": 0.0,
            "loss_jump_max": 0.0, "shards_counted": 2000}
    return pd.DataFrame([base | row])


@pytest.mark.parametrize("row, holds", [
    ({"error_pp": 5.0}, [True, True, True, True]),
    ({"error_pp": -5.0}, [True, True, True, True]),
    ({"error_pp": 5.0625}, [False, True, True, True]),
    ({"error_pp": -5.0625}, [False, True, True, True]),
    ({"shards_counted": 1999}, [True, False, True, True]),
    ({"shards_counted": 2001}, [True, False, True, True]),
    ({"detect_s_max": 3.0}, [True, True, True, True]),  # timeout 2 s + 1 s slack
    ({"detect_s_max": 3.0625}, [True, True, False, True]),
    ({"loss_jump_max": 0.15}, [True, True, True, True]),
    ({"loss_jump_max": 0.15625}, [True, True, True, False]),
])
def test_failover_bounds_at_their_edges(row, holds):
    assert holding(harness_failover.verdict_of(_failover(**row))) == holds


# ----------------------------------------------------------------------------------------------- fidelity compute
def _compute_points(groups: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    rows = []
    for (allocator, threads), errors in groups.items():
        for i, error in enumerate(errors):
            rows.append({"allocator": allocator, "threads": threads, "size": "d64", "d_model": 64,
                         "micro_batch": 2, "seq_len": 64 * (i + 1), "measured_ms": 10.0, "error_pct": error})
    return pd.DataFrame(rows)


def test_fidelity_compute_targets_per_group_at_their_edges():
    median, worst = harness_fidelity_compute.TARGET_MEDIAN_PCT, harness_fidelity_compute.TARGET_WORST_PCT
    good = _compute_points({("default", 1): [-median, median, -worst], ("keep", 2): [0.0, 0.0, 0.0]})
    assert harness_fidelity_compute.verdict_of(good).status == "reproduced"
    bad = _compute_points({("default", 1): [0.0, 0.0, worst + 0.5], ("keep", 2): [median + 0.5] * 3})
    assert holding(harness_fidelity_compute.verdict_of(bad)) == [True, False, False, True]
    negative = _compute_points({("default", 1): [-(median + 0.5), -(median + 0.5), 0.0]})
    assert holding(harness_fidelity_compute.verdict_of(negative)) == [False, True]


# ----------------------------------------------------------------------------------------------- pipeline fidelity
def _pipeline(errors: list[float], agree: list[bool]) -> pd.DataFrame:
    return pd.DataFrame({"error_pct": errors, "error_pct_measured_compute": errors, "measured_stage_compute_ms": 1.0,
                         "predicted_stage_compute_ms": 1.0, "cpu_busy_before": 0.0, "sender_receiver_agree": agree})


def test_pipeline_fidelity_median_and_agreement():
    target = harness_pipeline.TARGET_MEDIAN_PCT
    assert harness_pipeline.verdict_of(_pipeline([-target, target, 99.0], [True] * 3)).status == "reproduced"
    assert holding(harness_pipeline.verdict_of(_pipeline([-target - 1, 0.0, -99.0], [True] * 3))) == [False, True]
    assert holding(harness_pipeline.verdict_of(_pipeline([0.0, 0.0, 0.0], [True, False, True]))) == [True, False]


# -------------------------------------------------------------------------------------------------------- fidelity
def test_fidelity_overall_median_leaves_the_quiet_host_out_and_over_prediction_is_signed():
    target, worst = harness_fidelity.TARGET_PCT, harness_fidelity.WORST_PCT
    quiet = harness_fidelity.QUIET_HOST_PANEL
    rows = [("loopback", e) for e in (-target, 0.0, target)] + [(quiet, e) for e in (-99.0, -99.0, -99.0, -99.0)]
    data = pd.DataFrame([{"panel": p, harness_fidelity.ERROR: e} for p, e in rows])
    assert harness_fidelity.verdict_fidelity(data).status == "reproduced"  # -99: an under-prediction
    data.loc[len(data)] = {"panel": quiet, harness_fidelity.ERROR: worst + 1.0}
    assert holding(harness_fidelity.verdict_fidelity(data)) == [True, False]
    loud = pd.DataFrame([{"panel": "loopback", harness_fidelity.ERROR: e} for e in (-target - 1, 0.0, target + 1)])
    assert holding(harness_fidelity.verdict_fidelity(loud)) == [False, True]  # |error| median 11, signed 0


def test_time_vs_ranks_any_strict_win_and_loss_count():
    times = {(64, 1024, "ring"): 110, (64, 1024, "tree"): 100, (64, 2**20, "ring"): 100, (64, 2**20, "tree"): 110}
    assert harness_core.verdict_time_vs_ranks(_collectives(times)).status == "reproduced"
