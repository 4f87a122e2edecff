"""Gaps in the tests of `harness.failures.policies` found by a mutation audit, closed here.

Every existing test passes its own `PolicyCosts`, so the documented defaults (30 s detection, 20 min restart,
10 GB/s storage, 25 GB/s network, Bamboo's 75 s fatal restart and 20 s rejoin) could change unnoticed; the bounds
on the time lost per failure were only checked as upper bounds of simulated losses, so bounds made smaller by a
write or a detection survived. Values here are worked out by hand on the conftest's `FixedPricer` (1 s steps,
1,000 tokens per step, 1 GB of state).
"""

from __future__ import annotations

import math

import pytest

from harness.failures.policies import POLICIES, CheckpointRestart, ClusterState, PolicyCosts


def test_documented_default_costs():
    costs = PolicyCosts()
    assert (costs.detect_s, costs.restart_s, costs.bamboo_fatal_s, costs.bamboo_rejoin_s) == (30.0, 1200.0, 75.0, 20.0)
    assert (costs.storage_bytes_per_s, costs.network_bytes_per_s) == (10e9, 25e9)
    assert (costs.interval_rule, costs.interval_s, costs.job_mtbf_s) == ("young", None, math.inf)


def test_default_costs_reach_the_policies(pricer):
    """1 GB at the default 10 GB/s: a 0.1 s write; job MTBF 5 h -> Young's interval sqrt(2 x 0.1 x 18,000) = 60 s.
    A failure pauses 30 + 1,200 + 0.1 s; Bamboo's rejoin 20 s, MeCeFO's rejoin copies 1 GB at 25 GB/s: 0.04 s."""
    costs = PolicyCosts(job_mtbf_s=5 * 3600.0)
    ckpt = CheckpointRestart(pricer, costs)
    assert ckpt.write_s == pytest.approx(0.1) and ckpt.interval_s == pytest.approx(60.0)
    assert ckpt.on_failure(ClusterState(8), (0,)).pause_s == pytest.approx(1230.1)
    assert POLICIES["bamboo"](pricer, costs).on_repair(ClusterState(8), (0,)).pause_s == 20.0
    assert POLICIES["mecefo"](pricer, costs).on_repair(ClusterState(8), (0,)).pause_s == pytest.approx(0.04)


def test_bounds_on_the_time_lost_per_failure_by_hand(pricer):
    """Checkpoint every 100 s, a 10 s write (1 GB at 100 MB/s), 30 s detection, 600 s restart: the work of a whole
    interval and its unfinished write, then detection, restart and reload: 100 + 10 + 30 + 600 + 10 = 750 s.
    Bamboo: detection + fatal restart, 105 s; MeCeFO: detection only; the failure-free reference: 0."""
    costs = PolicyCosts(detect_s=30.0, restart_s=600.0, storage_bytes_per_s=1e8, interval_s=100.0)
    assert CheckpointRestart(pricer, costs).bound_s() == pytest.approx(750.0)
    assert POLICIES["bamboo"](pricer, costs).bound_s() == 105.0
    assert POLICIES["mecefo"](pricer, costs).bound_s() == 30.0
    assert POLICIES["failure_free"](pricer, costs).bound_s() == 0.0
    never = CheckpointRestart(pricer, PolicyCosts())  # infinite job MTBF: no checkpoint, nothing to bound
    assert never.interval_s == math.inf and math.isnan(never.bound_s())


def test_oobleck_counts_everything_produced_since_it_last_resumed(pricer):
    """Two stretches of running (100 + 150 tokens, e.g. split by a straggler's start) and then a failure: 250 tokens
    are in flight, less than half a step (500), so all 250 are lost."""
    oobleck = POLICIES["oobleck"](pricer, PolicyCosts(detect_s=30.0))
    oobleck.reset()
    oobleck.produce(0.1, 1000.0)
    oobleck.produce(0.15, 1000.0)
    assert oobleck.on_failure(ClusterState(8), (0,)).lost_tokens == pytest.approx(250.0)
