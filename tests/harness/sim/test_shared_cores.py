"""`harness.sim.shared_cores.SharedCores`: processor sharing of CPU cores in a SimPy world."""

from __future__ import annotations

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.sim.clock import GuardedEnvironment
from harness.sim.shared_cores import SharedCores


def _finish_times(cores: int, jobs: list[tuple[int, int]]) -> list[float]:
    """Finish time of each (start ns, work ns) job on ``cores`` shared cores."""
    env = GuardedEnvironment(max_events_same_time=10_000)  # a stuck clock raises instead of hanging
    shared = SharedCores(env, cores)
    finished = [float("nan")] * len(jobs)

    def job(i: int, start: int, work: int):
        yield env.timeout(start)
        yield shared.run(work)
        finished[i] = env.now

    for i, (start, work) in enumerate(jobs):
        env.process(job(i, start, work))
    env.run()
    return finished


def test_two_jobs_on_one_core_each_run_at_half_speed():
    assert _finish_times(1, [(0, 100), (0, 100)]) == [200, 200]


def test_a_job_that_ends_early_leaves_its_share_to_the_others():
    # 3 jobs on 2 cores at 2/3 speed; the small ones finish at 1.5 us, then the big one runs alone at full speed
    assert _finish_times(2, [(0, 10_000), (0, 1_000), (0, 1_000)]) == pytest.approx([10_500, 1_500, 1_500], abs=2)


def test_a_late_arrival_slows_the_running_job_only_from_then_on():
    # job 0 runs alone for 50 ns (50 done), then both share one core: job 0's last 50 take 100 ns
    assert _finish_times(1, [(0, 100), (50, 100)]) == pytest.approx([150, 200], abs=2)


def test_no_more_jobs_than_cores_run_at_full_speed_and_zero_work_is_immediate():
    assert _finish_times(4, [(0, 70), (10, 30), (5, 0)]) == [70, 40, 5]
    with pytest.raises(ValueError, match="cores"):
        SharedCores(simpy.Environment(), 0)


@settings(max_examples=60, deadline=None)
@given(cores=st.integers(1, 4), jobs=st.lists(st.integers(1, 10**6), min_size=1, max_size=8))
def test_jobs_started_together_finish_between_the_two_bounds(cores, jobs):
    # work-conserving while at least `cores` jobs run, and no job beats its own work: the last one finishes no
    # earlier than max(longest job, total work / cores) and no later than the total work on one core
    last = max(_finish_times(cores, [(0, w) for w in jobs]))
    assert max(max(jobs), sum(jobs) / cores) - 2 <= last <= sum(jobs) + 2
