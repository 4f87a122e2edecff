"""Gaps in the tests of `harness.config.plugins` found by a mutation audit (its other tests live with the compressed
kinds, outside the config folder).

Closed here, on a hand-made plug-in family:
- a valid name and parameters give no problem: a field with ``init=False`` is no parameter, one with a
  ``default_factory`` is optional;
- an unknown name (or one that is no string) lists the known ones;
- parameters are strict: no ``"0.2"`` or ``true`` for a number, no NaN, no unknown key; the first problem is the one
  reported;
- a ValueError of the plug-in's own check that names a field (``w.ratio: ...``) is moved onto that parameter's key;
  any other ValueError or TypeError is one line naming the plug-in.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from harness.config.plugins import plugin_problem
from harness.registry import Registry

WIDGETS: Registry[type] = Registry("widget")


@WIDGETS.register("w")
@dataclasses.dataclass
class Widget:
    ratio: float = 0.5
    sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    state: int = dataclasses.field(init=False)

    def __post_init__(self):
        if not 0 < self.ratio <= 1:
            raise ValueError(f"w.ratio: expected a number in (0, 1], got {self.ratio}")
        if self.ratio == 0.25:
            raise ValueError("no quarter")
        if self.ratio == 0.75:
            raise TypeError("three quarters")
        self.state = 0


def _build(name: str, **params):
    return WIDGETS.get(name)(**params)


def _problem(name, params):
    return plugin_problem(WIDGETS, name, params, "technique", _build)


def test_valid_parameters_give_no_problem():
    assert _problem("w", {}) is None
    assert _problem("w", {"ratio": 1.0, "sizes": [3]}) is None


@pytest.mark.parametrize(("name", "line"), [
    ("x", "technique.name: unknown widget 'x'; known: 'w'"),
    (3, "technique.name: unknown widget 3; known: 'w'"),
])
def test_an_unknown_name_lists_the_known_ones(name, line):
    assert _problem(name, {}) == line


@pytest.mark.parametrize(("params", "line"), [
    ({"ratio": "0.2"}, "technique.params.ratio: expected a number, got '0.2'"),
    ({"ratio": True}, "technique.params.ratio: expected a number, got true"),
    ({"ratio": math.nan}, "technique.params.ratio: expected a finite number, got nan"),
    ({"state": 1}, "technique.params.state: no such key (allowed: ratio, sizes)"),
    ({"sizes": [1, "a"], "ratio": "b"}, "technique.params.ratio: expected a number, got 'b'"),
])
def test_parameters_are_strict_and_the_first_problem_is_reported(params, line):
    assert _problem("w", params) == line


@pytest.mark.parametrize(("ratio", "line"), [
    (2.0, "technique.params.ratio: expected a number in (0, 1], got 2.0"),
    (0.25, "technique.params: widget 'w': no quarter"),
    (0.75, "technique.params: widget 'w': three quarters"),
])
def test_the_plugins_own_checks_become_one_line(ratio, line):
    assert _problem("w", {"ratio": ratio}) == line
