"""`GuardedEnvironment`: a SimPy environment that fails loudly instead of hanging or running backwards.

Two failure modes of discrete-event models are silent in plain SimPy (research notes, harness_anchors.md §4.4):
a floating-point residue that makes a model reschedule itself after ~0 s forever (the clock freezes while events
keep coming), and an event scheduled in the past (the clock runs backwards). This environment counts every
processed event and raises `harness.errors.SimulationError` when ``max_events_same_time`` events in a row run
without ``now`` advancing, or when ``now`` ever decreases. Every simulation in `harness.sim` runs in one.
Time is integer nanoseconds by project convention (`harness.sim.units`).
"""

from __future__ import annotations

import simpy

from harness.errors import SimulationError

DEFAULT_MAX_EVENTS_SAME_TIME = 1_000_000
_simpy_step = simpy.Environment.step  # called directly: the guard runs once per event, so every lookup counts


class GuardedEnvironment(simpy.Environment):
    """A `simpy.Environment` with a stopped-clock watchdog and a monotonic-time check.

    Args:
        initial_time_ns: the start time (integer ns).
        max_events_same_time: how many consecutive events may share one ``now`` before the run is declared
            stuck. Legitimate models schedule many events at one instant (a collective starting on every link),
            so keep this far above the widest fan-out of the model; 1e6 is the default.

    Attributes:
        events_processed: events processed so far (all of them, including same-time ones).
    """

    def __init__(self, initial_time_ns: int = 0, max_events_same_time: int = DEFAULT_MAX_EVENTS_SAME_TIME):
        if max_events_same_time < 1:
            raise ValueError(f"max_events_same_time: expected an integer >= 1, got {max_events_same_time!r}")
        super().__init__(initial_time_ns)
        self.max_events_same_time = int(max_events_same_time)
        self.events_processed = 0
        self._events_at_now = 0

    def step(self) -> None:
        before_ns = self._now
        _simpy_step(self)
        self.events_processed += 1
        now_ns = self._now
        if now_ns == before_ns:
            self._events_at_now += 1
            if self._events_at_now >= self.max_events_same_time:
                raise SimulationError(
                    f"simulation clock stuck at t={now_ns} ns: {self._events_at_now} consecutive events without "
                    f"time advancing (limit max_events_same_time={self.max_events_same_time}); a model is "
                    "rescheduling itself with zero delay (floating-point residue?)"
                )
        elif now_ns > before_ns:
            self._events_at_now = 1
        else:
            raise SimulationError(f"simulation time went backwards: from t={before_ns} ns to t={now_ns} ns")
