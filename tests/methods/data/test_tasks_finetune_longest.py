"""`longest_example`: the longest ``prompt + answer`` each task draws, checked against many drawn examples and
hand-written extremes."""

from __future__ import annotations

import numpy as np
import pytest

from methods.data import tasks_finetune as tf


@pytest.mark.parametrize("digits", [1, 2, 3, 4])
@pytest.mark.parametrize("task", tf.TASKS)
def test_no_drawn_example_is_longer_than_the_bound(task, digits):
    rng = np.random.default_rng([digits, 7])
    drawn = max(len(ex.prompt + ex.answer) for ex in (tf.make_example(task, rng, digits) for _ in range(3000)))
    assert drawn <= tf.longest_example(task, digits)
    if task not in ("add", "mod", "category") or (task == "add" and digits == 1):
        assert drawn == tf.longest_example(task, digits)  # small domains: 3000 draws reach the longest


@pytest.mark.parametrize(("task", "digits", "longest"), [
    ("add", 1, "9+9=18."), ("category", 2, "adjective? bright watches barbara:bright."), ("add", 3, "999+999=1998."), ("mod", 2, "(99+99)%9=8."),
    ("larger", 1, "larger? 98 99:99."), ("even", 4, "is 98 even? yes no:yes."), ("next", 2, "after 97? 98 96 99:98."),
])
def test_the_bound_is_the_longest_example_by_hand(task, digits, longest):
    """category: the longest role name with its longest word (an option and the answer) and the longest words of
    two other roles (corpus words: adjective "bright", verb "watches", name "barbara")."""
    assert tf.longest_example(task, digits) == len(longest)


def test_an_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown task 'sum'"):
        tf.longest_example("sum")
