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
above the size limit and malformed overrides all become one line each, and so does an override that changes
nothing because a sweep axis or the tune stage sets that key at every point (`axis_override_problems`; with
``check_points=False``, the base point only, as ``harness run`` builds it, a swept key is taken). The scenario
remembers the file it came from (`ScenarioBase.with_source`), outside its identity.

Data files (keys a kind declares `DataFile`, `harness.config.datafiles`: a failure trace, a repair or signal CSV)
are resolved here, so a scenario means the same files whatever the current directory: a relative path written in
the scenario file (its keys, sweep axes and tune block) is read from the scenario file's folder; one given with
``--set`` (on the key, a block holding it, or a sweep / tune entry) from the current directory, where the shell
completed it; ``~`` is expanded. The validated scenario holds absolute paths. A data file that does not exist or
cannot be read is one line naming the key and the file (the base point's, and with ``check_points`` every sweep
point's).
"""

from __future__ import annotations

import copy
import json
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from harness.config.blocks import DeviceScenario, ScenarioBase
from harness.config.datafiles import (
    data_file_paths,
    data_files,
    declares_data_files,
    dotted_key,
    marks_data_file,
    resolve_path,
    unreadable_reason,
)
from harness.config.overrides import (
    DuplicateKeyError,
    Override,
    OverrideError,
    ValueBuildError,
    apply_overrides,
    axis_override_problems,
    overridden_by_an_axis,
    parse_override,
    parse_yaml_text,
    set_path,
    shown_override,
)
from harness.config.problems import annotation_at, dotted, show_value, validation_problems
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


def read_yaml_file(path: str | Path, what: str = "scenario file", *, large_hint: str = "") -> Any:
    """The parsed YAML of a regular, readable, UTF-8 file of at most `MAX_SCENARIO_BYTES` (None when empty); raises
    `ScenarioError` (one line naming the file, and the line and column for a YAML error) otherwise. ``what`` names
    the kind of file, ``large_hint`` ends the line refusing a file that is too large."""
    source = str(path)
    file = Path(path)
    try:
        mode = file.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ScenarioError([f"{source}: is a folder, not a {what}"])
        if not stat.S_ISREG(mode):  # a FIFO, a device (/dev/zero), a socket: reading could block or never end
            raise ScenarioError([f"{source}: not a regular file (a pipe, device or socket); expected a YAML file"])
        with file.open("rb") as handle:
            raw = handle.read(MAX_SCENARIO_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError([f"{source}: no such file"]) from None
    except IsADirectoryError:
        raise ScenarioError([f"{source}: is a folder, not a {what}"]) from None
    except OSError as err:
        raise ScenarioError([f"{source}: cannot read the file ({err.strerror or err})"]) from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError([f"{source}: larger than {MAX_SCENARIO_BYTES / 2**20:g} MiB; a {what} is a short "
                             f"YAML text{large_hint}"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError([f"{source}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})"]) from None
    try:
        return _parse_yaml(text)
    except _ParseFailure as err:
        raise ScenarioError([f"{source}: {err}"]) from None


def read_scenario_data(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a scenario file; raises `ScenarioError` (one line) if it cannot be read as one."""
    source = str(path)
    data = read_yaml_file(path, large_hint=" (sweep axes are lists, not generated points)")
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
    base_dir: str | Path | None = None,
) -> ScenarioBase:
    """Validate raw scenario data (after applying ``overrides`` and ``seed``) against its kind's model.

    The sweep block is checked too: its paths must exist, zip lists must have equal lengths, its point count
    must not exceed ``max_points`` (`harness.sweep.max_points`) and, with ``check_points``, every expanded point
    must validate (without, no point is built: ``harness run`` needs only the base point). Data files are resolved
    (relative paths in ``data`` against ``base_dir``, default the current directory; in ``overrides`` against the
    current directory) and must be readable. Raises `ScenarioError` with one ``<source>: ...`` line per problem.
    """
    from harness.sweep import check_sweep, expand

    parsed = _parse_overrides(source, overrides)
    data, parsed = _normalise_units(source, data, parsed)
    try:
        data = apply_overrides(data, parsed)
    except OverrideError as err:
        raise ScenarioError([f"{source}: {err}"]) from None
    # an override that a sweep axis (where the sweep is built) or the tune stage replaces would change nothing
    axis_problems = axis_override_problems(data, parsed, sweep_axes=check_points)
    if axis_problems:
        raise ScenarioError([f"{source}: {line}" for line in axis_problems])
    if seed is not None:
        data["seed"] = seed
        problem = overridden_by_an_axis(data, Override(f"seed={seed}", ("seed",), seed), sweep_axes=check_points)
        if problem:
            raise ScenarioError([f"{source}: the seed given ({seed}) would change nothing: {problem}"])
    model = _kind_model(source, data)
    scenario = _validated(model, data, source, parsed)
    written: dict[str, tuple[str, str]] = {}
    with_files = declares_data_files(model)
    if with_files:
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
        data, written = _resolve_data_files(scenario, data, parsed, folder)
        scenario = _validated(model, data, source, parsed)
    _check_storable(scenario, source)
    _check_devices(scenario, source)
    try:
        points = expand(scenario, max_points) if check_points else None
        if points is None:
            check_sweep(scenario, max_points)
    except ScenarioError as err:
        raise ScenarioError([f"{source}: {line}" for line in err.problems]) from None
    if with_files:
        _check_data_files(scenario, points or [], source, written, from_file=base_dir is not None)
    return scenario


def _validated(model: type[ScenarioBase], data: dict[str, Any], source: str, parsed: list[Override]) -> ScenarioBase:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        lines = validation_problems(err, model, data)
        raise ScenarioError([f"{source}: {_blame_overrides(line, parsed)}" for line in lines]) from None


# ----------------------------------------------------------------------------------------- data files


def _set_by_override(path: Sequence[str | int], parsed: Sequence[Override]) -> bool:
    """True if an override wrote the raw key at ``path`` (the key itself or a mapping holding it)."""
    keys = tuple(str(part) for part in path)
    return any(keys[: len(override.path)] == override.path for override in parsed)


def _set_in(data: Any, path: Sequence[str | int], value: Any) -> bool:
    """``data[path[0]]...[path[-1]] = value`` through existing mappings and lists; False if the path is not there."""
    node = data
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False
    if not isinstance(node, (dict, list)) or (isinstance(node, list) and not isinstance(path[-1], int)):
        return False
    node[path[-1]] = value
    return True


def _resolve_data_files(
    scenario: ScenarioBase, data: dict[str, Any], parsed: list[Override], folder: Path
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """``data`` with every data-file path made absolute (the rule in the module docstring), and for each base-point
    key the path as written and where a relative one was read from (``"folder"`` or ``"cwd"``)."""
    data = copy.deepcopy(data)
    cwd = Path.cwd()
    written: dict[str, tuple[str, str]] = {}
    for path, value in data_file_paths(scenario):
        by_override = _set_by_override(path, parsed)
        _set_in(data, path, resolve_path(value, cwd if by_override else folder))
        written[dotted_key(path)] = (value, "cwd" if by_override else "folder")
    model = type(scenario)
    base = scenario.model_dump(mode="json", exclude={"sweep"})
    sweep = data.get("sweep")
    for block in ("product", "zip") if isinstance(sweep, dict) else ():
        axes = sweep.get(block)
        for axis, values in axes.items() if isinstance(axes, dict) else ():
            if isinstance(axis, str) and isinstance(values, list):
                origin = cwd if _set_by_override(("sweep", block, axis), parsed) else folder
                axes[axis] = [_resolve_in_value(model, base, axis, value, origin) for value in values]
    tune = data.get("tune")
    if isinstance(tune, dict):
        if isinstance(tune.get("axis"), str) and isinstance(tune.get("values"), list):
            origin = cwd if _set_by_override(("tune", "values"), parsed) else folder
            tune["values"] = [_resolve_in_value(model, base, tune["axis"], value, origin) for value in tune["values"]]
        if isinstance(tune.get("overrides"), dict):
            for key, value in tune["overrides"].items():
                if isinstance(key, str):
                    origin = cwd if _set_by_override(("tune", "overrides", key), parsed) else folder
                    tune["overrides"][key] = _resolve_in_value(model, base, key, value, origin)
    return data, written


def _resolve_in_value(model: type[ScenarioBase], base: dict[str, Any], axis: str, value: Any, origin: Path) -> Any:
    """A value that a sweep axis / the tune stage sets at ``axis``, with the data-file paths in it made absolute.

    The value is placed into the base point and validated to find its data-file keys (it may be a whole block
    holding one); a value that does not validate alone is left as it is, unless it is a path set directly on a
    data-file key (the sweep's own check reports the rest).
    """
    parts = tuple(axis.split("."))
    point = copy.deepcopy(base)
    try:
        set_path(point, parts, copy.deepcopy(value))
        found = data_file_paths(model.model_validate(point))
    except (OverrideError, ValidationError):
        if isinstance(value, str) and marks_data_file(annotation_at(model, parts)):
            return resolve_path(value, origin)
        return value
    result = copy.deepcopy(value)
    for path, file in found:
        keys = tuple(str(part) for part in path)
        if keys == parts:
            result = resolve_path(file, origin)
        elif keys[: len(parts)] == parts:
            _set_in(result, path[len(parts):], resolve_path(file, origin))
    return result


def _check_data_files(scenario: ScenarioBase, points: list[Any], source: str, written: dict[str, tuple[str, str]],
                      *, from_file: bool) -> None:
    """Every data file of the base point and of ``points`` must be readable; one line per file that is not."""
    problems, seen = [], set()

    def where(key: str) -> str:
        value, origin = written.get(key, ("", ""))
        if not value or Path(value).expanduser().is_absolute():
            return ""
        if origin == "cwd":
            return f" (the relative path {value!r} is read from the current directory, as given with --set)"
        folder = "the scenario file's folder" if from_file else "the current directory"
        return f" (the relative path {value!r} is read from {folder})"

    for key, path in data_files(scenario):
        seen.add(path)
        reason = unreadable_reason(path)
        if reason:
            problems.append(f"{source}: {key}: {path}: {reason}{where(key)}")
    for point in points:
        for key, path in data_files(point.scenario):
            if path not in seen:
                seen.add(path)
                reason = unreadable_reason(path)
                if reason:
                    problems.append(f"{source}: sweep point {point.index + 1} of {len(points)}: {key}: {path}: "
                                    f"{reason}")
    if problems:
        raise ScenarioError(problems)


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
    """``cluster.device`` (and its values in sweep axes and tune candidates, over the key or the whole ``cluster``
    block) must name a catalogue device or a table set under ``results/timings/``: a typo would otherwise run with
    another device's numbers or none."""
    from harness.devices import catalog_names
    from harness.provenance import default_timings_root

    if not isinstance(scenario, DeviceScenario):
        return
    named = [("cluster.device", scenario.cluster.device)]
    axes = [(f"sweep.{block}.{{axis}} (value {{i}} of {{n}})", getattr(scenario.sweep, block))
            for block in ("product", "zip") if scenario.sweep]
    if scenario.tune:
        axes.append(("tune.values (value {i} of {n}, axis {axis})", {scenario.tune.axis: scenario.tune.values}))
    for where, block in axes:  # an axis over the device, or over the whole cluster block
        for axis, values in block.items():
            if axis in ("cluster.device", "cluster"):
                named += [(where.format(axis=axis, i=i + 1, n=len(values)), _device_of(axis, v))
                          for i, v in enumerate(values)]
    known = catalog_names()
    problems = [f"{source}: {where}: unknown device {show_value(name)}: not in the device catalogue "
                f"({', '.join(known)}) and no table set results/timings/{name}/ (`harness profile` or `harness "
                f"timings import` makes one)"
                for where, name in named
                if isinstance(name, str) and name not in known and not (default_timings_root() / name).is_dir()]
    if problems:
        raise ScenarioError(problems)


def _device_of(axis: str, value: Any) -> Any:
    """The device a value of sweep / tune axis ``axis`` (``cluster.device`` or ``cluster``) sets, if any."""
    if axis == "cluster.device":
        return value
    return value.get("device") if isinstance(value, dict) else None


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
        check_points: validate every sweep point (False: count them only, build none, and take an override of a
            swept key for the base point, as ``harness run`` does; otherwise an override of a key that a sweep axis
            sets at every point is refused; one of ``tune.axis`` always is).

    Returns:
        The validated scenario (an instance of its kind's model), its sweep block still attached, remembering
        ``path`` (`ScenarioBase.source_file`); data-file keys hold absolute paths.

    Raises:
        ScenarioError: one line per problem, each naming the file.

    Example::

        scenario = load_scenario("scenarios/toy_sweep.yaml", ["workload.n_messages=4"], seed=1)
    """
    scenario = validate_data(read_scenario_data(path), str(path), overrides, seed, max_points=max_points,
                             check_points=check_points, base_dir=Path(path).parent)
    return scenario.with_source(str(path))


def validate_file(path: str | Path, overrides: Iterable[str | Override] = ()) -> list[str]:
    """Every problem of a scenario file as ``<file>: <key.path>: ...`` lines; empty if the file is valid."""
    try:
        load_scenario(path, overrides)
    except ScenarioError as err:
        return err.problems
    return []
