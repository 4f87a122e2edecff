"""Data-file keys in the loader: relative paths are read from the scenario file's folder (``--set`` values from the
current directory), sweep and tune values too, and a missing or unreadable file is one line at validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.config.datafiles import data_files, declares_data_files
from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.workloads.fault_tolerant_training import FaultTolerantScenario
from harness.workloads.toy import ToyScenario

TRACE = "time_h,component,kind,duration_h\n1.0,device:3,fail,2.0\n"
REPAIRS = "duration_h\n1.0\n2.5\n"
SCENARIO = """\
name: ft_paths
kind: fault_tolerant_training
cluster: {nodes: 1, devices_per_node: 8, device: cpu}
workload: {model: llama-60m, policies: [failure_free]}
"""


def scenario_file(folder: Path, failures: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "s.yaml"
    path.write_text(SCENARIO + f"failures: {failures}\n" + extra)
    return path


def validate(capsys, *argv):
    code = main(["validate", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_relative_paths_are_read_from_the_scenario_files_folder(tmp_path, monkeypatch):
    folder = tmp_path / "scenarios"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "trace.csv").write_text(TRACE)
    (folder / "data" / "repairs.csv").write_text(REPAIRS)
    path = scenario_file(folder, "{horizon_h: 10, trace: data/trace.csv, "
                                 "device: {mtbf_h: 5, repair: {kind: empirical, csv: ./data/../data/repairs.csv}}}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    failures = load_scenario(path).failures
    assert failures.trace == str(folder / "data" / "trace.csv")
    assert failures.device.repair.csv == str(folder / "data" / "repairs.csv")
    # an absolute path stays as it is
    absolute = scenario_file(tmp_path / "abs", f"{{horizon_h: 10, trace: {folder / 'data' / 'trace.csv'}}}")
    assert load_scenario(absolute).failures.trace == str(folder / "data" / "trace.csv")


def test_set_values_are_read_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "mine.csv").write_text(TRACE)
    (tmp_path / "repairs.csv").write_text(REPAIRS)
    path = scenario_file(tmp_path / "scenarios", "{horizon_h: 10}")
    monkeypatch.chdir(tmp_path / "here")
    scenario = load_scenario(path, ["failures.trace=mine.csv",
                                    "failures.node={mtbf_h: 5, repair: {kind: empirical, csv: ../repairs.csv}}"])
    assert scenario.failures.trace == str(tmp_path / "here" / "mine.csv")
    assert scenario.failures.node.repair.csv == str(tmp_path / "repairs.csv")


def test_sweep_and_tune_values_are_resolved_like_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name in ("a.csv", "b.csv"):
        (folder / name).write_text(TRACE)
    (folder / "repairs.csv").write_text(REPAIRS)
    path = scenario_file(folder, "{horizon_h: 10, trace: a.csv}", (
        "sweep:\n  product:\n    failures.trace: [a.csv, b.csv]\n"
        "    failures.device: [null, {mtbf_h: 5, repair: {kind: empirical, csv: repairs.csv}}]\n"))
    monkeypatch.chdir(tmp_path)
    scenario = load_scenario(path)
    assert scenario.sweep.product["failures.trace"] == [str(folder / "a.csv"), str(folder / "b.csv")]
    assert scenario.sweep.product["failures.device"][1]["repair"]["csv"] == str(folder / "repairs.csv")
    (tmp_path / "c.csv").write_text(TRACE)
    swept = load_scenario(path, ["sweep.product.failures.trace=[c.csv]"])  # --set: from the current directory
    assert swept.sweep.product["failures.trace"] == [str(tmp_path / "c.csv")]


def test_validate_refuses_a_missing_trace_with_one_line_naming_the_key(tmp_path, capsys, monkeypatch):
    path = scenario_file(tmp_path, "{horizon_h: 10, trace: nope.csv}")
    monkeypatch.chdir(tmp_path)
    code, out, err = validate(capsys, "s.yaml")
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line == (f"s.yaml: failures.trace: {tmp_path / 'nope.csv'}: no such file "
                    "(the relative path 'nope.csv' is read from the scenario file's folder)")
    code, _, err = validate(capsys, path, "--set", "failures.trace=gone.csv")
    assert code == 2 and err.splitlines() == [
        f"{path}: failures.trace: {tmp_path / 'gone.csv'}: no such file (the relative path 'gone.csv' is read from "
        "the current directory, as given with --set)"]
    (tmp_path / "folder.csv").mkdir()
    code, _, err = validate(capsys, path, "--set", f"failures.trace={tmp_path / 'folder.csv'}")
    assert code == 2 and err.splitlines() == [f"{path}: failures.trace: {tmp_path / 'folder.csv'}: is a folder, "
                                              "not a file"]
    (tmp_path / "nope.csv").write_text(TRACE)
    code, out, _ = validate(capsys, path)
    assert code == 0 and out.startswith(f"{path}: ok")


def test_a_missing_file_of_a_sweep_point_is_refused_at_validation(tmp_path, capsys):
    (tmp_path / "a.csv").write_text(TRACE)
    path = scenario_file(tmp_path, "{horizon_h: 10}", "sweep:\n  product:\n    failures.trace: [a.csv, b.csv]\n")
    code, _, err = validate(capsys, path)
    assert code == 2 and err.splitlines() == [f"{path}: sweep point 2 of 2: failures.trace: {tmp_path / 'b.csv'}: "
                                              "no such file"]
    with pytest.raises(ScenarioError, match="failures.device.repair.csv: .*missing.csv: no such file"):
        load_scenario(scenario_file(tmp_path, "{horizon_h: 10, device: {mtbf_h: 5, repair: {kind: empirical, "
                                              "csv: missing.csv}}}"))


def test_a_kind_declares_its_data_files_by_type_and_they_are_found_at_any_depth():
    repair = {"kind": "empirical", "csv": "r.csv"}
    failures = {"trace": "t.csv", "node": {"mtbf_h": 1, "repair": repair}, "rack": {"mtbf_h": 1, "nodes_per_rack": 1}}
    scenario = FaultTolerantScenario.model_validate(
        {"name": "t", "cluster": {"nodes": 1, "devices_per_node": 2}, "failures": failures})
    assert data_files(scenario) == [("failures.node.repair.csv", "r.csv"), ("failures.trace", "t.csv")]
    assert declares_data_files(FaultTolerantScenario) and not declares_data_files(ToyScenario)


def test_a_signal_csv_of_the_grid_kinds_follows_the_same_rule(tmp_path):
    folder = tmp_path / "battery"
    folder.mkdir()
    path = folder / "s.yaml"
    path.write_text("name: ffr_paths\nkind: ffr_dispatch\nworkload:\n  signal: {type: csv, path: f.csv}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.problems == [f"{path}: workload.signal.path: {folder / 'f.csv'}: no such file (the relative "
                                  "path 'f.csv' is read from the scenario file's folder)"]
    (folder / "f.csv").write_text("time_s,frequency_hz\n0,50.0\n10,49.9\n")
    assert load_scenario(path).workload.signal.path == str(folder / "f.csv")
