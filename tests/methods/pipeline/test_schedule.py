"""Pipeline schedules: every (stage, micro-batch, phase) exactly once, dependencies orderable, 1F1B keeps at most
p micro-batches in flight, GPipe keeps all m."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import methods.pipeline.aqsgd
import methods.pipeline.bits
import methods.pipeline.codecs
import methods.pipeline.schedule
from methods.pipeline.schedule import SCHEDULES, make_schedule

shapes = st.tuples(st.integers(1, 9), st.integers(1, 40))


@settings(max_examples=60, deadline=None)
@given(shape=shapes, name=st.sampled_from(SCHEDULES))
def test_every_event_once_forward_before_backward(shape, name):
    p, m = shape
    schedule = make_schedule(name, p, m)
    assert (schedule.name, schedule.n_stages, schedule.n_micro_batches, len(schedule.per_stage)) == (name, p, m, p)
    for s in range(p):
        events = schedule.stage_events(s)
        assert sorted((e.micro_batch, e.phase) for e in events) == sorted(
            [(i, "F") for i in range(m)] + [(i, "B") for i in range(m)])
        position = {(e.micro_batch, e.phase): k for k, e in enumerate(events)}
        assert all(position[(i, "F")] < position[(i, "B")] for i in range(m))
        assert all(e.stage == s for e in events)
    assert len(schedule.events) == 2 * p * m


@settings(max_examples=60, deadline=None)
@given(shape=shapes)
def test_1f1b_peak_in_flight_at_most_p_and_gpipe_holds_all(shape):
    p, m = shape
    one = make_schedule("1f1b", p, m)
    for s in range(p):
        assert one.peak_in_flight(s) == min(p - s, m) <= p
        assert make_schedule("gpipe", p, m).peak_in_flight(s) == m


def test_unknown_schedule_and_bad_sizes():
    with pytest.raises(ValueError, match="unknown schedule 'zb'; known: gpipe, 1f1b"):
        make_schedule("zb", 2, 2)
    with pytest.raises(ValueError, match="n_stages >= 1"):
        make_schedule("gpipe", 0, 2)


@pytest.mark.parametrize("module", [methods.pipeline.schedule, methods.pipeline.codecs, methods.pipeline.aqsgd,
                                    methods.pipeline.bits])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
