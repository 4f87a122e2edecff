"""Gaps in the tests of `failures` found by a mutation audit.

- `poisson_schedule` refuses ``repair_steps = 0`` by name (it returned no outages when no arrival fell in the
  run, and crashed on an empty window otherwise);
- explicit outages that start at or after the last step do not change the drawn schedule (their steps lie outside
  the run, so they may not make an arrival near the end skip).
"""

from __future__ import annotations

import pytest

from methods.mecefo.failures import Outage, failed_at, poisson_schedule


@pytest.mark.parametrize("steps", [1, 50])
def test_a_repair_of_zero_steps_is_refused_by_name(steps):
    with pytest.raises(ValueError, match="repair_steps >= 1, got 5.0, 0"):
        poisson_schedule(4, steps, 5.0, 0, 0)


def test_explicit_outages_after_the_run_leave_the_schedule_unchanged():
    """Two ranks, arrivals about every 2 steps, repairs of 3 steps: drawn outages near the end reach past step 20.
    Rank 0 held down from step 20 on (outside the run) would, if counted, block every arrival whose repair reaches
    step 20 (one rank left up)."""
    plain = poisson_schedule(2, 20, 2.0, 3, 1)
    late = poisson_schedule(2, 20, 2.0, 3, 1, explicit=(Outage(0, 20, 30),))
    assert any(o.end > 20 for o in plain)  # some repair does overlap the explicit outage's steps
    assert late == plain
    for o in plain:
        assert len(failed_at(plain, o.start)) == 1  # with two ranks, never both down
