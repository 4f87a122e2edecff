"""Gaps in the tests of `harness.config.numbers` found by a mutation audit.

Closed here:
- the magnitude limit is inclusive: 2**53 itself is a plain number, 2**53 + 1 is refused (``seed`` has no bound of
  its own);
- true/false is refused only where a field takes a number and no boolean (``float | bool``, ``Any`` or a
  ``Literal`` holding ``True`` take it);
- list and tuple elements are checked by their own type: a fixed-length tuple pairs each element with its type,
  a ``tuple[int, ...]`` checks every element;
- above 2**53 a field's own upper bound (``le`` or ``lt``, in the field's metadata or its ``Annotated`` type) lets
  pydantic check the value, but an integer beyond a float's range is refused even there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from annotated_types import Le, Lt

from harness.config.loader import validate_data
from harness.config.numbers import number_problem
from harness.errors import ScenarioError

LIMIT = 9_007_199_254_740_992  # 2**53


def test_the_magnitude_limit_is_inclusive():
    assert number_problem(LIMIT, int) is None
    assert number_problem(-float(LIMIT), float) is None
    assert number_problem(LIMIT + 1, int) == "a number of magnitude at most 2**53 (9.01e+15)"
    assert validate_data({"name": "a", "kind": "toy", "seed": LIMIT}, "f").seed == LIMIT
    with pytest.raises(ScenarioError) as info:
        validate_data({"name": "a", "kind": "toy", "seed": LIMIT + 1}, "f")
    assert info.value.problems == ["f: seed: expected a number of magnitude at most 2**53 (9.01e+15), "
                                   "got 9007199254740993"]


def test_true_false_is_refused_only_where_no_boolean_is_taken():
    assert number_problem(True, int) == "a number, not true/false"
    assert number_problem(True, int | Literal["auto"]) == "a number, not true/false"
    assert number_problem(True, float | bool) is None
    assert number_problem(True, int | Any) is None
    assert number_problem(False, int | Literal["auto", True]) is None


def test_list_and_tuple_elements_are_checked_by_their_own_type():
    assert number_problem([1, True], list[int]) == "a list of numbers (not true/false)"
    assert number_problem([1, 2**60], list[float]) == "a list of numbers (each of magnitude at most 2**53)"
    assert number_problem((1, True), tuple[int, ...]) == "a list of numbers (not true/false)"
    assert number_problem((1, True), tuple[int, str]) is None
    assert number_problem(("a", True), tuple[str, int]) == "a list of numbers (not true/false)"


def test_a_fields_own_bound_takes_over_above_the_limit_except_beyond_a_float():
    assert number_problem(2**60, float) == "a number of magnitude at most 2**53 (9.01e+15)"
    assert number_problem(2**60, Annotated[float, Le(1e30)]) is None
    assert number_problem(2**60, Annotated[float, Lt(1e30)]) is None
    assert number_problem(2**60, float, (Lt(1e30),)) is None
    assert number_problem(10**400, Annotated[float, Le(2.0**40)]) == "a number of magnitude at most 2**53 (9.01e+15)"
    with pytest.raises(ScenarioError) as info:
        validate_data({"name": "a", "kind": "toy", "workload": {"mean_size_bytes": 10**400}}, "f")
    assert info.value.problems[0].startswith("f: workload.mean_size_bytes: expected a number of magnitude at most "
                                             "2**53 (9.01e+15), got 1000")
