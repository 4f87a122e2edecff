"""Gaps in the tests of `harness.config.problems` found by a mutation audit.

Closed here:
- a whole-number bound is shown as an integer (``> 0``), but a large one keeps its exponent (``<= 1e+20``), not
  21 digits;
- `allowed_keys` of a union of models lists a member's keys only when a tag picks that member (its tag value,
  its class name, or pydantic's ``function-after[..., Name]``); without one, None (not the first member's keys);
- a mapping given to a ``str | Model`` key is reported by the model's own problems only, not also as "expected a
  string";
- a validator's message is put on a key only when it starts with a key the model has (``high: ...`` gets the
  value added); ``note: ...`` stays a whole message at the top level; a mapping is never dumped after ``got``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from annotated_types import Ge, Gt, Le, Lt
from pydantic import Field, ValidationError, model_validator

from harness.config.blocks import Strict
from harness.config.problems import allowed_keys, describe_type, validation_problems


def test_bounds_are_shown_as_integers_unless_large():
    assert describe_type(Annotated[float, Gt(0.0), Le(1e20)]) == "a number > 0 and <= 1e+20"
    assert describe_type(Annotated[float, Ge(0.0), Lt(2.5)]) == "a number >= 0 and < 2.5"
    assert describe_type(float, (Le(1e14),)) == "a number <= 100000000000000"


class _A(Strict):
    kind: Literal["a"] = "a"
    x: int = 0


class _B(Strict):
    kind: Literal["b"] = "b"
    y: int = 0


class _Holder(Strict):
    u: _A | _B
    one: _A | None = None


def test_allowed_keys_of_a_union_need_a_tag_to_pick_the_member():
    assert allowed_keys(_Holder, ()) == ["one", "u"]
    assert allowed_keys(_Holder, ("one",)) == ["kind", "x"]
    assert allowed_keys(_Holder, ("u",)) is None
    assert allowed_keys(_Holder, ("u",), "b") == ["kind", "y"]
    assert allowed_keys(_Holder, ("u",), "_B") == ["kind", "y"]
    assert allowed_keys(_Holder, ("u",), "function-after[check, _A]") == ["kind", "x"]


class _Dims(Strict):
    layers: int = Field(1, gt=0)


class _Uses(Strict):
    model: str | _Dims = "small"


def test_a_mapping_given_to_a_string_or_model_key_reports_only_the_models_problems():
    with pytest.raises(ValidationError) as info:
        _Uses.model_validate({"model": {"layers": -1}})
    assert validation_problems(info.value, _Uses, {"model": {"layers": -1}}) == [
        "model.layers: expected an integer > 0, got -1"]
    with pytest.raises(ValidationError) as info:
        _Uses.model_validate({"model": 3})
    assert validation_problems(info.value, _Uses, {"model": 3}) == ["model: expected a string or a mapping, got 3"]


class _Range(Strict):
    low: int = 0
    high: int = 0
    tags: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self):
        if self.low > self.high:
            raise ValueError("high: expected a number >= low")
        if self.low == 5:
            raise ValueError("note: five is refused")
        if len(self.tags) > 1:
            raise ValueError("tags: expected at most one tag")
        return self


@pytest.mark.parametrize(("data", "line"), [
    ({"low": 3, "high": 1}, "high: expected a number >= low, got 1"),
    ({"low": 5, "high": 9}, "(top level): note: five is refused"),
    ({"tags": {"a": 1, "b": 2}}, "tags: expected at most one tag"),
])
def test_a_validator_message_names_a_key_only_if_the_model_has_it(data, line):
    with pytest.raises(ValidationError) as info:
        _Range.model_validate(data)
    assert validation_problems(info.value, _Range, data) == [line]
