"""Gaps in the tests of `harness.commands.sweep` found by a mutation audit.

Closed:
- a file without a sweep block is one point, written in the singular ("1 point");
- an ``--out`` under a file is refused with one line, exit 2, before any point runs.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness.cli_run import cli

TOY = Path(__file__).resolve().parents[3] / "scenarios" / "toy_example.yaml"


def test_one_point_is_written_in_the_singular(capsys, tmp_path):
    code, out, _ = cli(capsys, "sweep", TOY, "--workers", "1", "--out", tmp_path, "--set",
                       "workload.n_messages=2", "--no-progress")
    assert code == 0
    assert out.splitlines()[0] == (f"toy_example: 1 point, 1 computed, 0 reused; results under "
                                   f"{tmp_path / 'toy_example'}/")


def test_out_under_a_file_is_one_line_before_any_point_runs(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    code, out, err = cli(capsys, "sweep", TOY, "--workers", "1", "--out", tmp_path / "f" / "runs")
    assert code == 2 and out == ""
    assert err == (f"error: --out {tmp_path / 'f' / 'runs'}: a file is in the way; expected a folder "
                   "(or a path to create one)\n")
