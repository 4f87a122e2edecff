"""Gaps in the tests of `harness.sim.clock` and `harness.sim.shared_cores` found by a mutation audit.

Closed here: the first event at a new instant counts towards ``max_events_same_time`` (3 events at one instant
trip a limit of 3, 2 do not); the default limit lets a wide fan-out at one instant run; `SharedCores.run` refuses
any negative work and finishes zero work at once (the event is triggered before the clock moves); a job 1 ns of
work behind another is not finished with it; wake-ups happen at starts and finishes only (a hand-counted number of
events, whatever the work: waking early, acting on stale wake-ups or never making them stale all gave the same
finish times with more events).
"""

from __future__ import annotations

import pytest

from harness.errors import SimulationError
from harness.sim.clock import GuardedEnvironment
from harness.sim.shared_cores import SharedCores


def _events_at(env: GuardedEnvironment, t_ns: int, n: int) -> None:
    for _ in range(n):
        env.timeout(t_ns)


def test_the_first_event_at_a_new_instant_counts_towards_the_limit():
    env = GuardedEnvironment(max_events_same_time=3)
    _events_at(env, 5, 2)
    env.run()
    assert env.now == 5 and env.events_processed == 2
    env = GuardedEnvironment(max_events_same_time=3)
    _events_at(env, 5, 3)
    with pytest.raises(SimulationError, match="stuck at t=5"):
        env.run()


def test_the_default_limit_lets_a_wide_fan_out_at_one_instant_run():
    env = GuardedEnvironment()
    _events_at(env, 7, 20_000)  # a collective starting on 20,000 links at once
    env.run()
    assert env.now == 7 and env.events_processed == 20_000


@pytest.mark.parametrize("work_ns", [-1, -0.5])
def test_negative_work_is_refused(work_ns):
    with pytest.raises(ValueError, match="work must be >= 0"):
        SharedCores(GuardedEnvironment(), 2).run(work_ns)


def test_zero_work_is_done_at_once():
    env = GuardedEnvironment()
    done = SharedCores(env, 1).run(0)
    assert done.triggered and env.now == 0


def _finish_times(cores: int, works: list[int]) -> tuple[list[int], int]:
    env = GuardedEnvironment()
    shared = SharedCores(env, cores)
    finished: dict[int, int] = {}
    for i, work in enumerate(works):
        shared.run(work).callbacks.append(lambda _e, i=i: finished.__setitem__(i, env.now))
    env.run()
    return [finished[i] for i in range(len(works))], env.events_processed


def test_a_job_one_ns_of_work_behind_another_is_not_finished_with_it():
    # one core, 100 and 101 ns of work: both at half speed until t=200 (the first done, the second 1 ns short),
    # then the second alone at full speed for 1 ns
    assert _finish_times(1, [100, 101])[0] == [200, 201]


@pytest.mark.parametrize("work_ns", [100, 10**6])
def test_two_jobs_on_one_core_cost_eight_events_whatever_their_work(work_ns):
    """Wake-ups happen at starts and finishes only. Hand count: the first job's wake-up process (start, its
    timeout at ``work``, its end: it finds itself stale), the second's (start, its timeout at ``2 work``, its
    end) and the two done events: 8."""
    finished, events = _finish_times(1, [work_ns, work_ns])
    assert finished == [2 * work_ns, 2 * work_ns]
    assert events == 8
