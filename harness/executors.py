"""Run sweep points: in this process, on a local process pool (default) or on Ray (``--executor ray``).

Every point is planned in the parent (its run-id from the resolved scenario, the code version, the
timing-table hashes and its data files' contents, computed once), finished points are reused without running, and
each remaining point is run by a worker that writes its own result through the atomic run store (run.json lists the
data files read: key, path, sha256; and under ``non_finite`` the metrics columns holding NaN or +-inf,
`harness.non_finite`). So an interrupted sweep (Ctrl-C, or ``kill -9`` of the whole process group) loses only the
points in flight, and a rerun redoes only those.

A point run in this process (``harness run``, a sweep with one worker) shows a bar over the units its kind reports
through `RunContext.progress` (`RunBar`: on a terminal only); pool and Ray workers report nothing.

Ray is the engine for sweeps that outgrow one machine: if no Ray instance is running, a local one is started
with ``num_cpus=workers`` and shut down afterwards; an instance that is already running is used as it is.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness.config.blocks import table_set_of
from harness.config.datafiles import data_file_records
from harness.errors import HarnessError
from harness.non_finite import NOT_APPLICABLE_KEY, non_finite_columns
from harness.provenance import kind_code_version, timing_table_hashes
from harness.store import RunRecord, RunStore, compute_run_id, metrics_csv_text, resolved_scenario
from harness.sweep import SweepPoint
from harness.timing.collective_tables import measured_collectives
from harness.workloads.base import RunContext, RunOutput, no_progress, seeded_global_rngs

EXECUTORS = ("local", "ray")
#: local workers allowed per CPU: more only wait for a core, and each holds its own process memory
MAX_WORKERS_PER_CPU = 4


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to run (or reuse) one point; picklable."""

    point: SweepPoint
    run_id: str
    code_version: str
    table_hashes: dict[str, str]
    results_root: str
    code_modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class _PointFailure:
    """A point that raised in a worker, carried back as text (exceptions do not always pickle)."""

    index: int
    message: str
    user_error: bool


class LazyReplay:
    """The scenario's timing replay, opened by ``open_replay(scenario)`` on first attribute access.

    Kinds that never touch ``ctx.timings`` never open tables.
    """

    def __init__(self, open_replay: Callable[[Any], Any], scenario: Any):
        self._open_replay = open_replay
        self._scenario = scenario
        self._replay: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._replay is None:
            self._replay = self._open_replay(self._scenario)
        return getattr(self._replay, name)


def timings_for(scenario: Any) -> LazyReplay | None:
    """A lazy replay of the scenario's table set, or None for a kind that reads no timing tables."""
    if table_set_of(scenario) is None:
        return None
    from harness.timing.replay import open_replay

    return LazyReplay(open_replay, scenario)


def plan(points: list[SweepPoint], results_root: str | Path | None = None) -> list[PointTask]:
    """One task per point, with its run-id; each kind's code version is hashed once here for every worker."""
    root = str(RunStore(results_root).root)
    hashes_by_set: dict[str, dict[str, str]] = {}
    tasks = []
    for point in points:
        table_set = table_set_of(point.scenario)
        if table_set not in hashes_by_set:
            hashes_by_set[table_set] = timing_table_hashes(table_set) if table_set is not None else {}
        hashes = hashes_by_set[table_set]
        code = kind_code_version(point.scenario.kind)
        run_id = compute_run_id(point.scenario, code.digest, hashes)
        tasks.append(PointTask(point, run_id, code.digest, hashes, root, code.modules))
    return tasks


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _load_average() -> list[float] | None:
    """The machine's 1-, 5- and 15-minute load averages (None where the system does not tell)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        return None


def execute_task(task: PointTask, progress: Callable[[int, int], None] | None = None) -> RunRecord:
    """Reuse the point's finished run, or run it and store the result atomically; ``progress`` becomes the run's
    `RunContext.progress` (default: shows nothing)."""
    from harness.workloads import WORKLOADS, load_all

    scenario, values = task.point.scenario, task.point.values
    store = RunStore(task.results_root)
    found = store.find(scenario.name, task.run_id, values)
    if found is not None:
        return found
    if scenario.kind not in WORKLOADS:  # unpickling the scenario usually imported (and registered) its kind
        load_all()
    kind = WORKLOADS.get(scenario.kind)
    ctx = RunContext(seed_seq=np.random.SeedSequence(scenario.seed), timings=timings_for(scenario),
                     progress=progress or no_progress)
    load_before = _load_average()
    started_at, start = _now(), time.perf_counter()
    # global generators seeded per point; closed-form collectives from measured tables, if any
    with seeded_global_rngs(scenario.seed), measured_collectives(scenario) as collectives:
        output = kind.run(scenario, ctx)
    wall_time_s = time.perf_counter() - start
    if not isinstance(output, RunOutput):
        raise TypeError(f"the run function of kind {scenario.kind!r} returned {type(output).__name__}, not RunOutput")
    csv_text = metrics_csv_text(output.metrics)
    # the data files as the run read them; if one changed since the run-id was computed, the result belongs to
    # neither identity
    data_files = data_file_records(scenario)
    if data_files and compute_run_id(scenario, task.code_version, task.table_hashes, data_files) != task.run_id:
        keys = ", ".join(record["key"] for record in data_files)
        raise HarnessError(f"{keys}: a data file changed while the run was planned or running; nothing was stored, "
                           "run it again")
    info = {**ctx.info, **output.info, **(collectives.info() if collectives is not None else {}), **task.point.info}
    run_info = {
        "name": scenario.name,
        "kind": scenario.kind,
        "scenario": resolved_scenario(scenario),
        "seed": scenario.seed,
        "sweep_point": values,
        "code_version": task.code_version,
        "code_modules": list(task.code_modules),
        "timing_tables": task.table_hashes,
        "data_files": data_files,
        "harness_version": __version__,
        "started_at": started_at,
        "finished_at": _now(),
        "wall_time_s": wall_time_s,
        # how busy the machine was: a time measured in the run is slower when other work shares the CPUs
        "host_load": {"cpus": default_workers(), "load_average_before": load_before,
                      "load_average_after": _load_average()},
        "metrics_rows": len(output.metrics),
        "non_finite": non_finite_columns(output.metrics, info.get(NOT_APPLICABLE_KEY, ())),
        "info": info,
    }
    run_dir, already_there = store.write(scenario.name, task.run_id, csv_text, run_info)
    # the info as stored, also for a fresh run: a figure drawn now and one drawn later from the reused run get
    # the same record (key order, JSON types)
    return RunRecord.stored(run_dir, store.read_run(run_dir) or {}, already_there, values)


def _execute_safely(task: PointTask) -> RunRecord | _PointFailure:
    try:
        return execute_task(task)
    except HarnessError as err:
        return _PointFailure(task.point.index, str(err), True)
    except Exception:  # a bug in a run function: carry the traceback back to the parent
        return _PointFailure(task.point.index, traceback.format_exc(), False)


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; only the parent reacts (it terminates the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _where(task: PointTask) -> str:
    return f"sweep point {task.point.index + 1} ({', '.join(f'{k}={v!r}' for k, v in task.point.values.items())})"


def _raise_failure(failure: _PointFailure, tasks: list[PointTask]) -> None:
    task = next(t for t in tasks if t.point.index == failure.index)
    where = _where(task)
    if failure.user_error:
        raise HarnessError(f"{where}: {failure.message}")
    raise RuntimeError(f"{where} failed in a worker:\n{failure.message}")


# ----------------------------------------------------------------------------------------- executors


class RunBar:
    """`RunContext.progress` of a point run in this process: a tqdm bar on stderr named after the scenario, made at
    the first call, shown only when stderr is a terminal and cleared when closed; a new total (or fewer units done)
    restarts it."""

    def __init__(self, desc: str):
        self.desc = desc
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, file=sys.stderr, leave=False, disable=None, mininterval=0.5,
                            dynamic_ncols=True)
        elif total != self.bar.total or done < self.bar.n:  # a new phase
            self.bar.reset(total=total)
        self.bar.update(done - self.bar.n)  # tqdm redraws at most every mininterval

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_in_process(tasks: list[PointTask], on_done: Callable[[RunRecord], None], run_bars: bool = False) -> None:
    for task in tasks:
        bar = RunBar(task.point.scenario.name) if run_bars else None
        try:
            record = execute_task(task, bar)
        except HarnessError as err:  # name the point, as `_raise_failure` does for a pool's (not `harness run`'s)
            if not task.point.values:
                raise
            raise HarnessError(f"{_where(task)}: {err}") from None
        finally:
            if bar is not None:
                bar.close()
        on_done(record)


def _run_on_pool(tasks: list[PointTask], workers: int, on_done: Callable[[RunRecord], None]) -> None:
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(processes=min(workers, len(tasks)), initializer=_ignore_sigint)
    try:
        for result in pool.imap_unordered(_execute_safely, tasks):
            if isinstance(result, _PointFailure):
                _raise_failure(result, tasks)
            on_done(result)
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()


def _run_on_ray(tasks: list[PointTask], workers: int, on_done: Callable[[RunRecord], None]) -> None:
    import ray

    started_here = False
    if not ray.is_initialized():
        try:
            ray.init(address="auto", log_to_driver=False)
        except ConnectionError:
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
            started_here = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_execute_safely)
        pending = {remote.remote(task): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                pending.pop(ref)
                result = ray.get(ref)
                if isinstance(result, _PointFailure):
                    for other in pending:
                        ray.cancel(other, force=True)
                    _raise_failure(result, tasks)
                on_done(result)
    finally:
        if started_here:
            ray.shutdown()


def check_workers(workers: int, executor: str = "local") -> None:
    """Refuse (`HarnessError`) fewer than 1 worker, or more local workers than `MAX_WORKERS_PER_CPU` per CPU."""
    if workers < 1:
        raise HarnessError(f"--workers must be at least 1, got {workers}")
    cap = MAX_WORKERS_PER_CPU * default_workers()
    if executor == "local" and workers > cap:
        raise HarnessError(f"--workers {workers}: more than {MAX_WORKERS_PER_CPU}x the {default_workers()} CPUs this "
                           f"process may use; each worker is a Python process (about 0.3 GB with torch loaded): give "
                           f"at most {cap}, or --executor ray for more machines")


def run_points(
    points: list[SweepPoint],
    *,
    workers: int | None = None,
    executor: str = "local",
    results_root: str | Path | None = None,
    progress: bool = True,
    points_bar: bool = True,
) -> list[RunRecord]:
    """Run (or reuse) every point; returns one `RunRecord` per point, in point order.

    Args:
        points: from `harness.sweep.expand`.
        workers: parallel worker processes (default: the CPUs available); 1 with ``local`` runs in-process.
        executor: ``"local"`` (process pool) or ``"ray"``.
        results_root: the run store's root (default ``results/runs`` under the current directory).
        progress: show tqdm bars on stderr: one over the points (with the count of reused points) and, while a
            point runs in this process, one over the units its kind reports (`RunBar`; only on a terminal). Pool
            and Ray workers report nothing: their output would interleave with the points bar.
        points_bar: False leaves out the bar over the points (``harness run``: one point).
    """
    from tqdm import tqdm

    if executor not in EXECUTORS:
        raise HarnessError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    workers = default_workers() if workers is None else workers
    check_workers(workers, executor)
    tasks = plan(points, results_root)
    store = RunStore(results_root)

    by_run_id: dict[str, list[int]] = {}  # run-id -> positions in `tasks` (equal points run once)
    for position, task in enumerate(tasks):
        by_run_id.setdefault(task.run_id, []).append(position)
    records: dict[int, RunRecord] = {}
    name = points[0].scenario.name if points else ""
    bar = tqdm(total=len(tasks), desc=name or "points", unit="point", file=sys.stderr,
               disable=not (progress and points_bar), leave=True, dynamic_ncols=True)
    reused = 0

    def finish(record: RunRecord) -> None:
        nonlocal reused
        for position in by_run_id[record.run_id]:
            records[position] = replace(record, values=dict(tasks[position].point.values))
        reused += len(by_run_id[record.run_id]) if record.reused else 0
        bar.set_postfix(reused=reused, refresh=False)
        bar.update(len(by_run_id[record.run_id]))

    try:
        todo = []
        for run_id, positions in by_run_id.items():
            first = tasks[positions[0]]
            found = store.find(first.point.scenario.name, run_id, first.point.values)
            if found is not None:
                finish(found)
            else:
                todo.append(first)
        if todo and executor == "ray":
            _run_on_ray(todo, workers, finish)
        elif workers == 1 or len(todo) == 1:
            _run_in_process(todo, finish, run_bars=progress)
        elif todo:
            _run_on_pool(todo, workers, finish)
    finally:
        bar.close()
    return [records[position] for position in range(len(tasks))]
