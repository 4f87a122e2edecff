"""Human units in scenario files: ``size: 1GiB``, ``bandwidth: 400Gbit/s``, ``mtbf: 54d``.

A config key whose name ends in a unit suffix (``bandwidth_gbps``, ``latency_us``, ``size_bytes``, ``bucket_mb``,
``mtbf_h``, ...; see `SUFFIXES`) is a *unit key*: the model holds a number in that unit. In a scenario file, in a
sweep axis and in ``--set``, a unit key may be written two ways:

- under its full name, as a number in the key's unit (``bandwidth_gbps: 400``) or as a string with any unit of
  the same quantity (``bandwidth_gbps: 50GB/s``);
- under its short name, the full name without the suffix, as a string with a unit (``bandwidth: 400Gbit/s``).
  A bare number there is an error: the unit would be a guess.

`normalise_units` is the one pass that rewrites both forms to the full name with a number in the key's unit,
before the model validates anything (the loader calls it for the file and for every override, so ``--set
network.inter_node.bandwidth=100Gbit/s`` works on a file that writes ``bandwidth_gbps: 400``). It follows the
kind's model (nested blocks, lists, tagged unions) and the dotted paths of ``sweep.product``/``sweep.zip``. A
unit of another quantity, an unknown unit, or both names in one mapping is one problem line naming the key and
the allowed units. Conversions are exact (fractions): ``1GiB`` gives the integer 1073741824 in ``size_bytes``.
Decimal prefixes are powers of 1000 (``GB``), binary ones powers of 1024 (``GiB``); ``b`` is a bit, ``B`` a byte.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from harness.config.overrides import SWEEP_AXIS_BLOCKS, Override, set_path, shown_override
from harness.config.problems import NOT_FOUND, annotation_at, dotted, show_value
from harness.errors import ScenarioError

_DECIMAL = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _sizes() -> dict[str, Fraction]:
    units = {f"{p}B": Fraction(f) for p, f in {**_DECIMAL, **_BINARY}.items() if p != "K"}
    units.update({"byte": Fraction(1), "bytes": Fraction(1)})
    return units


def _rates() -> dict[str, Fraction]:
    """Bit rates in bit/s; byte rates count 8 bits per byte."""
    units: dict[str, Fraction] = {}
    for prefix, factor in _DECIMAL.items():
        if prefix == "K":
            continue
        units[f"{prefix}bit/s"] = units[f"{prefix}b/s"] = units[f"{prefix}bps"] = Fraction(factor)
        units[f"{prefix}B/s"] = Fraction(8 * factor)
    for prefix, factor in _BINARY.items():
        units[f"{prefix}B/s"] = Fraction(8 * factor)
    return units


_TIMES = {"ns": Fraction(1, 10**9), "us": Fraction(1, 10**6), "µs": Fraction(1, 10**6), "ms": Fraction(1, 1000),
          "s": Fraction(1), "min": Fraction(60), "h": Fraction(3600), "d": Fraction(86400)}


@dataclass(frozen=True)
class Quantity:
    """A physical quantity: its accepted unit strings with their factors to one base unit."""

    name: str
    units: Mapping[str, Fraction]
    shown: tuple[str, ...]  # the units listed in messages and in `harness explain`

    def allowed(self) -> str:
        return ", ".join(self.shown)


SIZE = Quantity("size", _sizes(), ("B", "kB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"))
RATE = Quantity("rate", _rates(), ("bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s", "B/s", "kB/s", "MB/s",
                                    "GB/s", "TB/s", "MiB/s", "GiB/s"))
TIME = Quantity("duration", _TIMES, ("ns", "us", "ms", "s", "min", "h", "d"))


@dataclass(frozen=True)
class UnitSuffix:
    """A key-name suffix: the quantity it holds, the unit as people write it, and that unit's factor."""

    suffix: str
    quantity: Quantity
    unit: str

    @property
    def factor(self) -> Fraction:
        return self.quantity.units[self.unit]


#: key-name suffix -> unit (longest suffixes first, so ``_gbytes_per_s`` wins over ``_s``)
SUFFIXES: tuple[UnitSuffix, ...] = tuple(sorted(
    (
        UnitSuffix("_bytes", SIZE, "B"),
        UnitSuffix("_kib", SIZE, "KiB"),
        UnitSuffix("_mb", SIZE, "MiB"),
        UnitSuffix("_mib", SIZE, "MiB"),
        UnitSuffix("_gib", SIZE, "GiB"),
        UnitSuffix("_mbps", RATE, "Mbit/s"),
        UnitSuffix("_gbps", RATE, "Gbit/s"),
        UnitSuffix("_tbps", RATE, "Tbit/s"),
        UnitSuffix("_gbytes_per_s", RATE, "GB/s"),
        UnitSuffix("_ns", TIME, "ns"),
        UnitSuffix("_us", TIME, "us"),
        UnitSuffix("_ms", TIME, "ms"),
        UnitSuffix("_s", TIME, "s"),
        UnitSuffix("_min", TIME, "min"),
        UnitSuffix("_h", TIME, "h"),
        UnitSuffix("_d", TIME, "d"),
    ),
    key=lambda item: -len(item.suffix),
))

#: compound units that end like a time but are not one (``luminosity_erg_s`` is erg per second, CGS): plain numbers
NOT_UNIT_SUFFIXES: tuple[str, ...] = ("_erg_s", "_erg_cm2_s")

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?"  # exponents up to 999: exact and quick
_VALUE = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-zµ/]+)\s*$")
#: what a unit string looks like (for the JSON Schema of unit keys)
UNIT_STRING_PATTERN = rf"^\s*{_NUMBER}\s*[A-Za-zµ/]+\s*$"


# ----------------------------------------------------------------------------------------- keys and fields


def _plain(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``None`` from a union."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _plain(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return _plain(members[0])
    return annotation


def _is_numeric(annotation: Any) -> bool:
    annotation = _plain(annotation)
    if get_origin(annotation) in (list, tuple, Sequence):
        return all(_is_numeric(arg) for arg in get_args(annotation) if arg is not Ellipsis)
    return annotation in (int, float)


def suffix_of(key: str) -> UnitSuffix | None:
    """The unit suffix of a key name, or None."""
    if key.endswith(NOT_UNIT_SUFFIXES):
        return None
    return next((item for item in SUFFIXES if key.endswith(item.suffix) and len(key) > len(item.suffix)), None)


def unit_of_field(model: type[BaseModel], key: str) -> UnitSuffix | None:
    """The unit of ``model``'s field ``key`` if it is a numeric unit key, else None."""
    field = model.model_fields.get(key)
    if field is None or not _is_numeric(field.annotation):
        return None
    return suffix_of(key)


def short_names(model: type[BaseModel]) -> dict[str, str]:
    """``{short name: full name}`` of the model's unit keys (a short name two keys share is left out)."""
    names: dict[str, list[str]] = {}
    for key in model.model_fields:
        unit = unit_of_field(model, key)
        if unit is not None:
            names.setdefault(key[: -len(unit.suffix)], []).append(key)
    return {short: full[0] for short, full in names.items() if len(full) == 1 and short not in model.model_fields}


# ----------------------------------------------------------------------------------------- values


class UnitProblem(ValueError):
    """A unit string that does not fit its key; the message is what follows ``<key.path>: ``."""


def parse_quantity(text: str, unit: UnitSuffix) -> int | float:
    """``"400Gbit/s"`` for a ``_gbps`` key -> 400; an integer when the conversion is a whole number."""
    match = _VALUE.match(text)
    if match is None:
        raise UnitProblem(f"expected a number or a {unit.quantity.name} with a unit "
                          f"({unit.quantity.allowed()}), got {show_value(text)}")
    number, written = match.groups()
    factor = unit.quantity.units.get(written)
    if factor is None:
        other = next((q.name for q in (SIZE, RATE, TIME) if written in q.units), None)
        why = f"{written!r} is a {other}, not a {unit.quantity.name}" if other else f"unknown unit {written!r}"
        raise UnitProblem(f"{why}; allowed units: {unit.quantity.allowed()} (got {show_value(text)})")
    value = Fraction(number) * factor / unit.factor
    if value.denominator == 1:
        return int(value)
    try:
        return float(value)
    except OverflowError:
        raise UnitProblem(f"expected a finite number, got {show_value(text)}") from None


def _convert(value: Any, unit: UnitSuffix) -> Any:
    if isinstance(value, str):
        return parse_quantity(value, unit)
    if isinstance(value, list):
        return [_convert(item, unit) for item in value]
    return value


# ----------------------------------------------------------------------------------------- the pass


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    annotation = _plain(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def _pick_model(models: list[type[BaseModel]], value: Mapping[str, Any]) -> type[BaseModel] | None:
    """The union member whose ``Literal`` tag fields agree with ``value`` (the only member if just one)."""
    if len(models) == 1:
        return models[0]
    fitting = []
    for model in models:
        tags = {k: get_args(_plain(f.annotation)) for k, f in model.model_fields.items()
                if get_origin(_plain(f.annotation)) is Literal}
        if tags and all(k in value and value[k] in choices for k, choices in tags.items()):
            fitting.append(model)
    return fitting[0] if len(fitting) == 1 else None


def _normalise(annotation: Any, value: Any, path: tuple[Any, ...], problems: list[str]) -> Any:
    plain = _plain(annotation)
    origin = get_origin(plain)
    if isinstance(value, dict):
        model = _pick_model(_models_in(annotation), value)
        if model is not None:
            return _normalise_mapping(model, value, path, problems)
        if origin in (dict, Mapping) and len(get_args(plain)) == 2:
            return {k: _normalise(get_args(plain)[1], v, (*path, k), problems) for k, v in value.items()}
    if isinstance(value, list) and origin in (list, Sequence) and get_args(plain):
        return [_normalise(get_args(plain)[0], v, (*path, i), problems) for i, v in enumerate(value)]
    return value


def _unit_entry(model: type[BaseModel], key: Any, value: Any, path: tuple[Any, ...],
                problems: list[str], where: str | None = None) -> tuple[Any, Any]:
    """``(key, value)`` of one mapping entry with a unit key rewritten to its full name and unit.

    Problem lines start with ``where`` (default: the dotted ``path`` + ``key``).
    """
    if not isinstance(key, str):
        return key, value
    where = where or dotted((*path, key))
    full = key if unit_of_field(model, key) else short_names(model).get(key)
    if full is None:
        return key, value
    unit = unit_of_field(model, full)
    if full != key and not isinstance(value, (str, list)):
        if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value):
            problems.append(f"{where}: a number here needs a unit, e.g. "
                            f"{show_value(f'{value}{unit.unit}')}; or write {full}: {show_value(value)}")
        else:
            problems.append(f"{where}: expected a {unit.quantity.name} with a unit "
                            f"({unit.quantity.allowed()}), got {show_value(value)}")
        return key, value
    try:
        return full, _convert(value, unit)
    except UnitProblem as err:
        problems.append(f"{where}: {err}")
        return key, value


def _normalise_mapping(model: type[BaseModel], data: dict[Any, Any], path: tuple[Any, ...],
                       problems: list[str]) -> dict[Any, Any]:
    shorts = short_names(model)
    for short, full in shorts.items():
        if short in data and full in data:
            problems.append(f"{dotted((*path, short))}: given twice, as {short!r} and as {full!r}; keep one")
    result: dict[Any, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and (unit_of_field(model, key) or key in shorts):
            key, value = _unit_entry(model, key, value, path, problems)
        elif isinstance(key, str) and key in model.model_fields:
            value = _normalise(model.model_fields[key].annotation, value, (*path, key), problems)
        result[key] = value
    return result


def _normalise_axis(model: type[BaseModel], axis: str, values: Any, path: tuple[Any, ...],
                    problems: list[str]) -> tuple[str, Any]:
    """A sweep axis ``a.b.key: [values]``: the key to its full name, every value converted."""
    parts = axis.split(".")
    if not isinstance(values, list) or any(not part for part in parts):
        return axis, values
    parent = annotation_at(model, parts[:-1])
    owners = _models_in(parent) if parent is not NOT_FOUND else []
    if len(owners) != 1:
        return axis, values
    owner, leaf = owners[0], parts[-1]
    full = leaf if unit_of_field(owner, leaf) else short_names(owner).get(leaf)
    if full is None:
        annotation = owner.model_fields[leaf].annotation if leaf in owner.model_fields else None
        if annotation is None:
            return axis, values
        return axis, [_normalise(annotation, v, (*path, i), problems) for i, v in enumerate(values)]
    converted = []
    for index, value in enumerate(values):
        where = f"{dotted(path)} (value {index + 1} of {len(values)})"
        _, new_value = _unit_entry(owner, leaf, value, path, problems, where)
        converted.append(new_value)
    return ".".join([*parts[:-1], full]), converted


def _normalise_sweep(model: type[BaseModel], data: dict[str, Any], problems: list[str]) -> None:
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        return
    for block_path in SWEEP_AXIS_BLOCKS:
        block = sweep.get(block_path[1])
        if not isinstance(block, dict):
            continue
        renamed: dict[Any, Any] = {}
        for axis, values in block.items():
            if not isinstance(axis, str):
                renamed[axis] = values
                continue
            new_axis, new_values = _normalise_axis(model, axis, values, (*block_path, axis), problems)
            if new_axis != axis and new_axis in block:
                problems.append(f"{dotted((*block_path, axis))}: given twice, as {axis!r} and as {new_axis!r}; "
                                "keep one")
            renamed[new_axis] = new_values
        sweep[block_path[1]] = renamed


def normalise_data(model: type[BaseModel], data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` with every unit key in its full name and unit, plus the problem lines (``<key.path>: ...``)."""
    problems: list[str] = []
    result = _normalise_mapping(model, data, (), problems)
    _normalise_sweep(model, result, problems)
    return result, problems


def normalise_override(model: type[BaseModel], override: Override) -> tuple[Override, list[str]]:
    """One ``--set``: its last key to the full name and its value converted (same rules as the file)."""
    nested: dict[str, Any] = {}
    set_path(nested, override.path, override.value)
    normalised, problems = normalise_data(model, nested)
    path, node = [], normalised
    for _ in override.path:
        (key, node), = node.items()
        path.append(key)
    shown = shown_override(override.text)
    return Override(override.text, tuple(path), node), [f"{line} (set by --set {shown})" for line in problems]


def normalise_units(model: type[BaseModel], data: dict[str, Any],
                    overrides: Sequence[Override] = ()) -> tuple[dict[str, Any], list[Override]]:
    """The file's data and its overrides with human units rewritten; raises `ScenarioError` listing problems."""
    data, problems = normalise_data(model, data)
    normalised = []
    for override in overrides:
        override, more = normalise_override(model, override)
        normalised.append(override)
        problems += more
    if problems:
        raise ScenarioError(problems)
    return data, normalised
