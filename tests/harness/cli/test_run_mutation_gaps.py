"""Gaps in the tests of `harness.commands.run` found by a mutation audit.

Closed:
- the preview: 10 rows are shown whole (no "first 10"), 11 rows show exactly the first 10 and say so;
- an ``--out`` under a file is one "a file is in the way" line, exit 2, nothing run;
- the result line names the run folder relative to the current directory when it lies below it;
- the device line says when the file left ``cluster.device`` to the default (cpu).
"""

from __future__ import annotations

from pathlib import Path

from tests.harness.cli_run import cli

TOY = Path(__file__).resolve().parents[3] / "scenarios" / "toy_example.yaml"


def test_ten_rows_are_shown_whole(capsys, tmp_path):
    code, out, _ = cli(capsys, "run", TOY, "--out", tmp_path, "--set", "workload.n_messages=10")
    lines = out.splitlines()
    assert code == 0
    assert lines[1] == "metrics.csv: 10 rows x 3 columns:"
    assert len(lines) == 2 + 1 + 10  # result line, size line, header, 10 rows


def test_eleven_rows_show_the_first_ten(capsys, tmp_path):
    code, out, _ = cli(capsys, "run", TOY, "--out", tmp_path, "--set", "workload.n_messages=11")
    lines = out.splitlines()
    assert code == 0
    assert lines[1] == "metrics.csv: 11 rows x 3 columns; first 10:"
    assert len(lines) == 2 + 1 + 10
    assert [line.split()[0] for line in lines[3:]] == [str(i) for i in range(10)]


def test_out_under_a_file_is_one_line_and_nothing_runs(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    code, out, err = cli(capsys, "run", TOY, "--out", tmp_path / "f" / "runs")
    assert code == 2 and out == ""
    assert err == (f"error: --out {tmp_path / 'f' / 'runs'}: a file is in the way; expected a folder "
                   "(or a path to create one)\n")


def test_the_run_folder_is_shown_relative_to_the_current_directory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "run", TOY, "--out", tmp_path / "runs", "--set", "workload.n_messages=2")
    (run_dir,) = (tmp_path / "runs" / "toy_example").iterdir()
    assert code == 0
    assert out.splitlines()[0] == f"toy_example: computed; results in runs/toy_example/{run_dir.name}/"


def test_the_device_line_says_when_the_file_left_the_device_to_the_default(tmp_path):
    from harness.commands.run import device_line
    from harness.config.loader import load_scenario

    ops = TOY.parent / "collective_ops.yaml"  # cluster: {nodes: 4, devices_per_node: 8, device: h100}
    assert device_line(load_scenario(ops, [])) == "device: h100; 4 node(s) x 8 device(s); timing tables: h100"
    unset = tmp_path / "unset.yaml"
    unset.write_text(ops.read_text().replace(", device: h100}", "}"))
    assert device_line(load_scenario(unset, [])) == ("device: cpu (cluster.device not set: the default); 4 node(s) x "
                                                     "8 device(s); timing tables: cpu")
    assert device_line(load_scenario(TOY, [])) is None  # the toy kind simulates no device
