"""Gaps in the tests of `timing` found by a mutation audit.

- `time_interleaved` runs one warm-up round by default: ``repeats + 1`` calls of each implementation, rounds
  numbered from 0, the first one not kept.
"""

from __future__ import annotations

from methods.moc.timing import time_interleaved


def test_one_warm_up_round_by_default():
    rounds: list[tuple[str, int]] = []
    times = time_interleaved({"a": lambda i: rounds.append(("a", i)), "b": lambda i: rounds.append(("b", i))},
                             repeats=2)
    assert rounds == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert [len(times["a"]), len(times["b"])] == [2, 2]
