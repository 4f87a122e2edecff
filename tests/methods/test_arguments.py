"""methods/arguments.py: the shared argument checks."""

import math

import numpy as np
import pytest

from methods.arguments import check_flag, check_integer, check_number


def test_integers_come_as_ints_or_integral_floats_within_bounds():
    assert check_integer("n", 4) == 4 and check_integer("n", 4.0) == 4 and check_integer("n", np.int64(3), 1, 3) == 3
    assert type(check_integer("n", 4.0)) is int
    for bad in (2.5, math.inf, math.nan, 0, 5):
        with pytest.raises(ValueError, match=r"n: expected an integer in 1\.\.4, got "):
            check_integer("n", bad, 1, 4)
    for bad in (True, "3", None):
        with pytest.raises(TypeError, match=r"n: expected an integer >= 0, got "):
            check_integer("n", bad, 0)


def test_numbers_are_real_numbers_not_bools_or_strings():
    assert check_number("x", np.float32(0.5)) == 0.5 and check_number("x", 3) == 3.0
    for bad in (True, "0.5", None, 1j):
        with pytest.raises(TypeError, match="x: expected a number, got "):
            check_number("x", bad)


def test_flags_are_true_or_false_only():
    assert check_flag("f", True) is True and check_flag("f", np.bool_(False)) is False
    for bad in ("no", 1, None):
        with pytest.raises(TypeError, match="f: expected true or false, got "):
            check_flag("f", bad)
