"""Pydantic validation errors reworded for people: one line per problem, ``<key.path>: expected <what>, got <value>``.

Also the small helpers that walk a scenario model along a dotted key path (which keys exist, what type a key
wants); the loader uses them for unknown-key messages and the sweep for checking its axis paths.
"""

from __future__ import annotations

import json
import re
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
        except ValueError:  # json's "Circular reference detected"
            text = "a value that contains itself (a recursive YAML alias)"
        except (TypeError, RecursionError):
            text = "a value nested too deeply to show"
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
        members = _union_models(annotation)
        if members:  # a (tagged) union of models: the first member that has the key
            fields = [m.model_fields[str(key)] for m in members if str(key) in m.model_fields]
            if not fields:
                return NOT_FOUND
            annotation = fields[0].annotation
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


def _union_models(annotation: Any) -> list[type[BaseModel]]:
    """The models a key holding ``annotation`` may be: one model, or every model member of a union."""
    if _is_model(annotation):
        return [annotation]
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        return [_unwrap(m) for m in members if _is_model(_unwrap(m))]
    return []


def union_tags(model: type[BaseModel], path: Sequence[str | int], discriminator: str) -> list[Any]:
    """The tag values (``discriminator`` choices) of the tagged union at ``path``."""
    tags: list[Any] = []
    for member in _union_models(annotation_at(model, path)):
        field = member.model_fields.get(discriminator)
        tags.extend(literal_choices(field.annotation) or () if field is not None else ())
    return tags


def _member(models: list[type[BaseModel]], tag: Any = None) -> type[BaseModel] | None:
    """The one model of ``models`` that ``tag`` (a union member's tag in pydantic's error location) names."""
    if len(models) == 1:
        return models[0]
    for member in models:
        tags = [choice for field in member.model_fields.values() for choice in literal_choices(field.annotation) or ()]
        if tag is not None and (tag in tags or tag == member.__name__ or f"{member.__name__}]" in str(tag)):
            return member
    return None


def allowed_keys(model: type[BaseModel], path: Sequence[str | int], tag: Any = None) -> list[str] | None:
    """The keys a mapping at ``path`` accepts (sorted), or None if it is free-form or unknown.

    For a union of models, ``tag`` (the member's tag from pydantic's error location) picks the member.
    """
    member = _member(_union_models(annotation_at(model, path)), tag)
    return sorted(member.model_fields) if member is not None else None


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
    lower, upper, lengths = [], [], []
    for item in metadata:
        for cls, symbol, op, side in ((Gt, "gt", ">", lower), (Ge, "ge", ">=", lower), (Lt, "lt", "<", upper),
                                      (Le, "le", "<=", upper)):
            if isinstance(item, cls):
                side.append(f"{op} {_number(getattr(item, symbol))}")
        if isinstance(item, MinLen) and item.min_length:
            lengths.append(f"of length >= {item.min_length}")
        if isinstance(item, MaxLen):
            lengths.append(f"of length <= {item.max_length}")
    bounds = " and ".join(lower + upper)
    return " ".join(part for part in (words, bounds, *lengths) if part)


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
    fields = [m.model_fields[str(path[-1])] for m in _union_models(annotation_at(model, path[:-1]))
              if str(path[-1]) in m.model_fields]
    if not fields:
        return None
    return describe_type(fields[0].annotation, fields[0].metadata)


# ----------------------------------------------------------------------------------------- pydantic errors


def _real_path(loc: tuple[Any, ...], data: Any, error_type: str) -> tuple[Any, ...]:
    """The part of pydantic's ``loc`` that names keys of the user's data (drops union-member tags)."""
    return _path_and_tag(loc, data, error_type)[0]


def _path_and_tag(loc: tuple[Any, ...], data: Any, error_type: str) -> tuple[tuple[Any, ...], Any]:
    """`_real_path` plus the last union-member tag it dropped (None if none)."""
    tag = None
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
        elif position < len(loc) - 1 and isinstance(node, Mapping):
            tag = key  # a union member's tag ('digits', 'LlamaDims', 'function-after[...]'), not a key of the data
            continue
        else:
            break
        path.append(key)
    return tuple(path), tag


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
    if kind == "int_parsing_size":  # a whole number too large for an integer: say the field's bounds
        return describe_field(model, path) or "an integer"
    if kind in ("int_type", "int_parsing", "int_from_float"):
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
    """One ``<key.path>: ...`` line per problem in ``err``, in pydantic's order (a scenario's top-level keys in
    file order).

    Errors that pydantic reports once per member of a union (``int | str``) become one line
    (``expected an integer or a string, got [1]``).
    """
    order: list[tuple[Any, ...]] = []
    fixed_text: dict[tuple[Any, ...], str] = {}
    expectations: dict[tuple[Any, ...], list[str]] = {}
    values: dict[tuple[Any, ...], Any] = {}
    for error in err.errors():
        kind = error["type"]
        path, tag = _path_and_tag(tuple(error["loc"]), data, kind)
        if kind in ("value_error", "assertion_error"):
            path, text = _validator_message(error, model, data, path)
            if path not in order:
                order.append(path)
            fixed_text.setdefault(path, text)
            continue
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            path, text = _tag_message(error, model, path)
            if path not in order:
                order.append(path)
            fixed_text.setdefault(path, text)
            continue
        if path not in order:
            order.append(path)
        if kind == "extra_forbidden":
            allowed = allowed_keys(model, path[:-1], tag)
            listing = ", ".join(allowed) if allowed else "none"
            hint = (" (YAML reads a colon without a space after it as part of the key: write 'key: value')"
                    if path and isinstance(path[-1], str) and ":" in path[-1] else "")
            fixed_text.setdefault(path, f"no such key (allowed: {listing}){hint}")
        elif kind == "missing":
            wanted = describe_field(model, path)
            fixed_text.setdefault(path, "missing required key" + (f" (expected {wanted})" if wanted else ""))
        elif kind == "invalid_key":
            fixed_text.setdefault(path, f"keys must be names (strings), got the key {show_value(error.get('input'))}")
        else:
            expected = _expected(error, model, path)
            bucket = expectations.setdefault(path, [])
            if expected not in bucket:
                bucket.append(expected)
            values.setdefault(path, error.get("input"))
    # a scenario's problems in file order (`ScenarioBase.key_order`), not in the order its base classes declare keys
    rank = {key: i for i, key in enumerate(getattr(model, "key_order", ()))}
    order.sort(key=lambda path: rank.get(path[0], len(rank)) if path else -1)
    lines = []
    for path in order:
        if path not in fixed_text and isinstance(values.get(path), Mapping) and any(
            len(other) > len(path) and other[: len(path)] == path for other in order
        ):
            continue  # a mapping given to ``str | Model``: the model's own problems below say more than "a string"
        if path in fixed_text:
            lines.append(f"{dotted(path)}: {fixed_text[path]}")
        else:
            wanted = " or ".join(expectations[path])
            lines.append(f"{dotted(path)}: expected {wanted}, got {show_value(values[path])}")
    return lines


# a key path; a key may hold a colon (``ratio:0``: YAML's ``{ratio:0}`` is one key) but not a colon and a space
_KEY_PREFIX = re.compile(r"^([A-Za-z_][\w:-]*(?:\.[\w:-]+)*): (.+)$", re.DOTALL)


def value_at(data: Any, path: Sequence[Any]) -> Any:
    """The value at ``path`` in raw data, or `NOT_FOUND`."""
    node = data
    for key in path:
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return NOT_FOUND
    return node


def _validator_message(
    error: Mapping[str, Any], model: type[BaseModel], data: Any, path: tuple[Any, ...]
) -> tuple[tuple[Any, ...], str]:
    """A validator's ValueError as (key path, text).

    A message that starts with a key path relative to the validated model (``nodes: expected ...``,
    ``technique.params.ratio: ...``) names that key; ``got <value>`` is added only to an ``expected ...`` message
    that lacks one, and never for a whole mapping (a block is never dumped).
    """
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    match = _KEY_PREFIX.match(message)
    if match:
        keys = tuple(match.group(1).split("."))
        if annotation_at(model, (*path, *keys)) is not NOT_FOUND:
            path, message = (*path, *keys), match.group(2)
    value = value_at(data, path)
    if value is NOT_FOUND:
        value = error.get("input")
    if message.startswith("expected ") and "got " not in message and not isinstance(value, Mapping):
        message += f", got {show_value(value)}"
    return path, message


def _tag_message(
    error: Mapping[str, Any], model: type[BaseModel], path: tuple[Any, ...]
) -> tuple[tuple[Any, ...], str]:
    """A tagged union's unknown or missing tag: ``workload.task.name: unknown task 'imagenet'; known: ...``."""
    ctx = error.get("ctx") or {}
    discriminator = str(ctx.get("discriminator", "")).strip("'")
    tags = union_tags(model, path, discriminator)
    known = ", ".join(show_value(tag) for tag in tags) or str(ctx.get("expected_tags", ""))
    what = str(path[-1]) if path else "value"
    if error["type"] == "union_tag_not_found":
        return (*path, discriminator), f"missing required key (expected one of {known})"
    return (*path, discriminator), f"unknown {what} {show_value(ctx.get('tag'))}; known: {known}"
