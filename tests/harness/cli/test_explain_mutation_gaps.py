"""Gaps in the tests of `harness.commands.explain` found by a mutation audit.

Closed:
- a default whose JSON text is exactly `MAX_DEFAULT_CHARS` (36) characters is shown whole, not cut;
- a longer default is cut to exactly 36 characters, the last three being "...";
- a bound that is a whole float of 1e16 or more is written in short form (1e+20), not as 21 digits;
- each bound (exclusive and inclusive minimum and maximum, item counts) is written with its own symbol.
"""

from __future__ import annotations

from harness.commands.explain import _allowed, _default, _number


def test_a_default_of_exactly_36_characters_is_shown_whole():
    text = _default("name", {"default": "x" * 34}, [])  # JSON '"' + 34 x + '"': 36 characters
    assert text == '"' + "x" * 34 + '"'
    assert len(text) == 36


def test_a_default_of_37_characters_is_cut_to_36_with_an_ellipsis():
    text = _default("name", {"default": "y" * 35}, [])  # 37 characters as JSON
    assert text == '"' + "y" * 32 + "..."
    assert len(text) == 36


def test_a_required_key_and_a_key_without_default():
    assert _default("name", {"default": 1}, ["name"]) == "required"
    assert _default("name", {}, []) == "-"


def test_a_huge_whole_float_bound_is_written_short_and_a_small_one_as_an_integer():
    assert _number(1e20) == "1e+20"
    assert _number(1e16) == "1e+16"
    assert _number(5.0) == "5"
    assert _number(2.5) == "2.5"
    assert _number(7) == "7"


def test_allowed_writes_each_bound_with_its_own_symbol():
    schema = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1.0}
    assert _allowed(schema, {}) == "> 0, < 1"
    schema = {"type": "integer", "minimum": 2, "maximum": 9}
    assert _allowed(schema, {}) == ">= 2, <= 9"


def test_allowed_writes_the_item_count_bounds_of_a_list():
    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 4}
    assert _allowed(schema, {}) == "items >= 1, items <= 4"
