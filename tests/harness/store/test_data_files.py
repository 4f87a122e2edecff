"""Data files in the run identity: an edited trace is a new run, a relative path means the scenario file's folder
(from any current directory), run.json lists the files read, and a damaged metrics.csv is computed again."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from harness.api import run_scenario_file
from harness.config.blocks import ScenarioBase, Strict
from harness.config.datafiles import DataFile
from harness.config.loader import load_scenario
from harness.errors import HarnessError, ScenarioError
from harness.executors import execute_task, plan
from harness.store import canonical_json, compute_run_id, resolved_scenario
from harness.sweep import expand
from harness.workloads.toy import ToyScenario, ToyWorkload

HEADER = "time_h,component,kind,duration_h\n"
ONE_FAILURE = HEADER + "1.0,device:3,fail,2.0\n"
THREE_FAILURES = ONE_FAILURE + "3.0,device:2,fail,1.0\n4.0,device:1,fail,1.0\n"
SCENARIO = """\
name: ft_data_files
kind: fault_tolerant_training
cluster: {{nodes: 1, devices_per_node: 8, device: a100}}
workload: {{model: llama-60m, policies: [failure_free]}}
failures: {{horizon_h: 10, trace: {trace}}}
"""


def write_scenario(folder: Path, trace: str, trace_text: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if trace_text is not None:
        (folder / trace).write_text(trace_text)
    path = folder / "scenario.yaml"
    path.write_text(SCENARIO.format(trace=trace))
    return path


def run(path, root, *overrides):
    result = run_scenario_file(path, overrides, results_root=root, progress=False)
    (record,) = result.runs
    return record, int(result.metrics["n_failures"].iloc[0])


def test_an_edited_trace_is_a_new_run_and_run_json_lists_the_files_read(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text(ONE_FAILURE)
    scenario = write_scenario(tmp_path, str(trace))
    first, failures = run(scenario, tmp_path / "runs")
    assert not first.reused and failures == 1
    assert run(scenario, tmp_path / "runs")[0].reused

    trace.write_text(THREE_FAILURES)
    second, failures = run(scenario, tmp_path / "runs")
    assert not second.reused and second.run_id != first.run_id and failures == 3
    stored = json.loads((second.run_dir / "run.json").read_text())
    assert stored["data_files"] == [{"key": "failures.trace", "path": str(trace),
                                     "sha256": hashlib.sha256(trace.read_bytes()).hexdigest()}]

    trace.write_text(ONE_FAILURE)  # back to the first content: the first run again
    assert run(scenario, tmp_path / "runs")[0].run_id == first.run_id


def test_a_trace_edited_after_planning_is_refused_not_stored(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text(ONE_FAILURE)
    (task,) = plan(expand(load_scenario(write_scenario(tmp_path, "trace.csv"))), tmp_path / "runs")
    trace.write_text(THREE_FAILURES)
    with pytest.raises(HarnessError, match=r"^failures.trace: a data file changed while the run was planned or "):
        execute_task(task)
    assert not list((tmp_path / "runs").rglob("run.json"))


def test_a_relative_path_is_read_from_the_scenario_files_folder_whatever_the_current_directory(tmp_path, monkeypatch):
    a = write_scenario(tmp_path / "A", "trace.csv", ONE_FAILURE)
    b = write_scenario(tmp_path / "B", "trace.csv", THREE_FAILURES)
    root = tmp_path / "runs"
    monkeypatch.chdir(a.parent)
    in_a, failures_a = run("scenario.yaml", root)
    monkeypatch.chdir(b.parent)
    in_b, failures_b = run("scenario.yaml", root)
    assert (failures_a, failures_b) == (1, 3)
    assert not in_b.reused and in_b.run_id != in_a.run_id
    # the same file from elsewhere reads its own folder's trace
    monkeypatch.chdir(tmp_path)
    again, failures = run(a, root)
    assert again.reused and again.run_id == in_a.run_id and failures == 1
    # a relative path given with --set is read from the current directory (B here), where the shell completed it
    monkeypatch.chdir(b.parent)
    overridden, failures = run(a, root, "failures.trace=trace.csv")
    assert overridden.run_id == in_b.run_id and failures == 3


def toy_run(root, n_messages=5):
    scenario = ToyScenario(name="toy_damaged", seed=1, workload=ToyWorkload(n_messages=n_messages))
    (task,) = plan(expand(scenario), root)
    return execute_task(task)


def test_a_damaged_metrics_csv_is_computed_again_not_served(tmp_path, caplog):
    first = toy_run(tmp_path)
    good = first.metrics_path.read_bytes()
    first.metrics_path.write_text("time_ns,size_bytes\n")  # the header alone: an empty table
    with caplog.at_level(logging.WARNING, logger="harness.store"):
        again = toy_run(tmp_path)
    assert not again.reused and again.run_dir == first.run_dir
    assert again.metrics_path.read_bytes() == good
    (line,) = [r.getMessage() for r in caplog.records if r.name == "harness.store"]
    assert first.run_id in line and "metrics.csv" in line and "computing the run again" in line
    assert toy_run(tmp_path).reused  # repaired, so served again
    stored = json.loads((again.run_dir / "run.json").read_text())
    assert stored["metrics_sha256"] == hashlib.sha256(good).hexdigest() and stored["metrics_rows"] == 5


def test_a_run_stored_before_the_metrics_hash_is_checked_by_its_row_count(tmp_path):
    first = toy_run(tmp_path)
    run_json = first.run_dir / "run.json"
    stored = json.loads(run_json.read_text())
    stored.pop("metrics_sha256", None)
    run_json.write_text(json.dumps(stored))
    assert toy_run(tmp_path).reused  # intact: served
    lines = first.metrics_path.read_text().splitlines(keepends=True)
    first.metrics_path.write_text("".join(lines[:3]))  # two of five rows left
    again = toy_run(tmp_path)
    assert not again.reused and len(again.read_metrics()) == 5


def test_run_id_follows_a_data_files_content_not_its_path(tmp_path):
    class Workload(Strict):
        table: DataFile | None = Field(None)
        extra: list[DataFile] = Field(default_factory=list)

    class Scenario(ScenarioBase):
        kind: Literal["t"] = "t"
        workload: Workload = Field(default_factory=Workload)

    def run_id(**workload):
        return compute_run_id(Scenario(name="t", workload=Workload(**workload)), "c" * 64, {})

    one, other = tmp_path / "one.csv", tmp_path / "sub" / "other.csv"
    other.parent.mkdir()
    one.write_text("x\n1\n")
    other.write_text("x\n1\n")
    assert run_id(table=str(one)) == run_id(table=str(other))  # same bytes, another folder: the same run
    other.write_text("x\n2\n")
    assert run_id(table=str(one)) != run_id(table=str(other))
    assert run_id(table=str(one), extra=[str(one)]) != run_id(table=str(one), extra=[str(other)])
    # no data file: the identity a scenario always had
    plain = Scenario(name="t")
    identity = {"scenario": resolved_scenario(plain), "code_version": "c" * 64, "tables": {}}
    assert compute_run_id(plain, "c" * 64, {}) == hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:16]
    with pytest.raises(ScenarioError, match=r"^workload.table: .*gone.csv: no such file$"):
        run_id(table=str(tmp_path / "gone.csv"))
