"""Pydantic validation errors reworded for people: one line per problem, ``<key.path>: expected <what>, got <value>``.

Also the small helpers that walk a scenario model along a dotted key path (which keys exist, what type a key
wants); the loader uses them for unknown-key messages and the sweep for checking its axis paths.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, ValidationError

NOT_FOUND = object()
MAX_SHOWN_CHARS = 60


# ----------------------------------------------------------------------------------------- values and types


def show_value(value: Any) -> str:
    """A short YAML-like rendering of a user's value for an error line (``-5``, ``'abc'``, ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=repr, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[: MAX_SHOWN_CHARS - 3] + "..."
    return text


def _number(value: Any) -> str:
    """``0.0`` -> ``0``; other values as they are."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated[...]`` and ``X | None`` down to the one type a key holds."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def annotation_at(model: type[BaseModel], path: Sequence[str | int]) -> Any:
    """The type annotation of the key at ``path`` inside ``model``, or `NOT_FOUND` if no such key exists.

    Keys of a ``dict[str, X]`` field are free (any key exists, its type is ``X``); below ``Any`` anything exists.
    """
    annotation: Any = model
    for key in path:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if annotation is Any:
            return Any
        if _is_model(annotation):
            field = annotation.model_fields.get(str(key))
            if field is None:
                return NOT_FOUND
            annotation = field.annotation
        elif origin in (dict, Mapping) or annotation is dict:
            args = get_args(annotation)
            annotation = args[1] if len(args) == 2 else Any
        elif origin in (list, tuple, Sequence) or annotation in (list, tuple):
            if not (isinstance(key, int) or str(key).isdigit()):
                return NOT_FOUND
            args = get_args(annotation)
            annotation = args[0] if args else Any
        else:
            return NOT_FOUND
    return annotation


def allowed_keys(model: type[BaseModel], path: Sequence[str | int]) -> list[str] | None:
    """The keys a mapping at ``path`` accepts (sorted), or None if it is free-form or unknown."""
    annotation = _unwrap(annotation_at(model, path))
    if _is_model(annotation):
        return sorted(annotation.model_fields)
    return None


def literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    annotation = _unwrap(annotation)
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    return None


def one_of(choices: Sequence[Any]) -> str:
    return "one of " + ", ".join(show_value(choice) for choice in choices)


def describe_type(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """What a key wants, in words: ``an integer > 0``, ``one of 'fifo', 'fair'``, ``a mapping``."""
    for item in _annotated_metadata(annotation):
        metadata = (*metadata, item)
    choices = literal_choices(annotation)
    if choices is not None:
        return one_of(choices)
    base = _unwrap(annotation)
    if base is bool:
        return "true or false"
    words = {int: "an integer", float: "a number", str: "a string"}.get(base)
    if words is None:
        origin = get_origin(base) or base
        if _is_model(base) or origin in (dict, Mapping):
            words = "a mapping"
        elif origin in (list, tuple, Sequence):
            words = "a list"
        else:
            words = "a value"
    bounds = []
    for item in metadata:
        for cls, symbol in ((Gt, "gt"), (Ge, "ge"), (Lt, "lt"), (Le, "le")):
            if isinstance(item, cls):
                op = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[symbol]
                bounds.append(f"{op} {_number(getattr(item, symbol))}")
        if isinstance(item, MinLen) and item.min_length:
            bounds.append(f"of length >= {item.min_length}")
        if isinstance(item, MaxLen):
            bounds.append(f"of length <= {item.max_length}")
    return " ".join([words, *bounds])


def _annotated_metadata(annotation: Any) -> tuple[Any, ...]:
    collected: tuple[Any, ...] = ()
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            args = get_args(annotation)
            collected += tuple(args[1:])
            annotation = args[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return collected
            annotation = members[0]
        else:
            return collected


def describe_field(model: type[BaseModel], path: Sequence[str | int]) -> str | None:
    """What the model field at ``path`` wants, including its constraints, or None if unknown."""
    if not path:
        return None
    parent = _unwrap(annotation_at(model, path[:-1]))
    if not _is_model(parent):
        return None
    field = parent.model_fields.get(str(path[-1]))
    if field is None:
        return None
    return describe_type(field.annotation, field.metadata)


# ----------------------------------------------------------------------------------------- pydantic errors


def _real_path(loc: tuple[Any, ...], data: Any, error_type: str) -> tuple[Any, ...]:
    """The part of pydantic's ``loc`` that names keys of the user's data (drops union-member tags)."""
    path: list[Any] = []
    node = data
    for position, key in enumerate(loc):
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, Mapping) and str(key) in {str(k) for k in node}:
            node = next(v for k, v in node.items() if str(k) == str(key))
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        elif position == len(loc) - 1 and error_type == "missing":
            path.append(key)
            break
        else:
            break
        path.append(key)
    return tuple(path)


def dotted(path: Sequence[Any]) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _expected(error: Mapping[str, Any], model: type[BaseModel], path: tuple[Any, ...]) -> str:
    """``expected ...`` words for one pydantic error (without the ``got`` part)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    comparisons = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
                   "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}
    if kind in comparisons:
        symbol, key = comparisons[kind]
        noun = "an integer" if isinstance(error.get("input"), int) and isinstance(ctx.get(key), int) else "a number"
        return f"{noun} {symbol} {_number(ctx.get(key))}"
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return "an integer"
    if kind in ("float_type", "float_parsing"):
        return "a number"
    if kind == "finite_number":
        return "a finite number"
    if kind in ("bool_type", "bool_parsing"):
        return "true or false"
    if kind in ("string_type", "string_unicode"):
        return "a string"
    if kind == "string_pattern_mismatch":
        return f"a string matching {ctx.get('pattern')}"
    if kind in ("string_too_short", "too_short"):
        return f"at least {ctx.get('min_length')} item(s)" if kind == "too_short" else \
            f"a string of at least {ctx.get('min_length')} character(s)"
    if kind in ("string_too_long", "too_long"):
        return f"at most {ctx.get('max_length')} item(s)" if kind == "too_long" else \
            f"a string of at most {ctx.get('max_length')} character(s)"
    if kind in ("list_type", "tuple_type", "set_type", "iterable_type"):
        return "a list"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return "a mapping"
    if kind == "literal_error":
        choices = literal_choices(annotation_at(model, path))
        return one_of(choices) if choices else f"one of {ctx.get('expected')}"
    if kind == "none_required":
        return "null"
    message = str(error.get("msg", "a valid value"))
    prefix = "Input should be "
    return message[len(prefix):] if message.startswith(prefix) else message


def validation_problems(err: ValidationError, model: type[BaseModel], data: Any) -> list[str]:
    """One ``<key.path>: ...`` line per problem in ``err``, in pydantic's order.

    Errors that pydantic reports once per member of a union (``int | str``) become one line
    (``expected an integer or a string, got [1]``).
    """
    order: list[tuple[Any, ...]] = []
    fixed_text: dict[tuple[Any, ...], str] = {}
    expectations: dict[tuple[Any, ...], list[str]] = {}
    values: dict[tuple[Any, ...], Any] = {}
    for error in err.errors():
        kind = error["type"]
        path = _real_path(tuple(error["loc"]), data, kind)
        if path not in order:
            order.append(path)
        if kind == "extra_forbidden":
            allowed = allowed_keys(model, path[:-1])
            listing = ", ".join(allowed) if allowed else "none"
            fixed_text.setdefault(path, f"no such key (allowed: {listing})")
        elif kind == "missing":
            wanted = describe_field(model, path)
            fixed_text.setdefault(path, "missing required key" + (f" (expected {wanted})" if wanted else ""))
        elif kind == "invalid_key":
            fixed_text.setdefault(path, f"keys must be names (strings), got the key {show_value(error.get('input'))}")
        elif kind in ("value_error", "assertion_error"):
            message = str(error.get("msg", "invalid value"))
            for prefix in ("Value error, ", "Assertion failed, "):
                message = message.removeprefix(prefix)
            fixed_text.setdefault(path, f"{message}, got {show_value(error.get('input'))}")
        else:
            expected = _expected(error, model, path)
            bucket = expectations.setdefault(path, [])
            if expected not in bucket:
                bucket.append(expected)
            values.setdefault(path, error.get("input"))
    lines = []
    for path in order:
        if path in fixed_text:
            lines.append(f"{dotted(path)}: {fixed_text[path]}")
        else:
            wanted = " or ".join(expectations[path])
            lines.append(f"{dotted(path)}: expected {wanted}, got {show_value(values[path])}")
    return lines
