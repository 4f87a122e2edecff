"""Argument checks shared by the methods' public constructors: a wrong type or value fails where it is given,
naming the argument, instead of deep inside a later step or silently with another meaning.

Flags are true or false, never a truthy string (``"no"``). Numbers are real numbers, never a bool or a string
(``"0.5"`` would otherwise survive until ``"0.5" * d`` repeats a string). Integers may come as integral floats
(``4.0`` from a YAML file or a sweep axis): they are returned as ``int``; a fractional value (``2.5``) is an error,
never truncated.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np


def check_number(name: str, value: object) -> float:
    """``value`` as a float; TypeError naming ``name`` unless it is a real number (not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    return float(value)


def check_flag(name: str, value: object) -> bool:
    """``value`` as a bool; TypeError naming ``name`` unless it is true or false (a string ``"no"`` is truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected true or false, got {value!r}")
    return bool(value)


def check_flags(config: object) -> None:
    """`check_flag` on every field of dataclass ``config`` declared ``bool``."""
    for f in dataclasses.fields(config):
        if f.type in (bool, "bool"):
            check_flag(f.name, getattr(config, f.name))


def check_integer(name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int; TypeError unless it is a real number (not a bool), ValueError unless it is integral
    and within ``low``..``high`` (each bound when given)."""
    span = (f" in {low}..{high}" if low is not None and high is not None
            else f" >= {low}" if low is not None else f" <= {high}" if high is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected an integer{span}, got {value!r}")
    if not (math.isfinite(value) and int(value) == value) or (low is not None and value < low) or (
            high is not None and value > high):
        raise ValueError(f"{name}: expected an integer{span}, got {value!r}")
    return int(value)
