"""Gaps in the tests of `harness.config.loader` found by a mutation audit.

Closed here:
- a file of exactly `MAX_SCENARIO_BYTES` is read (the limit is "at most 1 MiB"), one byte more is refused;
- ``seed=0`` given to `load_scenario` replaces the file's seed (0 is a seed, not "no seed");
- `validate_data` without ``base_dir`` (no scenario file) reads a relative data file from the current directory
  and says so, not "from the scenario file's folder";
- a data file given with ``--set`` on the block holding its key (``failures={trace: x.csv}``) is read from the
  current directory, like one set on the key itself;
- data files in the tune block (candidates of a data-file axis, and ``tune.overrides``) are read from the scenario
  file's folder, or from the current directory when given with ``--set``;
- a sweep value on a data-file key is resolved even where the base point with that value alone does not validate
  (the block holding it is completed by another axis).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.loader import MAX_SCENARIO_BYTES, load_scenario, read_yaml_file, validate_data
from harness.errors import ScenarioError


def _padded(path: Path, size: int) -> Path:
    head = "name: a\nkind: toy\n# "
    path.write_bytes((head + "x" * (size - len(head) - 1) + "\n").encode())
    assert path.stat().st_size == size
    return path


def test_a_file_of_exactly_the_size_limit_is_read_and_one_byte_more_is_refused(tmp_path):
    assert MAX_SCENARIO_BYTES == 1 << 20
    assert read_yaml_file(_padded(tmp_path / "at.yaml", 1 << 20)) == {"name": "a", "kind": "toy"}
    over = _padded(tmp_path / "over.yaml", (1 << 20) + 1)
    with pytest.raises(ScenarioError) as info:
        read_yaml_file(over)
    assert info.value.problems[0].startswith(f"{over}: larger than 1 MiB; ")


def test_a_seed_of_zero_replaces_the_files_seed(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: a\nkind: toy\nseed: 7\n")
    assert load_scenario(path).seed == 7
    assert load_scenario(path, seed=0).seed == 0


FT = {"name": "ft", "kind": "fault_tolerant_training", "cluster": {"nodes": 1, "devices_per_node": 8, "device": "cpu"},
      "workload": {"model": "llama-60m", "policies": ["failure_free"]}, "failures": {"horizon_h": 10,
                                                                                    "trace": "missing.csv"}}


def test_data_without_a_file_reads_a_relative_data_file_from_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as info:
        validate_data(FT, "src")
    assert info.value.problems == [f"src: failures.trace: {tmp_path / 'missing.csv'}: no such file (the relative "
                                   "path 'missing.csv' is read from the current directory)"]
    with pytest.raises(ScenarioError) as info:
        validate_data(FT, "src", base_dir=tmp_path / "sub")
    assert info.value.problems == [f"src: failures.trace: {tmp_path / 'sub' / 'missing.csv'}: no such file (the "
                                   "relative path 'missing.csv' is read from the scenario file's folder)"]


def test_a_data_file_in_a_block_given_with_set_is_read_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "mine.csv").write_text("time_h,component,kind,duration_h\n1.0,device:3,fail,2.0\n")
    folder = tmp_path / "scenarios"
    folder.mkdir()
    path = folder / "s.yaml"
    path.write_text("name: ft\nkind: fault_tolerant_training\ncluster: {nodes: 1, devices_per_node: 8, device: cpu}\n"
                    "workload: {model: llama-60m, policies: [failure_free]}\nfailures: {horizon_h: 10}\n")
    monkeypatch.chdir(tmp_path / "here")
    scenario = load_scenario(path, ["failures={horizon_h: 10, trace: mine.csv}"])
    assert scenario.failures.trace == str(tmp_path / "here" / "mine.csv")


def test_tune_values_and_overrides_are_resolved_like_the_file(tmp_path, monkeypatch):
    trace, repairs = "time_h,component,kind,duration_h\n1.0,device:3,fail,2.0\n", "duration_h\n1.0\n"
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for where in (folder, tmp_path):
        (where / "a.csv").write_text(trace)
        (where / "r.csv").write_text(repairs)
    path = folder / "s.yaml"
    path.write_text("name: ft\nkind: fault_tolerant_training\ncluster: {nodes: 1, devices_per_node: 8, device: cpu}\n"
                    "workload: {model: llama-60m, policies: [failure_free]}\nfailures: {horizon_h: 10}\n"
                    "tune: {axis: failures.trace, values: [a.csv], metric: m, overrides: {failures.device: "
                    "{mtbf_h: 5, repair: {kind: empirical, csv: r.csv}}}}\n")
    monkeypatch.chdir(tmp_path)
    tune = load_scenario(path).tune
    assert tune.values == [str(folder / "a.csv")]
    assert tune.overrides["failures.device"]["repair"]["csv"] == str(folder / "r.csv")
    device = "tune.overrides.failures.device={mtbf_h: 5, repair: {kind: empirical, csv: r.csv}}"
    tune = load_scenario(path, ["tune.values=[a.csv]", device]).tune
    assert tune.values == [str(tmp_path / "a.csv")]
    assert tune.overrides["failures.device"]["repair"]["csv"] == str(tmp_path / "r.csv")


def test_a_swept_data_file_is_resolved_where_its_block_comes_from_another_axis(tmp_path, monkeypatch):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "r.csv").write_text("duration_h\n1.0\n")
    path = folder / "s.yaml"
    path.write_text("name: ft\nkind: fault_tolerant_training\ncluster: {nodes: 1, devices_per_node: 8, device: cpu}\n"
                    "workload: {model: llama-60m, policies: [failure_free]}\nsweep: {product: {"
                    "failures.device.mtbf_h: [5], failures.device.repair.kind: [empirical], "
                    "failures.device.repair.csv: [r.csv]}}\n")
    monkeypatch.chdir(tmp_path)
    assert load_scenario(path).sweep.product["failures.device.repair.csv"] == [str(folder / "r.csv")]
