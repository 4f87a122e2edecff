"""`harness run`, `harness sweep` (in-process) and `harness list`."""

from __future__ import annotations

from pathlib import Path

from harness.cli import main
from tests.harness.cli_run import cli

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def test_run_prints_where_and_a_preview_then_reuses(capsys, tmp_path):
    code, out, err = cli(capsys, "run", SCENARIOS / "toy_example.yaml", "--out", tmp_path, "--set",
                         "workload.n_messages=3")
    assert code == 0 and err == ""
    (run_dir,) = (tmp_path / "toy_example").iterdir()
    lines = out.splitlines()
    assert lines[0] == f"toy_example: computed; results in {run_dir}/"
    assert lines[1] == "metrics.csv: 3 rows x 3 columns:"  # no device line: toy runs on no device
    assert lines[2].split() == ["message", "size_bytes", "transfer_time_us"] and len(lines) == 6
    code, out, _ = cli(capsys, "run", SCENARIOS / "toy_example.yaml", "--out", tmp_path, "--set",
                       "workload.n_messages=3")
    assert out.splitlines()[0] == f"toy_example: reused (finished earlier); results in {run_dir}/"
    code, out, _ = cli(capsys, "run", SCENARIOS / "toy_example.yaml", "--out", tmp_path, "--set",
                       "workload.n_messages=3", "--seed", "5")
    assert "computed" in out.splitlines()[0] and len(list((tmp_path / "toy_example").iterdir())) == 2


def test_run_on_a_sweep_file_runs_the_base_point_with_a_note(capsys, tmp_path):
    code, out, err = cli(capsys, "run", SCENARIOS / "toy_sweep.yaml", "--out", tmp_path)
    assert code == 0
    assert "has a sweep block (6 points); running its base point only" in err
    assert "harness sweep" in err
    assert len(list((tmp_path / "toy_sweep").iterdir())) == 1


def test_run_with_a_user_mistake_exits_2(capsys, tmp_path):
    code, out, err = cli(capsys, "run", SCENARIOS / "toy_example.yaml", "--out", tmp_path, "--seed", "-1")
    assert code == 2 and out == ""
    assert err == f"error: {SCENARIOS / 'toy_example.yaml'}: seed: expected an integer >= 0, got -1\n"
    assert not tmp_path.joinpath("toy_example").exists()


def test_sweep_in_process_summarises_points(capsys, tmp_path):
    code, out, err = cli(capsys, "sweep", SCENARIOS / "toy_sweep.yaml", "--workers", "1", "--out", tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"toy_sweep: 6 points, 6 computed, 0 reused; results under {tmp_path / 'toy_sweep'}/"
    assert lines[1].split() == ["point", "bandwidth_gbps", "n_messages", "mean_size_bytes", "status", "run_id"]
    assert lines[-1].startswith(f"all points in one table (metrics, one column per sweep axis, run_id): "
                                f"{tmp_path / 'toy_sweep'}/sweep-")
    assert len(lines) == 9 and "6/6" in err  # the progress bar went to stderr
    code, out, err = cli(capsys, "sweep", SCENARIOS / "toy_sweep.yaml", "--workers", "1", "--out", tmp_path)
    assert out.splitlines()[0].startswith("toy_sweep: 6 points, 0 computed, 6 reused") and "reused=6" in err


def test_list_shows_kinds_and_scenarios_but_not_broken_examples(capsys):
    code, out, _ = cli(capsys, "list", "--scenarios", SCENARIOS)
    assert code == 0
    assert "  toy " in out and "Template kind: random message sizes over one link" in out
    assert f"{SCENARIOS / 'toy_sweep.yaml'}  kind=toy  points=6" in out
    assert "broken" not in out


def test_every_command_has_help(capsys):
    for command in ("list", "validate", "run", "sweep"):
        try:
            main([command, "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0
        out, _ = capsys.readouterr()
        assert out.startswith(f"usage: harness {command}")
