"""Scenario files -> validated scenario models, with ``--set`` overrides; every problem as one readable line.

``load_scenario(path, overrides, seed)`` reads the YAML, applies the overrides (`harness.config.overrides`),
picks the kind's model from `harness.workloads.WORKLOADS` and validates the file against it, including every
point of its ``sweep:`` block (`harness.sweep`). Human units (``bandwidth: 400Gbit/s``) are first rewritten to the
unit-in-name keys, in the file and in every override (`harness.config.units`). Anything wrong raises
`ScenarioError`, whose ``problems`` are lines like
``scenarios/a.yaml: network.inter_node.bandwidth_gbps: expected a number > 0, got -5``.
``validate_file`` returns those lines instead of raising. A user's mistake never ends in a traceback: missing
or unreadable files, pipes and devices (refused before reading), files over 1 MiB, non-UTF-8 bytes, YAML syntax
errors and duplicate keys (with line and column), a top level that is not a mapping, an unknown kind, a sweep
above the size limit and malformed overrides all become one line each.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from harness.config.blocks import ScenarioBase
from harness.config.overrides import (
    DuplicateKeyError,
    Override,
    OverrideError,
    ValueBuildError,
    apply_overrides,
    parse_override,
    parse_yaml_text,
    shown_override,
)
from harness.config.problems import dotted, show_value, validation_problems
from harness.errors import ScenarioError


#: Scenario files are read up to this size; anything larger is refused before parsing.
MAX_SCENARIO_BYTES = 1 << 20


class _ParseFailure(Exception):
    """A YAML text could not be parsed; the message is the one line to show."""


def _parse_yaml(text: str) -> Any:
    """Parse YAML (safely) with every failure turned into one message (line and column where yaml knows them)."""
    try:
        return parse_yaml_text(text)
    except (DuplicateKeyError, ValueBuildError) as err:
        mark = err.problem_mark
        raise _ParseFailure(f"line {mark.line + 1}, column {mark.column + 1}: {err.problem}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = str(err.problem or err.context or "invalid YAML").strip().removeprefix("but ")
        if what.startswith("found another document"):
            raise _ParseFailure(f"{where}YAML syntax error: a second document starts here; "
                                "a scenario file holds exactly one") from None
        if err.context and err.problem:
            context = str(err.context).strip()
            if err.context_mark is not None and err.context_mark is not mark:
                context += f" that starts at line {err.context_mark.line + 1}, column {err.context_mark.column + 1}"
            what += f" ({context})"
        raise _ParseFailure(f"{where}YAML syntax error: {what}") from None
    except yaml.reader.ReaderError as err:
        before = text[: err.position]
        line, column = before.count("\n") + 1, err.position - (before.rfind("\n") + 1) + 1
        code = err.character if isinstance(err.character, int) else ord(str(err.character)[:1] or "\0")
        raise _ParseFailure(
            f"line {line}, column {column}: YAML cannot contain the character U+{code:04X} ({err.reason})"
        ) from None
    except yaml.YAMLError as err:
        raise _ParseFailure(f"YAML error: {str(err).strip().splitlines()[0]}") from None
    except RecursionError:
        raise _ParseFailure("YAML error: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as err:
        # PyYAML builds dates and numbers from text that only looks valid (e.g. 2020-13-45).
        raise _ParseFailure(f"YAML error: cannot build a value ({err})") from None


def read_scenario_data(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a scenario file; raises `ScenarioError` (one line) if it cannot be read as one."""
    source = str(path)
    file = Path(path)
    try:
        mode = file.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ScenarioError([f"{source}: is a folder, not a scenario file"])
        if not stat.S_ISREG(mode):  # a FIFO, a device (/dev/zero), a socket: reading could block or never end
            raise ScenarioError([f"{source}: not a regular file (a pipe, device or socket); expected a YAML file"])
        with file.open("rb") as handle:
            raw = handle.read(MAX_SCENARIO_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError([f"{source}: no such file"]) from None
    except IsADirectoryError:
        raise ScenarioError([f"{source}: is a folder, not a scenario file"]) from None
    except OSError as err:
        raise ScenarioError([f"{source}: cannot read the file ({err.strerror or err})"]) from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError([f"{source}: larger than {MAX_SCENARIO_BYTES / 2**20:g} MiB; a scenario file is a short "
                             "YAML text (sweep axes are lists, not generated points)"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError([f"{source}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})"]) from None
    try:
        data = _parse_yaml(text)
    except _ParseFailure as err:
        raise ScenarioError([f"{source}: {err}"]) from None
    if data is None:
        raise ScenarioError([f"{source}: the file is empty; expected a mapping with at least 'name' and 'kind'"])
    if not isinstance(data, dict):
        raise ScenarioError([f"{source}: top level: expected a mapping of keys (name, kind, ...), "
                             f"got {type(data).__name__} {show_value(data)}"])
    return data


def _parse_overrides(source: str, overrides: Iterable[str | Override]) -> list[Override]:
    parsed, problems = [], []
    for item in overrides:
        try:
            parsed.append(item if isinstance(item, Override) else parse_override(item))
        except OverrideError as err:
            problems.append(f"{source}: {err}")
    if problems:
        raise ScenarioError(problems)
    return parsed


def _import_kind(kind: str) -> None:
    """Register ``kind`` by importing only its module ``harness.workloads.<kind>`` when that exists.

    Importing every kind (`load_all`) pulls in heavy dependencies of unrelated kinds; it is the fallback.
    """
    import importlib
    import importlib.util

    from harness.workloads import WORKLOADS, load_all

    if kind in WORKLOADS:
        return
    module = f"harness.workloads.{kind}"
    if kind.isidentifier() and not kind.startswith("_") and kind != "base" and importlib.util.find_spec(module):
        importlib.import_module(module)
    if kind not in WORKLOADS:
        load_all()


def _kind_model(source: str, data: dict[str, Any]) -> type[ScenarioBase]:
    from harness.workloads import WORKLOADS, load_all

    kind = data.get("kind")
    if isinstance(kind, str):
        _import_kind(kind)
        if kind in WORKLOADS:
            return WORKLOADS.get(kind).model
    load_all()
    known = ", ".join(repr(name) for name in WORKLOADS) or "(none registered)"
    if "kind" not in data:
        raise ScenarioError([f"{source}: kind: missing required key (expected one of {known})"])
    raise ScenarioError([f"{source}: kind: expected one of {known}, got {show_value(kind)}"])


def _blame_overrides(line: str, overrides: Sequence[Override]) -> str:
    """Append ``(set by --set ...)`` to a problem line whose key path an override wrote."""
    path = line.split(": ", 1)[0]
    for override in reversed(overrides):
        key = ".".join(override.path)
        if key == path or key.startswith(path + ".") or path.startswith(key + "."):
            return f"{line} (set by --set {shown_override(override.text)})"
    return line


def _normalise_units(
    source: str, data: dict[str, Any], parsed: list[Override]
) -> tuple[dict[str, Any], list[Override]]:
    """Human units (``bandwidth: 400Gbit/s``) -> unit-in-name keys, in the file and every override
    (`harness.config.units`); a malformed override path is left for `apply_overrides` to report."""
    from harness.config.units import normalise_units

    try:
        model = _kind_model(source, apply_overrides(data, parsed))
    except OverrideError:
        return data, parsed
    try:
        return normalise_units(model, data, parsed)
    except ScenarioError as err:
        raise ScenarioError([f"{source}: {line}" for line in err.problems]) from None


def validate_data(
    data: dict[str, Any],
    source: str,
    overrides: Iterable[str | Override] = (),
    seed: int | None = None,
    *,
    max_points: int | None = None,
    check_points: bool = True,
) -> ScenarioBase:
    """Validate raw scenario data (after applying ``overrides`` and ``seed``) against its kind's model.

    The sweep block is checked too: its paths must exist, zip lists must have equal lengths, its point count
    must not exceed ``max_points`` (`harness.sweep.max_points`) and, with ``check_points``, every expanded point
    must validate (without, no point is built: ``harness run`` needs only the base point). Raises `ScenarioError`
    with one ``<source>: ...`` line per problem.
    """
    from harness.sweep import check_sweep, expand

    parsed = _parse_overrides(source, overrides)
    data, parsed = _normalise_units(source, data, parsed)
    try:
        data = apply_overrides(data, parsed)
    except OverrideError as err:
        raise ScenarioError([f"{source}: {err}"]) from None
    if seed is not None:
        data["seed"] = seed
    model = _kind_model(source, data)
    try:
        scenario = model.model_validate(data)
    except ValidationError as err:
        lines = validation_problems(err, model, data)
        raise ScenarioError([f"{source}: {_blame_overrides(line, parsed)}" for line in lines]) from None
    _check_storable(scenario, source)
    _check_devices(scenario, source)
    try:
        expand(scenario, max_points) if check_points else check_sweep(scenario, max_points)
    except ScenarioError as err:
        raise ScenarioError([f"{source}: {line}" for line in err.problems]) from None
    return scenario


def _check_storable(scenario: ScenarioBase, source: str) -> None:
    """Free-form values (``technique.params``) must be plain data: run.json and the run-id are JSON."""
    try:
        exotic = _exotic_values(scenario.model_dump(mode="python"))
        if not exotic:
            json.dumps(scenario.model_dump(mode="json"), allow_nan=True)
    except (PydanticSerializationError, UnicodeDecodeError, ValueError, TypeError, RecursionError) as err:
        raise ScenarioError([f"{source}: a value cannot be stored as JSON in run.json ({err})"]) from None
    if exotic:
        raise ScenarioError([f"{source}: {dotted(path)}: expected plain data (numbers, strings, lists, mappings), "
                             f"got a YAML {what}" for path, what in exotic])


def _check_devices(scenario: ScenarioBase, source: str) -> None:
    """``cluster.device`` (and its sweep values) must name a catalogue device or a table set under
    ``results/timings/``: a typo would otherwise run with another device's numbers or none."""
    from harness.devices import catalog_names
    from harness.provenance import default_timings_root

    named = [("cluster.device", scenario.cluster.device)]
    for block in ("product", "zip") if scenario.sweep else ():
        values = getattr(scenario.sweep, block).get("cluster.device", [])
        named += [(f"sweep.{block}.cluster.device (value {i + 1} of {len(values)})", v) for i, v in enumerate(values)]
    known = catalog_names()
    problems = [f"{source}: {where}: unknown device {show_value(name)}: not in the device catalogue "
                f"({', '.join(known)}) and no table set results/timings/{name}/ (`harness profile` or `harness "
                f"timings import` makes one)"
                for where, name in named
                if isinstance(name, str) and name not in known and not (default_timings_root() / name).is_dir()]
    if problems:
        raise ScenarioError(problems)


def _exotic_values(value: Any, path: tuple[Any, ...] = (), seen: set[int] | None = None) -> list[tuple[Any, str]]:
    """Paths of sets, binary strings and self-containing (recursive alias) values."""
    seen = set() if seen is None else seen
    if isinstance(value, (set, frozenset)):
        return [(path, "set")]
    if isinstance(value, (bytes, bytearray)):
        return [(path, "binary string")]
    if isinstance(value, (dict, list)):
        if id(value) in seen:
            return [(path, "alias that contains itself")]
        seen = seen | {id(value)}
        items = value.items() if isinstance(value, dict) else enumerate(value)
        return [found for key, child in items for found in _exotic_values(child, (*path, key), seen)]
    return []


def load_scenario(
    path: str | Path,
    overrides: Iterable[str | Override] = (),
    seed: int | None = None,
    *,
    max_points: int | None = None,
    check_points: bool = True,
) -> ScenarioBase:
    """Read, override and validate one scenario file.

    Args:
        path: the YAML file.
        overrides: ``key.path=value`` strings (the value parsed as YAML); missing keys are created and the
            model decides whether they are allowed.
        seed: if given, replaces the file's ``seed``.
        max_points: the sweep-size limit (default `harness.sweep.max_points()`).
        check_points: validate every sweep point (False: count them only, build none).

    Returns:
        The validated scenario (an instance of its kind's model), its sweep block still attached.

    Raises:
        ScenarioError: one line per problem, each naming the file.

    Example::

        scenario = load_scenario("scenarios/toy_sweep.yaml", ["workload.n_messages=4"], seed=1)
    """
    return validate_data(read_scenario_data(path), str(path), overrides, seed, max_points=max_points,
                         check_points=check_points)


def validate_file(path: str | Path, overrides: Iterable[str | Override] = ()) -> list[str]:
    """Every problem of a scenario file as ``<file>: <key.path>: ...`` lines; empty if the file is valid."""
    try:
        load_scenario(path, overrides)
    except ScenarioError as err:
        return err.problems
    return []
