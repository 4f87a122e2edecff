"""Work never done cannot be lost: over any event list (failures more frequent than steps, failures during pauses)
every policy keeps tokens >= 0, tokens/s >= 0 and a drop <= 100 %; Oobleck's in-flight iteration is half a step at
most what was produced since the job last resumed; a zero failure-free speed is refused before any division;
checkpoint-restart's cycles are bounded work however short."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.failures.macro import simulate
from harness.failures.policies import POLICIES, CheckpointRestart, Interruption, Oobleck, Policy, PolicyCosts
from harness.failures.processes import Event

from .conftest import FixedPricer, _Setup

N = 8
HORIZON_H = 0.02  # 72 s: tens of 1 s steps, so the failures below come more often than steps

dense_events = st.lists(
    st.tuples(st.floats(0, HORIZON_H * 0.999), st.integers(0, N - 1), st.floats(0, HORIZON_H), st.booleans()),
    max_size=30,
).map(lambda items: sorted(
    (Event(t, f"device:{d}", "straggle" if straggle else "fail", min(dur, HORIZON_H - t), (d,),
           2.0 if straggle else 1.0) for t, d, dur, straggle in items), key=lambda e: e.time_h))


@settings(max_examples=80, deadline=None)
@given(events=dense_events, detect_s=st.sampled_from([0.0, 0.3, 30.0]), restart_s=st.sampled_from([0.0, 5.0]),
       tokens_per_step=st.sampled_from([1, 1000, 10**6]))
def test_no_policy_loses_work_it_never_did(events, detect_s, restart_s, tokens_per_step):
    pricer = FixedPricer(tokens_per_step=tokens_per_step)
    costs = PolicyCosts(detect_s=detect_s, restart_s=restart_s, storage_bytes_per_s=1e9, job_mtbf_s=20.0)
    for name, cls in POLICIES.items():
        result = simulate(events, cls(pricer, costs), N, HORIZON_H)
        assert result.tokens >= 0.0, name
        assert 0.0 <= result.tokens_per_s <= result.reference_tokens_per_s * (1 + 1e-12), name
        assert result.drop_pct <= 100.0, name
        assert all(math.isfinite(v) for v in (result.tokens, result.drop_pct, result.lost_tokens)), name
        assert all(row["lost_tokens"] <= 0.5 * tokens_per_step * (1 + 1e-12)
                   for row in result.timeline) or name == "checkpoint_restart", name


def _at(seconds: float) -> float:
    return seconds / 3600.0


def test_oobleck_loses_only_what_it_produced_since_it_last_resumed(pricer):
    """A failure long after a resume redoes half a step; one during the pause loses nothing (the iteration in flight
    went at the failure that began it); one 0.1 s after the resume loses those 0.1 s; the same 0.2 s after a repair's
    reconfiguration. The old accounting lost half a step (500 tokens) each time."""
    costs = PolicyCosts(detect_s=30.0)
    copy_3, copy_4 = 1e9 / 3 / costs.network_bytes_per_s, 1e9 / 4 / costs.network_bytes_per_s  # stages of 3 / 4
    t_a = 1800.0
    t_b = t_a + 10.0                      # inside A's pause (30 s + copy)
    t_c = t_b + 30.0 + copy_3 + 0.1       # B's pause ends at t_b + 30 + copy (6 up: two pipelines of 3), then 0.1 s
    t_e = 2700.0 + copy_4 + 0.2           # A back up at 2700 s (all 8 up: pipelines of 4), then 0.2 s
    events = [Event(_at(t_a), "device:0", "fail", _at(900.0), (0,)),
              Event(_at(t_b), "device:1", "fail", _at(36.0), (1,)),
              Event(_at(t_c), "device:2", "fail", _at(36.0), (2,)),
              Event(_at(t_e), "device:3", "fail", _at(36.0), (3,))]
    result = simulate(events, Oobleck(pricer, costs), N, 1.0)
    lost = [row["lost_tokens"] for row in result.timeline if row["event"] == "start_fail"]
    rate_6, rate_8 = 1000 / pricer.pipeline_step_s(6), 1000 / pricer.pipeline_step_s(8)
    assert lost[:2] == [500.0, 0.0]
    assert lost[2] == pytest.approx(rate_6 * 0.1, rel=1e-6)
    assert lost[3] == pytest.approx(rate_8 * 0.2, rel=1e-6)
    assert result.lost_tokens == pytest.approx(sum(lost))


class _Greedy(Policy):
    """A policy claiming to lose far more than was ever produced."""

    name = "greedy"

    def on_failure(self, state, new_down):
        return Interruption(1.0, 1e12)


def test_the_simulation_never_takes_more_than_was_produced(pricer):
    events = [Event(_at(5.0), "device:0", "fail", 0.0, (0,)), Event(_at(50.0), "device:1", "fail", 0.0, (1,))]
    result = simulate(events, _Greedy(pricer, PolicyCosts()), N, _at(100.0))
    assert result.tokens >= 0.0 and result.tokens_per_s >= 0.0 and result.drop_pct <= 100.0
    starts = [row for row in result.timeline if row["event"] == "start_fail"]
    assert [row["lost_tokens"] for row in starts] == pytest.approx([5000.0, 44000.0])
    assert result.lost_per_failure_s == pytest.approx([6.0, 45.0])


def test_a_policy_without_a_failure_free_speed_is_refused_before_any_division():
    """Oobleck with no pipeline template fitting even with every device up (stages_min > devices) has speed 0; the
    old code divided by it (ZeroDivisionError at the first failure, or in the drop)."""
    pricer = FixedPricer(n=4)
    pricer.setup = _Setup(stages_min=5, stages_max=6)
    events = [Event(0.5, "device:0", "fail", 0.1, (0,))]
    for run_events in (events, []):
        with pytest.raises(ValueError, match="oobleck has no positive failure-free speed on 4 devices"):
            simulate(run_events, Oobleck(pricer, PolicyCosts()), 4, 1.0)


@pytest.mark.timeout(60)
def test_checkpoint_cycles_far_shorter_than_an_event_gap_are_bounded_work():
    """A 1 ns write every 1 us over 10 hours is 3.6e10 cycles: the old loop stepped each one (hours); the whole
    cycles are now jumped, to the same tokens and state as stepping them."""
    pricer = FixedPricer()
    costs = PolicyCosts(storage_bytes_per_s=1e18, interval_s=1e-6)  # write 1e9 B / 1e18 B/s = 1 ns
    policy = CheckpointRestart(pricer, costs)
    start = time.perf_counter()
    produced = policy.produce(36_000.0, 1000.0)
    assert time.perf_counter() - start < 5.0
    assert produced == pytest.approx(1000.0 * 36_000.0 * 1e-6 / (1e-6 + 1e-9), rel=1e-9)
    assert 0.0 <= policy.unsaved_tokens <= 1000.0 * 1e-6 * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(chunks=st.lists(st.floats(0.0, 500.0), min_size=1, max_size=8), interval=st.floats(0.05, 3.0),
       write=st.floats(0.01, 2.0))
def test_jumping_whole_checkpoint_cycles_matches_stepping_them(chunks, interval, write):
    pricer = FixedPricer()
    costs = PolicyCosts(storage_bytes_per_s=1e9 / write, interval_s=interval)
    stepped, jumped = CheckpointRestart(pricer, costs), CheckpointRestart(pricer, costs)
    stepped.STEP_CYCLES, jumped.STEP_CYCLES = 10**12, 1
    cycle = stepped.interval_s + stepped.write_s
    for seconds in chunks:
        assert jumped.produce(seconds, 7.0) == pytest.approx(stepped.produce(seconds, 7.0), rel=1e-9, abs=1e-6)
        gap = abs(jumped.phase_s - stepped.phase_s)
        assert min(gap, cycle - gap) <= 1e-6  # the same point of the cycle (rounding may put one just past its end)
        if 1e-6 < stepped.phase_s < cycle - 1e-6:  # away from the write's end, where unsaved drops to 0
            assert jumped.unsaved_tokens == pytest.approx(stepped.unsaved_tokens, rel=1e-6, abs=1e-5)
