"""Gaps a mutation audit found in methods/pipeline/schedule.py: the exact event order of GPipe (backwards from the
last micro-batch) and of 1F1B (warm-up, steady, drain; fewer micro-batches than stages), written out by hand, and
the refusal of zero micro-batches."""

from __future__ import annotations

import pytest

from methods.pipeline.schedule import gpipe, make_schedule, one_f_one_b


def _lists(schedule) -> list[list[str]]:
    return [[str(e) for e in schedule.stage_events(s)] for s in range(schedule.n_stages)]


def test_gpipe_runs_every_forward_then_the_backwards_last_micro_batch_first():
    assert _lists(gpipe(2, 3)) == [["F0", "F1", "F2", "B2", "B1", "B0"]] * 2


def test_1f1b_of_3_stages_and_4_micro_batches():
    assert _lists(one_f_one_b(3, 4)) == [
        ["F0", "F1", "F2", "B0", "F3", "B1", "B2", "B3"],  # 2 warm-up forwards
        ["F0", "F1", "B0", "F2", "B1", "F3", "B2", "B3"],  # 1
        ["F0", "B0", "F1", "B1", "F2", "B2", "F3", "B3"],  # none: the last stage alternates from the start
    ]


def test_1f1b_with_fewer_micro_batches_than_stages_warms_up_with_all_of_them():
    assert _lists(one_f_one_b(4, 2)) == [["F0", "F1", "B0", "B1"]] * 2 + [
        ["F0", "F1", "B0", "B1"], ["F0", "B0", "F1", "B1"]]
    assert [make_schedule("1f1b", 4, 2).peak_in_flight(s) for s in range(4)] == [2, 2, 2, 1]


@pytest.mark.parametrize("name", ["gpipe", "1f1b"])
def test_zero_micro_batches_are_refused(name):
    with pytest.raises(ValueError, match="n_micro_batches >= 1"):
        make_schedule(name, 2, 0)
