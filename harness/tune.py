"""The ``tune:`` stage: choose one key (a learning rate) per group of points by a small, equal-budget sweep.

Comparing methods each at a hand-picked setting is unfair; the ARC-Top-K and GreedyLore papers tune learning rates
per method. A scenario declares the stage once and the harness runs it before the main points::

    tune:
      axis: workload.optimizer.lr          # the key chosen per group
      values: [1.0e-3, 3.0e-3, 1.0e-2]     # candidates (same list, same budget for every group)
      metric: eval_loss                    # column of the run's metrics; its last non-NaN value is compared
      goal: min                            # or max
      per: [technique.name, technique.params]   # one choice per distinct value of these keys
      overrides: {workload.steps: 300, seed: 1000}   # the tuning runs' budget (dotted keys like --set)

Main points are grouped by the values of ``per`` (no ``per``: one group). For each group, its first main point
with ``axis`` set to each candidate and ``overrides`` applied is a tuning point; a ``seed`` in ``overrides`` makes
every main seed share one tuning (without it the group's first point's seed is used). Tuning points run through
the same run store as any run (finished ones are reused), the best candidate per group is chosen (NaN/inf, a
metric without a value, or a run that may have diverged, `harness.non_finite`, is worst; ties go to the earlier
candidate), and each main point runs with its group's choice. Kinds do not declare their metric columns, so a
``metric`` that is no column is found once the tuning runs have finished, before any main point runs: one line
naming the file (`ScenarioBase.source_file`).

Run identity: ``ScenarioBase.tune`` is excluded from every dump of a scenario (``Field(exclude=True)``), so it
is absent from the run-id, from run.json's ``scenario`` and from every expanded point: a main run whose
learning rate the stage chose is the very run (same id, reused) as one with that rate set by hand. The choice is
recorded on the point instead: the axis joins the point's values (a column of the metrics frame) and
``SweepPoint.info["tuned"]`` (``{axis, value, metric, goal, candidates: {value: metric}}``) goes into run.json's
info. `TuningResult.table` is the tidy record of the stage: per-key columns, ``value``, ``metric``, ``chosen``,
``run_id``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import ValidationError

from harness.config.blocks import ScenarioBase, TuneSpec
from harness.config.overrides import OverrideError, get_path, set_path
from harness.config.problems import NOT_FOUND, annotation_at, show_value, validation_problems
from harness.errors import HarnessError, ScenarioError
from harness.non_finite import may_have_diverged
from harness.store import RunRecord, canonical_json
from harness.sweep import SweepPoint, max_points, missing_path_problem

UNTUNABLE_KEYS = ("kind", "name", "sweep", "tune")


# ------------------------------------------------------------------------------------------------ validation
def _path_problems(model: type[ScenarioBase], label: str, key: str) -> list[str]:
    parts = key.split(".")
    if any(not part for part in parts):
        return [f"{label}: expected a dotted key path like workload.optimizer.lr, got {key!r}"]
    if parts[0] in UNTUNABLE_KEYS:
        return [f"{label}: {parts[0]!r} cannot be tuned or grouped by"]
    if annotation_at(model, parts) is NOT_FOUND:
        return [missing_path_problem(model, label, key)]
    return []


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def tune_problems(scenario: ScenarioBase) -> list[str]:
    """Problems of the ``tune`` block (none without one): unknown axis / per / override keys, an axis also swept
    or overridden, no candidates, a candidate or override that the kind's model refuses."""
    spec = scenario.tune
    if spec is None:
        return []
    model = type(scenario)
    problems = _path_problems(model, "tune.axis", spec.axis)
    if not spec.values:
        problems.append("tune.values: expected a non-empty list of candidates, got []")
    for key in spec.per:
        problems += _path_problems(model, f"tune.per: {key}", key)
        if _overlaps(key, spec.axis):
            problems.append(f"tune.per: {key} overlaps tune.axis {spec.axis} (a group cannot be chosen by its choice)")
    for key in spec.overrides:
        problems += _path_problems(model, f"tune.overrides.{key}", key)
        if _overlaps(key, spec.axis):
            problems.append(f"tune.overrides.{key}: overlaps tune.axis {spec.axis} (the candidates set it)")
    if scenario.sweep is not None:
        for block, axes in (("product", scenario.sweep.product), ("zip", scenario.sweep.zip)):
            for axis in axes:
                if _overlaps(axis, spec.axis):
                    problems.append(f"tune.axis: {spec.axis} is also swept (sweep.{block}.{axis}); a key is either "
                                    "swept or tuned")
    if problems:
        return problems
    base = scenario.model_dump(mode="json", exclude={"sweep"})
    for index, value in enumerate(spec.values):
        try:
            _tuning_scenario(model, base, spec, value)
        except ScenarioError as err:
            problems += [f"tune.values[{index}] ({show_value(value)}): {line}" for line in err.problems]
    return problems


def check_tune(scenario: ScenarioBase) -> None:
    """Raise `ScenarioError` with every problem of the ``tune`` block."""
    problems = tune_problems(scenario)
    if problems:
        raise ScenarioError(problems)


# ------------------------------------------------------------------------------------------------ points
def _with_values(model: type[ScenarioBase], data: dict[str, Any], values: dict[str, Any]) -> ScenarioBase:
    data = copy.deepcopy(data)
    try:
        for key, value in values.items():
            set_path(data, tuple(key.split(".")), value)
    except OverrideError as err:
        raise ScenarioError([str(err)]) from None
    data.pop("sweep", None)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(validation_problems(err, model, data)) from None


def _tuning_scenario(model: type[ScenarioBase], data: dict[str, Any], spec: TuneSpec, value: Any) -> ScenarioBase:
    return _with_values(model, data, {spec.axis: value, **spec.overrides})


def _resolved(scenario: ScenarioBase, key: str, fallback: Any = None) -> Any:
    try:
        return get_path(scenario.model_dump(mode="json"), tuple(key.split(".")))
    except KeyError:
        return fallback


def _group_key(point: SweepPoint, per: list[str]) -> str:
    return canonical_json([_resolved(point.scenario, key) for key in per])


def _shown(value: Any) -> Any:
    """A table cell: scalars as they are, mappings and lists as compact JSON."""
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def last_metric(frame: pd.DataFrame, metric: str) -> float:
    """The last non-NaN value of column ``metric`` (NaN if there is none); `HarnessError` if no such column."""
    if metric not in frame.columns:
        raise HarnessError(f"tune.metric: {metric!r} is not a column of the tuning runs' metrics "
                           f"(columns: {', '.join(map(str, frame.columns))})")
    column = pd.to_numeric(frame[metric], errors="coerce").dropna()
    return float(column.iloc[-1]) if len(column) else math.nan


def _score(value: float, goal: str) -> float:
    """Lower is better; NaN and inf are worst whatever the goal."""
    if not math.isfinite(value):
        return math.inf
    return value if goal == "min" else -value


@dataclass
class TuningResult:
    """What the stage chose.

    Attributes:
        spec: the ``tune`` block.
        table: one row per tuning run: the ``per`` keys (dotted column names), ``value``, ``metric`` (its last
            value), ``chosen``, ``run_id``.
        chosen: per group key (`_group_key`), the chosen candidate.
        runs: the tuning runs' records.
    """

    spec: TuneSpec
    table: pd.DataFrame
    chosen: dict[str, Any] = field(default_factory=dict)
    runs: list[RunRecord] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per group for people: ``tuned <axis> per <keys>: <value> (<metric> <m> vs <v>: <m>, ...)``."""
        spec, out = self.spec, []
        per = spec.per
        for _, group in self.table.groupby("group", sort=False):
            first = group.iloc[0]
            where = ", ".join(f"{key}={first[key]}" for key in per) if per else "all points"
            best = group[group["chosen"]].iloc[0]
            others = ", ".join(f"{row.value:g}: {row.metric:.4g}" if isinstance(row.value, (int, float))
                               else f"{row.value}: {row.metric:.4g}" for row in group[~group["chosen"]].itertuples())
            value = f"{best.value:g}" if isinstance(best.value, (int, float)) else str(best.value)
            out.append(f"tuned {spec.axis} per {where}: {value} ({spec.metric} {best.metric:.4g}"
                       + (f" vs {others})" if others else ")"))
        return out


def tune_points(
    scenario: ScenarioBase,
    points: list[SweepPoint],
    run: Callable[[list[SweepPoint]], list[RunRecord]],
    limit: int | None = None,
) -> tuple[list[SweepPoint], TuningResult | None]:
    """Run the stage for ``points`` (the main points of ``scenario``); returns the main points with their
    group's chosen value set (and ``info["tuned"]``), and the `TuningResult` (None without a ``tune`` block).

    Args:
        run: runs points through the run store (e.g. `harness.executors.run_points` with the caller's options).
        limit: the most tuning points allowed (default `harness.sweep.max_points()`).
    """
    spec = scenario.tune
    if spec is None:
        return points, None
    check_tune(scenario)
    model = type(scenario)
    groups: dict[str, SweepPoint] = {}
    for point in points:
        groups.setdefault(_group_key(point, spec.per), point)
    count, cap = len(groups) * len(spec.values), max_points(limit)
    if count > cap:
        raise ScenarioError([f"tune: {count:,} tuning points ({len(groups)} groups x {len(spec.values)} values), "
                             f"more than the limit of {cap:,}"])
    tuning: list[SweepPoint] = []
    for key, first in groups.items():
        data = first.scenario.model_dump(mode="json")
        group_values = {k: _resolved(first.scenario, k) for k in spec.per}
        for value in spec.values:
            try:
                resolved = _tuning_scenario(model, data, spec, value)
            except ScenarioError as err:
                raise ScenarioError([f"tune point ({spec.axis}={show_value(value)}): {line}"
                                     for line in err.problems]) from None
            tuning.append(SweepPoint(len(tuning), {**group_values, spec.axis: _resolved(resolved, spec.axis, value)},
                                     resolved))
    records = run(tuning)
    frames = [record.read_metrics() for record in records]
    try:
        for frame in frames:
            last_metric(frame, spec.metric)
    except HarnessError as err:  # the first place the columns are known: no kind declares its columns beforehand
        where = f"{scenario.source_file}: " if scenario.source_file else ""
        raise ScenarioError([f"{where}{err}; the {len(records)} tuning runs are kept and will be reused"]) from None
    rows, chosen, candidates = [], {}, {}
    for position, key in enumerate(groups):
        block = list(range(position * len(spec.values), (position + 1) * len(spec.values)))
        # a candidate whose run may have diverged is never chosen, whatever its metric's last finite value
        scores = [math.nan if may_have_diverged(records[i].non_finite) else last_metric(frames[i], spec.metric)
                  for i in block]
        best = min(range(len(block)), key=lambda j: _score(scores[j], spec.goal))
        chosen[key] = tuning[block[best]].values[spec.axis]
        candidates[key] = {str(tuning[i].values[spec.axis]): scores[j] for j, i in enumerate(block)}
        for j, i in enumerate(block):
            rows.append({"group": position, **{k: _shown(tuning[i].values[k]) for k in spec.per},
                         "value": tuning[i].values[spec.axis], "metric": scores[j], "chosen": j == best,
                         "run_id": records[i].run_id})
    main = []
    for point in points:
        key = _group_key(point, spec.per)
        resolved = _with_values(model, point.scenario.model_dump(mode="json"), {spec.axis: chosen[key]})
        tuned = {"axis": spec.axis, "value": chosen[key], "metric": spec.metric, "goal": spec.goal,
                 "candidates": candidates[key]}
        main.append(SweepPoint(point.index, {**point.values, spec.axis: chosen[key]}, resolved,
                               {**point.info, "tuned": tuned}))
    return main, TuningResult(spec, pd.DataFrame(rows), chosen, records)
