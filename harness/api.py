"""The library entry point the figure layer (and notebooks) use: run a scenario file, get one tidy table back.

Example::

    result = run_scenario_file("scenarios/toy_sweep.yaml", ["workload.n_messages=4"], workers=2)
    result.metrics          # every point's metrics.csv, plus one column per sweep axis (dotted path)
    result.runs[0].run_dir  # results/runs/toy_sweep/<run-id>/

Finished runs are reused from the run store, so asking again is cheap. A scenario with a ``tune:`` block first runs
its tuning points and then the main points at each group's chosen value (`harness.tune`); ``result.tuning`` is the
tidy record of the choice. `write_sweep_table` stores all points in one
tidy CSV beside the runs (what ``harness sweep`` does); `point_table` is the per-point summary it prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from harness.config.blocks import ScenarioBase
from harness.config.loader import load_scenario
from harness.executors import run_points
from harness.store import RunRecord, RunStore, metrics_csv_text
from harness.sweep import SweepPoint, expand


@dataclass
class SweepResult:
    """All points of one scenario.

    Attributes:
        metrics: every point's ``metrics.csv`` concatenated, with the sweep-axis values as extra columns
            named by their dotted paths (``network.inter_node.bandwidth_gbps``), in point order.
        runs: one `RunRecord` per point, in point order.
        points: the expanded points (resolved scenarios and axis values; a tuned axis is one of the values).
        tuning: the ``tune`` stage's table (`harness.tune.TuningResult.table`: ``per`` keys, ``value``,
            ``metric``, ``chosen``, ``run_id``), None without a ``tune`` block.
        tuning_lines: one line per tuning group for people (empty without a ``tune`` block).
    """

    metrics: pd.DataFrame
    runs: list[RunRecord]
    points: list[SweepPoint] = field(default_factory=list)
    tuning: pd.DataFrame | None = None
    tuning_lines: list[str] = field(default_factory=list)

    @property
    def n_reused(self) -> int:
        return sum(record.reused for record in self.runs)


def tidy_table(result: SweepResult) -> pd.DataFrame:
    """All points in one tidy table: ``point`` (1-based), every metric, one column per sweep axis, ``run_id``.

    Axis values that are mappings or lists (a whole block swept) are written as compact JSON.
    """
    frames = []
    for index, record in enumerate(result.runs, start=1):
        frame = record.read_metrics()
        frame.insert(0, "point", index)
        for axis, value in record.values.items():
            shown = value if isinstance(value, (int, float, str, bool)) or value is None else \
                json.dumps(value, sort_keys=True, separators=(",", ":"))
            frame[axis] = [shown] * len(frame)
        frame["run_id"] = record.run_id
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_sweep_table(result: SweepResult, results_root: str | Path | None = None) -> Path | None:
    """Write `tidy_table` beside the runs (``<root>/<name>/sweep-<hash>.csv``); None for an empty sweep."""
    if not result.runs:
        return None
    name = result.runs[0].run_dir.parent.name
    text = metrics_csv_text(tidy_table(result))
    return RunStore(results_root).write_sweep_table(name, [record.run_id for record in result.runs], text)


def _shown(value: object) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e12 else f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_shown(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(item) for item in value)
    return "null" if value is None else str(value)


def _short_names(paths: list[str]) -> dict[str, str]:
    """Each dotted axis path shortened to its shortest unique tail (``network.inter_node.bandwidth_gbps`` ->
    ``bandwidth_gbps`` unless another axis ends the same way)."""
    names = {}
    for path in paths:
        parts = path.split(".")
        for depth in range(1, len(parts) + 1):
            tail = ".".join(parts[-depth:])
            if sum(other == tail or other.endswith("." + tail) for other in paths) == 1:
                break
        names[path] = tail
    return names


def point_table(result: SweepResult) -> pd.DataFrame:
    """One row per point for people: point number, axis values (short names, plain text), status, run id."""
    axes = list(dict.fromkeys(axis for record in result.runs for axis in record.values))
    short = _short_names(axes)
    rows = [{"point": index, **{short[axis]: _shown(record.values.get(axis)) for axis in axes},
             "status": "reused" if record.reused else "computed", "run_id": record.run_id}
            for index, record in enumerate(result.runs, start=1)]
    return pd.DataFrame(rows)


def collect_metrics(records: list[RunRecord]) -> pd.DataFrame:
    """Concatenate the runs' metrics, adding each run's sweep-axis values as columns."""
    frames = []
    for record in records:
        frame = record.read_metrics()
        for axis, value in record.values.items():
            frame[axis] = [value] * len(frame)
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def run_scenario(
    scenario: ScenarioBase,
    *,
    sweep: bool = True,
    workers: int | None = 1,
    executor: str = "local",
    results_root: str | Path | None = None,
    progress: bool = True,
    max_points: int | None = None,
    points_bar: bool = True,
) -> SweepResult:
    """Run every point of a validated scenario (only its base point if ``sweep`` is False); a sweep of more than
    ``max_points`` points (default `harness.sweep.max_points()`) is refused before any point is built. A ``tune``
    block runs its tuning points first (same store, same options) and sets each main point's chosen value.
    ``progress`` and ``points_bar`` as `harness.executors.run_points` takes them."""
    from harness.tune import tune_points

    if not sweep:
        scenario = scenario.model_copy(update={"sweep": None})
    points = expand(scenario, max_points)

    def run(todo: list[SweepPoint]) -> list[RunRecord]:
        return run_points(todo, workers=workers, executor=executor, results_root=results_root, progress=progress,
                          points_bar=points_bar)

    points, tuning = tune_points(scenario, points, run, max_points)
    records = [_with_point_info(record, point) for record, point in zip(run(points), points)]
    return SweepResult(metrics=collect_metrics(records), runs=records, points=points,
                       tuning=None if tuning is None else tuning.table,
                       tuning_lines=[] if tuning is None else tuning.lines())


def _with_point_info(record: RunRecord, point: SweepPoint) -> RunRecord:
    """The record with its point's extra info (``tuned``) merged in, as run.json holds it for a run computed now."""
    if not point.info:
        return record
    return replace(record, info={**record.info, **point.info})


def run_scenario_file(
    path: str | Path,
    overrides: Iterable[str] = (),
    *,
    workers: int | None = 1,
    executor: str = "local",
    results_root: str | Path | None = None,
    progress: bool = True,
    seed: int | None = None,
    sweep: bool = True,
) -> SweepResult:
    """Load, validate and run a scenario file (every sweep point), reusing finished runs.

    Args:
        path: the scenario YAML.
        overrides: ``key.path=value`` strings, as ``--set`` takes them.
        workers: worker processes (None: all CPUs); 1 runs in this process.
        executor: ``"local"`` or ``"ray"``.
        results_root: run-store root (default ``results/runs`` under the current directory).
        progress: show progress bars on stderr (`harness.executors.run_points`).
        seed: replaces the file's seed.
        sweep: False runs only the base point (the file without its sweep block).

    Raises:
        ScenarioError: the file or an override is invalid (one line per problem).
    """
    # without the sweep only the base point runs (as `harness run`): its points are not built, and an override of a
    # swept key is taken for the base point
    scenario = load_scenario(path, overrides, seed=seed, check_points=sweep)
    return run_scenario(scenario, sweep=sweep, workers=workers, executor=executor, results_root=results_root,
                        progress=progress)
