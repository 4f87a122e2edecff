"""Numbers a scenario file may hold: no booleans for counts, nothing beyond 2**53 without a field's own bound.

pydantic's lax mode reads ``nodes: true`` as 1 and keeps ``mean_size_bytes: 1e30``, which later overflows an
int64. `plain_numbers` is the before-validator every config model (`harness.config.blocks.Strict`) runs on its
input: a boolean where a field wants a number (and not a boolean) is refused, and a number whose magnitude is above
`MAX_MAGNITUDE` (2**53, the largest integer a float64 holds exactly) is refused unless the field declares its own
upper bound (``le``/``lt``), which pydantic then checks (an integer beyond a float's range is refused either way).
Infinity and NaN are refused by the models' config (``allow_inf_nan=False``). Lists and tuples of numbers
(``channels: [16, 32]``) are checked element by element.
"""

from __future__ import annotations

import math
import sys
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Le, Lt
from pydantic import BaseModel

MAX_MAGNITUDE = 2**53


def _members(annotation: Any) -> list[Any]:
    """The plain types a field accepts (``Annotated`` and unions flattened)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _bounded(annotation: Any, metadata: tuple[Any, ...]) -> bool:
    """True if the field (or its ``Annotated`` type) declares an upper bound."""
    items = list(metadata)
    while get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        items.extend(extra)
    return any(isinstance(item, (Le, Lt)) for item in items)


def _wants(members: list[Any]) -> tuple[bool, bool]:
    """(accepts a number, accepts a boolean) for a field of these member types."""
    numbers = any(m in (int, float) for m in members)
    booleans = any(m is bool or m is Any for m in members) or any(
        get_origin(m) is Literal and any(isinstance(choice, bool) for choice in get_args(m)) for m in members
    )
    return numbers, booleans


def number_problem(value: Any, annotation: Any, metadata: tuple[Any, ...] = ()) -> str | None:
    """Why ``value`` is not a plain number for a field of ``annotation`` (None if it is fine or not a number)."""
    members = _members(annotation)
    numbers, booleans = _wants(members)
    if isinstance(value, bool):
        return "a number, not true/false" if numbers and not booleans else None
    if isinstance(value, (int, float)):
        finite = isinstance(value, int) or math.isfinite(value)  # an int can be too large for math.isfinite
        # a field's own bound is checked by pydantic, but only on a value a float can hold
        beyond_float = isinstance(value, int) and abs(value) > sys.float_info.max
        if numbers and finite and abs(value) > MAX_MAGNITUDE and (beyond_float or not _bounded(annotation, metadata)):
            return f"a number of magnitude at most 2**53 ({MAX_MAGNITUDE:.2e})"
        return None
    if isinstance(value, (list, tuple)):
        for member in members:
            origin, args = get_origin(member), get_args(member)
            if origin in (list, tuple) and args:
                element_types = args[:1] * len(value) if origin is list or args[-1:] == (...,) else args
                for element, element_type in zip(value, element_types):
                    if number_problem(element, element_type):
                        what = "not true/false" if isinstance(element, bool) else "each of magnitude at most 2**53"
                        return f"a list of numbers ({what})"
    return None


def plain_numbers(model: type[BaseModel], data: Any) -> Any:
    """``data`` unchanged, or ValueError("<key>: expected ..., got ...") for its first field `number_problem` refuses.

    A model-level before-validator (a field-level one cannot run on a tagged union's tag field).
    """
    if not isinstance(data, dict):
        return data
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        metadata = tuple(field.metadata)
        problem = number_problem(value, field.annotation, metadata)
        if problem:
            if isinstance(value, bool):
                from harness.config.problems import describe_type

                problem = describe_type(field.annotation, metadata)
            from harness.config.problems import show_value

            raise ValueError(f"{key}: expected {problem}, got {show_value(value)}")
    return data
