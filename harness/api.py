"""The library entry point the figure layer (and notebooks) use: run a scenario file, get one tidy table back.

Example::

    result = run_scenario_file("scenarios/toy_sweep.yaml", ["workload.n_messages=4"], workers=2)
    result.metrics          # every point's metrics.csv, plus one column per sweep axis (dotted path)
    result.runs[0].run_dir  # results/runs/toy_sweep/<run-id>/

Finished runs are reused from the run store, so asking again is cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.config.blocks import ScenarioBase
from harness.config.loader import load_scenario
from harness.executors import run_points
from harness.store import RunRecord
from harness.sweep import SweepPoint, expand


@dataclass
class SweepResult:
    """All points of one scenario.

    Attributes:
        metrics: every point's ``metrics.csv`` concatenated, with the sweep-axis values as extra columns
            named by their dotted paths (``network.inter_node.bandwidth_gbps``), in point order.
        runs: one `RunRecord` per point, in point order.
        points: the expanded points (resolved scenarios and axis values).
    """

    metrics: pd.DataFrame
    runs: list[RunRecord]
    points: list[SweepPoint] = field(default_factory=list)

    @property
    def n_reused(self) -> int:
        return sum(record.reused for record in self.runs)


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
) -> SweepResult:
    """Run every point of a validated scenario (only its base point if ``sweep`` is False)."""
    if not sweep:
        scenario = scenario.model_copy(update={"sweep": None})
    points = expand(scenario)
    records = run_points(points, workers=workers, executor=executor, results_root=results_root, progress=progress)
    return SweepResult(metrics=collect_metrics(records), runs=records, points=points)


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
        progress: show a progress bar on stderr.
        seed: replaces the file's seed.
        sweep: False runs only the base point (the file without its sweep block).

    Raises:
        ScenarioError: the file or an override is invalid (one line per problem).
    """
    scenario = load_scenario(path, overrides, seed=seed)
    return run_scenario(scenario, sweep=sweep, workers=workers, executor=executor, results_root=results_root,
                        progress=progress)
