"""Gaps in the tests of `macro` found by a mutation audit.

Closed here (event accounting on hand-built event lists, the conftest's FixedPricer: 1000 tokens/s):

- an outage that ends exactly at the horizon is never repaired within it;
- a zero-length episode ends after every start at its time (the docstring's tie rule), so a device that another
  episode takes down at that moment stays down;
- overlapping outages of one device are one failure and one repair, with one timeline row each;
- a token target reached exactly as a failure pauses the run is reached then, not after the pause.
"""

from __future__ import annotations

from harness.failures.macro import simulate
from harness.failures.policies import Interruption, Policy, PolicyCosts
from harness.failures.processes import Event

N = 8


def _run(events, pricer, horizon_h=10.0):
    return simulate(events, Policy(pricer, PolicyCosts()), N, horizon_h)


def _rows(result):
    return [(row["time_h"], row["event"], row["devices_down"]) for row in result.timeline]


def test_an_outage_ending_at_the_horizon_is_not_repaired(pricer):
    result = _run([Event(8.0, "device:0", "fail", 2.0, (0,))], pricer)
    assert (result.n_failures, result.n_repairs) == (1, 0)
    assert _rows(result) == [(8.0, "start_fail", 1)]


def test_a_zero_length_episode_ends_after_the_starts_at_its_time(pricer):
    # device 0: an instant outage at 2 h (listed first) and a 1 h outage from 2 h: down from 2 h to 3 h, once
    events = [Event(2.0, "device:0", "fail", 0.0, (0,)), Event(2.0, "device:0", "fail", 1.0, (0,))]
    result = _run(events, pricer)
    assert (result.n_failures, result.n_repairs) == (1, 1)
    assert _rows(result) == [(2.0, "start_fail", 1), (3.0, "end_fail", 0)]


def test_overlapping_outages_of_one_device_are_one_failure(pricer):
    # device 0 down 1-3 h and 2-4 h: one failure at 1 h, one repair at 4 h
    events = [Event(1.0, "device:0", "fail", 2.0, (0,)), Event(2.0, "device:0", "fail", 2.0, (0,))]
    result = _run(events, pricer)
    assert (result.n_failures, result.n_repairs) == (1, 1)
    assert _rows(result) == [(1.0, "start_fail", 1), (4.0, "end_fail", 0)]
    assert result.tokens == 1000 * 10 * 3600


class _PausesOnFailure(Policy):
    """Full speed (1000 tokens/s); every failure pauses 100 s and loses nothing."""

    def on_failure(self, state, new_down):
        return Interruption(pause_s=100.0)


def test_a_target_reached_as_a_failure_pauses_is_reached_then(pricer):
    events = [Event(1.0, "device:0", "fail", 1.0, (0,))]
    at_failure = simulate(events, _PausesOnFailure(pricer, PolicyCosts()), N, 10.0, target_tokens=3.6e6)
    assert at_failure.time_to_target_s == 3600.0
    # one token later: 1 ms after the pause ends at 3700 s
    after = simulate(events, _PausesOnFailure(pricer, PolicyCosts()), N, 10.0, target_tokens=3.6e6 + 1)
    assert after.time_to_target_s == 3700.001
