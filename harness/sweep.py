"""Expand a scenario's ``sweep:`` block into concrete, fully validated points.

A sweep has ``product`` axes (each a list of values; every combination is a point) and ``zip`` axes (lists of
equal length, stepped together as one joint axis). The points are the Cartesian product of the ``product``
axes, in file order, times the joint ``zip`` axis, which varies fastest. Every axis is a dotted key path into
the scenario (``network.inter_node.bandwidth_gbps``). Each point's scenario is the base scenario with the
point's values set and the sweep block removed, validated again by the kind's model, so a point that breaks a
constraint (a negative bandwidth) is reported before anything runs.

Example::

    sweep:
      product: {network.inter_node.bandwidth_gbps: [10, 100]}
      zip: {workload.n_messages: [4, 8, 16], workload.mean_size_bytes: [1e6, 2e6, 4e6]}

gives 2 x 3 = 6 points.

The number of points is counted from the list lengths before any point is built (`point_count`); a sweep above
the limit (`max_points`: ``HARNESS_MAX_SWEEP_POINTS``, else 10,000; ``--max-points`` on the commands) is refused
as one line naming ``sweep``, the count and the limit, so a mistyped grid never fills memory.
"""

from __future__ import annotations

import copy
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from harness.config.blocks import ScenarioBase, SweepSpec
from harness.config.overrides import get_path, set_path
from harness.config.problems import NOT_FOUND, allowed_keys, annotation_at, dotted, show_value, validation_problems
from harness.errors import HarnessError, ScenarioError

UNSWEEPABLE_KEYS = ("kind", "sweep", "tune")
DEFAULT_MAX_POINTS = 10_000
MAX_POINTS_ENV = "HARNESS_MAX_SWEEP_POINTS"


def max_points(explicit: int | None = None) -> int:
    """The sweep-size limit: ``explicit`` (``--max-points``), else ``$HARNESS_MAX_SWEEP_POINTS``, else 10,000.

    A bad value is `HarnessError`, not `ScenarioError`: it is no scenario file's problem, so the loader does not put
    a file in front of it, and a command checking several files stops at once with one line naming the flag or
    the variable.
    """
    if explicit is not None:
        if isinstance(explicit, bool) or not isinstance(explicit, int) or explicit < 1:
            raise HarnessError(f"--max-points: expected an integer >= 1, got {show_value(explicit)}")
        return explicit
    text = os.environ.get(MAX_POINTS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_POINTS
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise HarnessError(f"{MAX_POINTS_ENV}: expected an integer >= 1, got {show_value(text)} (unset it for the "
                           f"default, {DEFAULT_MAX_POINTS:,})")
    return int(text)


def check_size(scenario: ScenarioBase, limit: int | None = None) -> int:
    """The sweep's point count (from the list lengths, nothing built); `ScenarioError` above the limit.

    Assumes `axis_problems` found nothing (equal zip lengths)."""
    count, cap = point_count(scenario.sweep), max_points(limit)
    if count > cap:
        raise ScenarioError([f"sweep: {count:,} points, more than the limit of {cap:,} (split the grid, or raise "
                             f"the limit with --max-points N or {MAX_POINTS_ENV}=N)"])
    return count


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep.

    Attributes:
        index: position in the deterministic expansion order (0-based).
        values: the point's axis values by dotted path, as the model resolved them
            (``{"network.inter_node.bandwidth_gbps": 10.0}``); empty for a scenario without a sweep.
        scenario: the fully resolved scenario of this point (its ``sweep`` is None).
        info: provenance for the run's run.json ``info`` that is not part of its identity (``tuned``: what the
            ``tune`` stage chose, `harness.tune`).
    """

    index: int
    values: dict[str, Any]
    scenario: ScenarioBase
    info: dict[str, Any] = field(default_factory=dict)


def _axes(sweep: SweepSpec) -> list[tuple[str, str, list[Any]]]:
    return [("product", k, v) for k, v in sweep.product.items()] + [("zip", k, v) for k, v in sweep.zip.items()]


def missing_path_problem(model: type[ScenarioBase], label: str, axis: str) -> str:
    """``<label>: no such key 'x' in a '<kind>' scenario (<where> allows: ...)`` for a dotted path that is absent."""
    parts = axis.split(".")
    for depth in range(len(parts) - 1, -1, -1):
        if annotation_at(model, parts[:depth]) is not NOT_FOUND:
            allowed = allowed_keys(model, parts[:depth])
            where = dotted(parts[:depth]) if depth else "the top level"
            listing = f" ({where} allows: {', '.join(allowed)})" if allowed else ""
            return f"{label}: no such key {parts[depth]!r} in a {model.model_fields['kind'].default!r} " \
                   f"scenario{listing}"
    return f"{label}: no such key"  # pragma: no cover - the empty prefix always exists


def axis_problems(scenario: ScenarioBase) -> list[str]:
    """Problems of the sweep block itself (before any point is built): bad paths, empty or unequal lists."""
    sweep = scenario.sweep
    if sweep is None:
        return []
    model = type(scenario)
    problems: list[str] = []
    seen: dict[str, str] = {}
    for block, axis, values in _axes(sweep):
        parts = axis.split(".")
        if any(not part for part in parts):
            problems.append(f"sweep.{block}.{axis}: expected a dotted key path like network.inter_node.bandwidth_gbps")
            continue
        if parts[0] in UNSWEEPABLE_KEYS:
            why = {"kind": f"{parts[0]!r} cannot be swept (one file is one kind)",
                   "sweep": "a sweep cannot sweep itself",
                   "tune": "the tune block cannot be swept (its candidates are tune.values)"}[parts[0]]
            problems.append(f"sweep.{block}.{axis}: {why}")
            continue
        if annotation_at(model, parts) is NOT_FOUND:
            problems.append(missing_path_problem(model, f"sweep.{block}.{axis}", axis))
        if not values:
            problems.append(f"sweep.{block}.{axis}: expected a non-empty list of values, got []")
        for other, other_block in seen.items():
            if other == axis:
                problems.append(f"sweep.{block}.{axis}: also an axis of sweep.{other_block}")
            elif other.startswith(axis + ".") or axis.startswith(other + "."):
                problems.append(f"sweep.{block}.{axis}: overlaps the axis {other} (sweep.{other_block})")
        seen[axis] = block
    lengths = {axis: len(values) for axis, values in sweep.zip.items()}
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{axis}: {n}" for axis, n in lengths.items())
        problems.append(f"sweep.zip: expected lists of equal length, got {listing}")
    return problems


def point_count(sweep: SweepSpec | None) -> int:
    """How many points a (valid) sweep block expands to: product of the product lengths x the zip length."""
    if sweep is None:
        return 1
    count = 1
    for values in sweep.product.values():
        count *= len(values)
    if sweep.zip:
        count *= len(next(iter(sweep.zip.values())))
    return count


def _combinations(sweep: SweepSpec) -> Iterator[dict[str, Any]]:
    """The points' axis values, lazily, in expansion order."""
    axes: list[list[dict[str, Any]]] = [[{axis: v} for v in values] for axis, values in sweep.product.items()]
    if sweep.zip:
        names = list(sweep.zip)
        axes.append([dict(zip(names, row)) for row in zip(*sweep.zip.values())])
    return ({k: v for part in combo for k, v in part.items()} for combo in itertools.product(*axes))


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{axis}={show_value(value)}" for axis, value in values.items())


def check_sweep(scenario: ScenarioBase, limit: int | None = None) -> int:
    """Check the sweep block without building its points: axis problems and the ``tune`` block's problems
    (`harness.tune`), then the size limit; the count."""
    from harness.tune import tune_problems

    problems = axis_problems(scenario) + tune_problems(scenario)
    if problems:
        raise ScenarioError(problems)
    return check_size(scenario, limit)


def expand(scenario: ScenarioBase, limit: int | None = None) -> list[SweepPoint]:
    """All points of ``scenario``'s sweep, in deterministic order (one point if it has no sweep).

    Args:
        limit: the most points allowed (default `max_points()`); a larger sweep is refused before any point
            is built.

    Raises:
        ScenarioError: the sweep block is malformed or too large, or a point does not validate (the first
            failing point is reported with its values). Lines carry no file name; the loader adds it.
    """
    n_points = check_sweep(scenario, limit)
    model = type(scenario)
    base = scenario.model_dump(mode="json", exclude={"sweep"})
    combos = _combinations(scenario.sweep) if scenario.sweep is not None else iter([{}])
    points = []
    for index, raw_values in enumerate(combos):
        data = copy.deepcopy(base)
        for axis, value in raw_values.items():
            set_path(data, tuple(axis.split(".")), value)
        try:
            resolved = model.model_validate(data)
        except ValidationError as err:
            header = f"sweep point {index + 1} of {n_points} ({_describe(raw_values)})"
            raise ScenarioError([f"{header}: {line}" for line in validation_problems(err, model, data)]) from None
        dumped = resolved.model_dump(mode="json")
        values = {axis: _resolved_value(dumped, axis, raw) for axis, raw in raw_values.items()}
        points.append(SweepPoint(index=index, values=values, scenario=resolved))
    return points


def _resolved_value(dumped: dict[str, Any], axis: str, raw: Any) -> Any:
    try:
        return get_path(dumped, tuple(axis.split(".")))
    except KeyError:
        return raw
