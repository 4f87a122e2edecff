"""Gaps in the tests of `harness.config.overrides` found by a mutation audit.

Closed here:
- two merge keys (``<<``) in one mapping are no duplicate key: both are merged (the first wins a shared key);
- `set_path` through a key that holds null makes it a mapping (``sweep: null`` in a file, then
  ``--set sweep.product...``); through any other non-mapping it is an OverrideError naming the key;
- an override of the tune block itself is never "changed by an axis", even where a (refused) sweep axis names it.
"""

from __future__ import annotations

import pytest

from harness.config.overrides import Override, OverrideError, overridden_by_an_axis, parse_yaml_text, set_path


def test_two_merge_keys_in_one_mapping_are_not_a_duplicate():
    text = "a: &x {p: 1}\nb: &y {q: 2, p: 3}\nc:\n  <<: *x\n  <<: *y\n"
    assert parse_yaml_text(text)["c"] == {"p": 1, "q": 2}


def test_set_path_replaces_a_null_on_the_way_and_refuses_other_values():
    data = {"a": None, "n": 3}
    set_path(data, ("a", "b", "c"), 1)
    assert data == {"a": {"b": {"c": 1}}, "n": 3}
    with pytest.raises(OverrideError, match=r"^n is 3, not a mapping, so it has no key 'x'$"):
        set_path(data, ("n", "x"), 1)
    with pytest.raises(OverrideError, match=r"^a\.b\.c is 1, not a mapping, so it has no key 'd'$"):
        set_path(data, ("a", "b", "c", "d"), 1)


def test_an_override_of_the_tune_block_is_never_replaced_by_an_axis():
    data = {"sweep": {"product": {"tune.metric": ["a", "b"], "seed": [1, 2]}},
            "tune": {"axis": "tune.values", "values": [1]}}
    assert overridden_by_an_axis(data, Override("tune.metric=x", ("tune", "metric"), "x")) is None
    assert overridden_by_an_axis(data, Override("tune.values=[2]", ("tune", "values"), [2])) is None
    assert overridden_by_an_axis(data, Override("seed=3", ("seed",), 3)).startswith("seed is a sweep axis")
