"""Gaps in the tests of `methods.arguments` found by a mutation audit.

Closed here:
- `check_number` returns a float for any real number (an int, a Fraction, a numpy scalar), never the value as given;
- `check_flags` checks the fields typed with the ``bool`` class itself (a dataclass built at run time), not only
  those whose annotation is the string ``"bool"``;
- the message of an integer with only an upper bound says ``<= high``.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from methods.arguments import check_flags, check_integer, check_number


@pytest.mark.parametrize(("value", "expected"), [(3, 3.0), (Fraction(1, 4), 0.25), (np.int64(-2), -2.0)])
def test_a_number_comes_back_as_a_python_float(value, expected):
    got = check_number("x", value)
    assert type(got) is float and got == expected


def test_flags_typed_with_the_bool_class_are_checked():
    config_type = dataclasses.make_dataclass("Config", [("quiet", bool), ("name", str)])
    assert dataclasses.fields(config_type)[0].type is bool
    check_flags(config_type(quiet=True, name="yes"))
    with pytest.raises(TypeError, match="quiet: expected true or false, got 'no'"):
        check_flags(config_type(quiet="no", name="x"))


def test_an_integer_above_an_upper_bound_names_the_bound():
    with pytest.raises(ValueError) as caught:
        check_integer("n", 5, high=3)
    assert str(caught.value) == "n: expected an integer <= 3, got 5"
    assert check_integer("n", 3, high=3) == 3
