"""harness/sim/clock.py: the stopped-clock watchdog and the monotonic-time check."""

import pytest

from harness.errors import SimulationError
from harness.sim.clock import GuardedEnvironment


def test_the_limit_counts_every_source_at_one_instant():
    env = GuardedEnvironment(max_events_same_time=100)

    def burst():
        for _ in range(50):
            yield env.timeout(0)
        yield env.timeout(5)

    env.process(burst())
    env.process(burst())  # two bursts of 50 (+2 process starts) at t=0: 102 consecutive events at one instant
    with pytest.raises(SimulationError, match="clock stuck at t=0"):
        env.run()


def test_bursts_below_the_limit_pass():
    env = GuardedEnvironment(max_events_same_time=100)

    def burst():
        for _ in range(40):
            yield env.timeout(0)
        yield env.timeout(5)

    env.process(burst())
    env.run()
    assert env.now == 5
    assert env.events_processed == 43  # Initialize + 40 + 1 timeout + process end


def test_same_time_event_storm_trips_the_guard():
    env = GuardedEnvironment(max_events_same_time=10_000)

    def frozen():  # the float-residue bug: a model that keeps rescheduling itself 0 ns ahead
        env_now = env.now
        while True:
            yield env.timeout(0)
            assert env.now == env_now

    env.process(frozen())
    with pytest.raises(SimulationError, match="10000 consecutive events"):
        env.run()
    assert env.events_processed == 10_000


def test_time_going_backwards_is_an_error():
    env = GuardedEnvironment()
    env.run(until=100)
    event = env.event()
    event._ok, event._value = True, None
    env.schedule(event, delay=-5)  # SimPy itself does not check the delay here
    with pytest.raises(SimulationError, match="backwards: from t=100 ns to t=95 ns"):
        env.run()


def test_rejects_a_zero_limit():
    with pytest.raises(ValueError, match="max_events_same_time"):
        GuardedEnvironment(max_events_same_time=0)
