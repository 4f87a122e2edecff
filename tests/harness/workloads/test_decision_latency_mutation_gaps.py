"""Gaps in the tests of `decision_latency` found by a mutation audit.

Closed here:

- the control loop on hand-worked timelines at 100 Hz (10 ms ticks, no jitter): an action ready exactly at the next
  tick is in time; a slow planner misses every deadline; a planner slower than two ticks decides on the newest
  observation and skips the older one (which then misses its deadline too);
- a U-Net of three levels halves the horizon twice (a multiple of 4, not 8); an MLP takes any horizon.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.workloads.decision_latency import ControlSpec, PlannerNetworkSpec, simulate_control_loop


def _loop(latency_ms: float) -> dict[str, float]:
    control = ControlSpec(rate_hz=100.0, ticks=4, arrival_jitter_ms=0.0, compute_jitter_cv=0.0)
    return simulate_control_loop(latency_ms, control, np.random.default_rng(0))


def test_an_action_ready_exactly_at_the_next_tick_is_in_time():
    out = _loop(10.0)
    assert out["deadline_miss_fraction"] == 0.0 and out["skipped_fraction"] == 0.0
    assert out["latency_p50_ms"] == 10.0


def test_a_planner_slower_than_a_tick_misses_every_deadline():
    # decisions end at 12, 24, 36, 48 ms on observations of 0, 10, 20, 30 ms: waits grow 12, 14, 16, 18 ms
    out = _loop(12.0)
    assert out["deadline_miss_fraction"] == 1.0 and out["skipped_fraction"] == 0.0
    assert out["latency_p50_ms"] == pytest.approx(15.0)
    assert out["latency_p99_ms"] == pytest.approx(16 + 0.97 * 2)  # numpy's linear rule: position 0.99 x 3 = 2.97


def test_a_planner_slower_than_two_ticks_skips_to_the_newest_observation():
    # 0 -> 25 ms; at 25 ms observations 10 and 20 wait: 20 is decided (25 -> 50), 10 skipped; 30 -> 75 ms
    out = _loop(25.0)
    assert out["skipped_fraction"] == 0.25
    assert out["deadline_miss_fraction"] == 1.0
    assert out["latency_p50_ms"] == pytest.approx(30.0)  # median of 25, 30, 45


def test_the_unet_horizon_is_a_multiple_of_four_and_the_mlp_takes_any():
    assert PlannerNetworkSpec(preset="cpu_small", horizon=4).horizon == 4  # levels 32, 64, 128: halved twice
    with pytest.raises(ValueError, match="expected a multiple of 4, got 6"):
        PlannerNetworkSpec(preset="cpu_small", horizon=6)
    assert PlannerNetworkSpec(preset="toy_mlp", horizon=3).horizon == 3
