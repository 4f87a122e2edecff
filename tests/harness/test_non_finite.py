"""Metrics that are not finite: found when a run is stored (run.json ``non_finite``), one line from `harness run`
(computed or reused) and one summary line from `harness sweep`; the exit code stays 0 (`harness.non_finite`)."""

from __future__ import annotations

import dataclasses
import json
import math

import pandas as pd
import pytest

from harness.api import run_scenario_file
from harness.non_finite import NOT_APPLICABLE_KEY, non_finite_columns, run_line, sweep_line
from tests.harness.cli_run import cli

# the cheapest training that diverges: ARC-Top-K's robust shifted objective, 12 steps of plain SGD (< 0.1 s once
# torch is imported); at lr 1e15 loss and dist overflow to +inf at step 9, at lr 1e-3 they fall
SCENARIO = """\
name: diverging
kind: compressed_training
seed: 0
technique: {name: none, params: {}}
workload:
  task: {name: robust_shifted, blocks: 4, block_size: 2, noise_blocks: 2}
  n_workers: 2
  steps: 12
  error_feedback: {name: none}
  optimizer: {name: sgd, lr: 1.0e-3}
  record_every: 2
"""
LR_SWEEP = "sweep:\n  product:\n    workload.optimizer.lr: [1.0e-3, 1.0e15]\n"
DIVERGED = ("warning: metric 'dist' is +inf from step 9 on (2 of 7 rows): the run may have diverged; "
            "also not finite: loss")


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "diverging.yaml"
    path.write_text(SCENARIO)
    return path


def _run_json(out, name="diverging") -> dict:
    (run_dir,) = (out / name).iterdir()
    return json.loads((run_dir / "run.json").read_text())


def test_a_diverging_run_is_stored_with_its_non_finite_columns_and_one_warning_line(capsys, tmp_path, scenario):
    out = tmp_path / "runs"
    code, stdout, err = cli(capsys, "run", scenario, "--out", out, "--set", "workload.optimizer.lr=1e15")
    assert code == 0 and "diverging: computed" in stdout
    assert err == DIVERGED + "\n"
    entry = {"rows": 7, "count": 2, "first_row": 5, "first_step": 9, "values": ["+inf"]}
    assert _run_json(out)["non_finite"] == {"loss": entry, "dist": entry}

    # reused: the same line, from the stored run.json
    code, stdout, err = cli(capsys, "run", scenario, "--out", out, "--set", "workload.optimizer.lr=1e15")
    assert code == 0 and "diverging: reused (finished earlier)" in stdout
    assert err == DIVERGED + "\n"


def test_a_finite_run_prints_no_warning(capsys, tmp_path, scenario):
    code, stdout, err = cli(capsys, "run", scenario, "--out", tmp_path)
    assert code == 0 and "diverging: computed" in stdout and err == ""
    assert _run_json(tmp_path)["non_finite"] == {}


def test_a_sweep_names_the_points_with_non_finite_metrics_in_one_line(capsys, tmp_path, scenario):
    scenario.write_text(SCENARIO + LR_SWEEP)
    code, stdout, err = cli(capsys, "sweep", scenario, "--workers", "1", "--out", tmp_path)
    assert code == 0 and stdout.startswith("diverging: 2 points, 2 computed, 0 reused")
    lines = [line for line in err.splitlines() if "point" in line and "%" not in line]
    assert lines == ["warning: 1 of 2 points has metrics that are not finite: point 2 (dist, loss); point 2 may "
                     "have diverged; details: non_finite in each point's run.json"]
    code, stdout, again = cli(capsys, "sweep", scenario, "--workers", "1", "--out", tmp_path)
    assert "0 computed, 2 reused" in stdout and lines[0] in again.splitlines()


def test_nan_in_a_column_the_kind_declares_not_applicable_is_not_counted(tmp_path, monkeypatch, scenario):
    """A kind lists in its info the columns where NaN means "not applicable": NaN there is left out, inf is not."""
    from harness.workloads import WORKLOADS, load_all
    from harness.workloads.base import RunOutput

    load_all()
    kind = WORKLOADS.get("compressed_training")

    def serving(scenario, ctx):
        metrics = pd.DataFrame({"latency_s": [1.0, math.nan], "p99_s": [math.inf, math.nan],
                                "tokens": [5.0, math.nan]})
        return RunOutput(metrics=metrics, info={NOT_APPLICABLE_KEY: ["latency_s", "p99_s"]})

    patched, get = dataclasses.replace(kind, run=serving), WORKLOADS.get
    monkeypatch.setattr(WORKLOADS, "get", lambda name: patched if name == "compressed_training" else get(name))
    (record,) = run_scenario_file(scenario, results_root=tmp_path, progress=False).runs
    assert record.non_finite == {"p99_s": {"rows": 2, "count": 1, "first_row": 0, "values": ["+inf"]},
                                 "tokens": {"rows": 2, "count": 1, "first_row": 1, "values": ["nan"]}}
    assert record.info[NOT_APPLICABLE_KEY] == ["latency_s", "p99_s"]  # run.json says which columns, for readers


def test_only_numeric_columns_count_and_steps_name_the_first_row():
    metrics = pd.DataFrame({
        "step": [0, 10, 20, 30],
        "loss": [1.0, 0.5, math.nan, math.nan],
        "grad": [1.0, -math.inf, 2.0, math.inf],
        "method": ["a", "b", None, "d"],  # text: never counted
        "dense": [True, False, True, False],
        "count": pd.array([1, None, 3, 4], dtype="Int64"),  # a missing integer is NaN too
    })
    assert non_finite_columns(metrics) == {
        "loss": {"rows": 4, "count": 2, "first_row": 2, "values": ["nan"], "first_step": 20},
        "grad": {"rows": 4, "count": 2, "first_row": 1, "values": ["+inf", "-inf"], "first_step": 10},
        "count": {"rows": 4, "count": 1, "first_row": 1, "values": ["nan"], "first_step": 10},
    }
    assert non_finite_columns(metrics.drop(columns=["step"]))["loss"] == {
        "rows": 4, "count": 2, "first_row": 2, "values": ["nan"]}
    assert non_finite_columns(metrics, not_applicable=["loss", "grad", "count"]) == {
        "grad": {"rows": 4, "count": 2, "first_row": 1, "values": ["+inf", "-inf"], "first_step": 10}}
    assert non_finite_columns(pd.DataFrame({"x": [1.0, 2.0]})) == {}

    found = non_finite_columns(metrics)
    assert run_line(found) == ("warning: metric 'loss' is NaN from step 20 on (2 of 4 rows): the run may have "
                               "diverged; also not finite: grad, count")


def test_lines_are_true_where_nan_is_not_a_divergence():
    no_fit = {"latency_mean_s": {"rows": 4, "count": 1, "first_row": 1, "values": ["nan"]}}
    assert run_line(no_fit) == "note: metric 'latency_mean_s' is NaN at row 2 (1 of 4 rows)"
    gaps = {"eval_loss": {"rows": 5, "count": 3, "first_row": 0, "values": ["nan"], "first_step": 0}}
    assert run_line(gaps) == "note: metric 'eval_loss' is NaN in 3 of 5 rows, first at step 0"
    never = {"x": {"rows": 3, "count": 3, "first_row": 0, "values": ["nan", "-inf"], "first_step": 1}}
    assert run_line(never) == "note: metric 'x' is not finite from step 1 on (3 of 3 rows)"  # never finite
    assert run_line({}) is None
    assert sweep_line([{}, no_fit, {}]) == ("note: 1 of 3 points has metrics that are not finite: point 2 "
                                            "(latency_mean_s); details: non_finite in each point's run.json")
    assert sweep_line([{}, {}]) is None
    many = sweep_line([gaps] * 7)
    assert many.startswith("note: 7 of 7 points have metrics that are not finite: point 1 (eval_loss); ")
    assert "; point 5 (eval_loss); 2 more; details:" in many and "point 6" not in many
