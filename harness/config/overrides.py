"""``--set key.path=value`` overrides and dotted-path access into a scenario's raw YAML data.

The value is parsed as YAML, so ``8``, ``1e9``, ``true``, ``[1, 2]`` and ``{a: 1}`` mean what they mean in the
file. A missing key is created (the scenario model then decides whether it is allowed). Under
``sweep.product`` and ``sweep.zip`` the rest of the path is one key, because sweep axes are themselves dotted
paths: ``sweep.product.network.inter_node.bandwidth_gbps=[10, 100]``. An override of a key that a sweep axis or the
tune stage sets at every point would change nothing, so the loader refuses it (`axis_override_problems`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

SWEEP_AXIS_BLOCKS = (("sweep", "product"), ("sweep", "zip"))
#: blocks whose keys are dotted paths themselves: ``--set tune.overrides.workload.steps=100`` sets the key
#: ``workload.steps`` of ``tune.overrides``
DOTTED_KEY_BLOCKS = (*SWEEP_AXIS_BLOCKS, ("tune", "overrides"))


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping gives the same key twice; ``first_line`` is where the first one is (1-based)."""

    def __init__(self, key: str, first: yaml.Mark, second: yaml.Mark):
        super().__init__(problem=f"duplicate key {key!r} (first at line {first.line + 1})", problem_mark=second)
        self.key, self.first_line = key, first.line + 1


class ValueBuildError(yaml.MarkedYAMLError):
    """A scalar that only looks like a date or number (``2020-13-45``) could not be built; marks where it is."""

    def __init__(self, text: str, reason: str, mark: yaml.Mark):
        super().__init__(problem=f"cannot build a value from {text!r} ({reason})", problem_mark=mark)


class ScenarioYamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e9`` and ``5E-3`` as floats (YAML 1.1 wants a dot: ``1.0e+9``) and
    refuses a key given twice in one mapping (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[tuple[str, str], yaml.Mark] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise DuplicateKeyError(key_node.value, seen[key], key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as err:  # PyYAML builds dates from text that only looks valid
            if not isinstance(node, yaml.ScalarNode):
                raise
            raise ValueBuildError(node.value, str(err), node.start_mark) from None


ScenarioYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml_text(text: str) -> Any:
    """Parse one YAML document with `ScenarioYamlLoader` (safe: plain data only)."""
    return yaml.load(text, Loader=ScenarioYamlLoader)  # noqa: S506 - a SafeLoader subclass


def shown_override(text: str) -> str:
    """An override as typed, for a ``(set by --set ...)`` note: one line, at most 80 characters."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= 80 else text[:77] + "..."


def _shown(text: Any) -> str:
    """An override as typed, quoted and cut to 80 characters for an error line."""
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:76] + "...'"


class OverrideError(ValueError):
    """An override string is malformed or its path runs through a value that is not a mapping."""


@dataclass(frozen=True)
class Override:
    """One parsed ``--set``: ``text`` as the user typed it, ``path`` split into keys, ``value`` parsed."""

    text: str
    path: tuple[str, ...]
    value: Any


def split_path(dotted: str) -> tuple[str, ...]:
    """``"a.b.c"`` -> ``("a", "b", "c")``; under ``sweep.product``/``sweep.zip``/``tune.overrides`` the remainder
    stays whole."""
    parts = dotted.split(".")
    for block in DOTTED_KEY_BLOCKS:
        if tuple(parts[: len(block)]) == block and len(parts) > len(block):
            return (*block, ".".join(parts[len(block) :]))
    return tuple(parts)


def parse_override(text: str) -> Override:
    """Parse ``key.path=value``; raises `OverrideError` naming the override when it is malformed."""
    if not isinstance(text, str) or "=" not in text:
        raise OverrideError(f"bad override {_shown(text)}: expected key.path=value")
    key, _, raw_value = text.partition("=")
    key = key.strip()
    path = split_path(key)
    if not key or any(not part.strip() or part != part.strip() for part in path):
        raise OverrideError(f"bad override {_shown(text)}: the key path {key!r} has an empty or padded part")
    try:
        value = parse_yaml_text(raw_value) if raw_value.strip() else None
    except yaml.YAMLError as err:
        reason = str(getattr(err, "problem", None) or "not valid YAML").strip()
        raise OverrideError(f"bad override {_shown(text)}: the value is not valid YAML ({reason})") from None
    except RecursionError:
        raise OverrideError(f"bad override {_shown(text)}: the value is nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as err:  # e.g. a date like 2020-13-45
        raise OverrideError(f"bad override {_shown(text)}: cannot build the value ({err})") from None
    return Override(text=text, path=path, value=value)


def set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``data[path[0]]...[path[-1]] = value`` in place, creating missing mappings on the way.

    Raises `OverrideError` if the path runs through something that is not a mapping.
    """
    node: Any = data
    for depth, key in enumerate(path[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            where = ".".join(path[: depth + 1])
            raise OverrideError(f"{where} is {child!r}, not a mapping, so it has no key {path[depth + 1]!r}")
        node = child
    node[path[-1]] = value


def get_path(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path``; raises `KeyError` if any key is missing or a step is not a mapping."""
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(".".join(path))
        node = node[key]
    return node


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str | Override]) -> dict[str, Any]:
    """A deep copy of ``data`` with every override applied in order (later ones win)."""
    result = copy.deepcopy(dict(data))
    for item in overrides:
        override = item if isinstance(item, Override) else parse_override(item)
        try:
            set_path(result, override.path, override.value)
        except OverrideError as err:
            raise OverrideError(f"bad override {_shown(override.text)}: {err}") from None
    return result


def axis_override_problems(
    data: Mapping[str, Any], overrides: Iterable[str | Override], *, sweep_axes: bool = True
) -> list[str]:
    """One ``bad override ...`` line per override that would change nothing: a key that the tune stage or (with
    ``sweep_axes``) a sweep axis sets at every point (`overridden_by_an_axis`).

    ``data`` is the scenario with every override applied (`apply_overrides`). ``sweep_axes=False`` is for a
    caller that runs only the base point (``harness run``: the file without its sweep block), where an override
    of a swept key does take effect.
    """
    problems = []
    for item in overrides:
        override = item if isinstance(item, Override) else parse_override(item)
        problem = overridden_by_an_axis(data, override, sweep_axes=sweep_axes)
        if problem:
            problems.append(f"bad override {_shown(override.text)}: {problem}")
    return problems


def _axes_of(data: Mapping[str, Any], sweep_axes: bool = True) -> list[tuple[str, str]]:
    """``(axis, where)`` for every sweep axis (with ``sweep_axes``) and the tune axis of raw scenario data
    (malformed blocks skipped: the model reports them)."""
    axes: list[tuple[str, str]] = []
    sweep = data.get("sweep")
    for block in ("product", "zip") if sweep_axes else ():
        keys = sweep.get(block) if isinstance(sweep, Mapping) else None
        if isinstance(keys, Mapping):
            axes += [(axis, f"sweep.{block}") for axis in keys if isinstance(axis, str)]
    tune = data.get("tune")
    if isinstance(tune, Mapping) and isinstance(tune.get("axis"), str):
        axes.append((tune["axis"], "tune"))
    return axes


def overridden_by_an_axis(data: Mapping[str, Any], override: Override, *, sweep_axes: bool = True) -> str | None:
    """Why ``override`` would change nothing in ``data`` (the scenario with every override applied), or None.

    A sweep axis (``sweep.product`` / ``sweep.zip``) sets its key at every point and the tune stage sets
    ``tune.axis``, so an override of that key, of a key inside it, or of a mapping that gives it a value is
    replaced before anything runs. Overrides of the blocks themselves (``sweep.*``, ``tune.*``) are never refused.
    """
    path = override.path
    if path[0] in ("sweep", "tune"):
        return None
    for axis, where in _axes_of(data, sweep_axes):
        parts = tuple(axis.split("."))
        if path[: len(parts)] == parts:
            key = ".".join(path)
        elif parts[: len(path)] == path and _has_path(override.value, parts[len(path):]):
            key = axis
        else:
            continue
        inside = "" if key == axis else f" (inside the axis {axis})"
        if where == "tune":
            return (f"{key}{inside} is tune.axis, which the tune stage sets at every point; change the candidates "
                    f"instead (--set 'tune.values=[...]') or drop the stage (--set tune=null)")
        example = f"[{override.value}]" if key == axis and _is_scalar(override.value) else "[...]"
        return (f"{key}{inside} is a sweep axis ({where}), which sets it at every point; change the axis instead "
                f"(--set '{where}.{axis}={example}') or drop the sweep (--set sweep=null)")
    return None


def _has_path(value: Any, path: tuple[str, ...]) -> bool:
    try:
        get_path(value, path)
    except KeyError:
        return False
    return True


def _is_scalar(value: Any) -> bool:
    """A value short and plain enough to show inside ``--set '...=[value]'``."""
    return isinstance(value, (int, float, str, bool)) and len(str(value)) <= 40 and not set(str(value)) & set("'[]{},")
