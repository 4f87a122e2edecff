"""Gaps in the tests of `harness.executors` found by a mutation audit.

Closed here:
- a run function that returns something other than `RunOutput` is refused, and nothing is stored;
- the run's info: what the kind returns overrides what it put in `RunContext.info`, the point's own info wins;
- a point that fails in a worker: a `HarnessError` comes back as a user error naming the 1-based point and its
  values, any other exception as a RuntimeError with the traceback;
- the points bar counts every reused point, equal points that share one run included;
- `check_workers`: exactly 4 local workers per CPU are allowed, one more is refused; Ray is not capped.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from harness.config.blocks import SweepSpec
from harness.errors import HarnessError
from harness.executors import _execute_safely, _raise_failure, check_workers, default_workers, plan, run_points
from harness.sweep import expand
from harness.workloads import WORKLOADS, load_all
from harness.workloads.base import RunOutput
from harness.workloads.toy import ToyScenario


def _toy_points(seeds=(1,)):
    return expand(ToyScenario(name="toy_exec_gaps", sweep=SweepSpec(product={"seed": list(seeds)})))


@pytest.fixture
def toy_runs(monkeypatch):
    """Replace the toy kind's run function for the test: ``toy_runs(fn)``."""
    load_all()
    kind, get = WORKLOADS.get("toy"), WORKLOADS.get

    def use(run):
        patched = dataclasses.replace(kind, run=run)
        monkeypatch.setattr(WORKLOADS, "get", lambda name: patched if name == "toy" else get(name))

    return use


def test_a_run_function_that_does_not_return_run_output_is_refused_and_nothing_stored(tmp_path, toy_runs):
    toy_runs(lambda scenario, ctx: {"metrics": pd.DataFrame({"x": [1]})})
    with pytest.raises(TypeError, match=r"^the run function of kind 'toy' returned dict, not RunOutput$"):
        run_points(_toy_points(), workers=1, results_root=tmp_path, progress=False)
    assert not (tmp_path / "toy_exec_gaps").exists()


def test_the_kinds_returned_info_overrides_what_it_put_in_the_context_and_the_points_info_wins(tmp_path, toy_runs):
    def run(scenario, ctx):
        ctx.info.update({"source": "context", "only_context": 1, "tuned": "from the run"})
        return RunOutput(metrics=pd.DataFrame({"x": [1]}), info={"source": "output"})

    toy_runs(run)
    (point,) = _toy_points()
    point = dataclasses.replace(point, info={"tuned": {"lr": 0.5}})
    (record,) = run_points([point], workers=1, results_root=tmp_path, progress=False)
    assert record.info == {"source": "output", "only_context": 1, "tuned": {"lr": 0.5}}


def test_a_harness_error_in_a_worker_comes_back_as_a_user_error_naming_the_point(tmp_path, toy_runs):
    def run(scenario, ctx):
        raise HarnessError("workload.trace: no such file")

    toy_runs(run)
    tasks = plan(_toy_points(seeds=(4, 7)), tmp_path)
    failure = _execute_safely(tasks[1])
    assert (failure.index, failure.message, failure.user_error) == (1, "workload.trace: no such file", True)
    with pytest.raises(HarnessError, match=r"^sweep point 2 \(seed=7\): workload.trace: no such file$"):
        _raise_failure(failure, tasks)


def test_a_bug_in_a_worker_comes_back_as_a_runtime_error_with_its_traceback(tmp_path, toy_runs):
    def run(scenario, ctx):
        raise ZeroDivisionError("division by zero in the kind")

    toy_runs(run)
    tasks = plan(_toy_points(seeds=(4, 7)), tmp_path)
    failure = _execute_safely(tasks[0])
    assert failure.index == 0 and failure.user_error is False
    assert failure.message.startswith("Traceback (most recent call last):")
    assert failure.message.rstrip().endswith("ZeroDivisionError: division by zero in the kind")
    with pytest.raises(RuntimeError, match=r"^sweep point 1 \(seed=4\) failed in a worker:\nTraceback"):
        _raise_failure(failure, tasks)


def test_four_local_workers_per_cpu_are_allowed_and_ray_is_not_capped():
    cap = 4 * default_workers()
    check_workers(cap)
    check_workers(1)
    with pytest.raises(HarnessError, match=rf"^--workers {cap + 1}: more than 4x"):
        check_workers(cap + 1)
    check_workers(cap + 1, "ray")
    check_workers(10 * cap, "ray")


def test_the_points_bar_counts_equal_points_that_share_a_reused_run_each(tmp_path, capsys):
    points = expand(ToyScenario(name="toy_exec_gaps", sweep=SweepSpec(product={"seed": [5, 5, 6]})))
    run_points(points, workers=1, results_root=tmp_path, progress=False)
    capsys.readouterr()
    run_points(points, workers=1, results_root=tmp_path, progress=True)
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "3/3" in last and last.endswith("reused=3]")
