"""Gaps in the tests of `harness.cli` found by a mutation audit.

Closed:
- `FolderBusy` (another process writes the folder) raised by a command is one ``error:`` line and exit 2, not a
  traceback.
"""

from __future__ import annotations

from kernels.files import FolderBusy
from tests.harness.cli_run import cli


def test_a_busy_folder_is_one_error_line_and_exit_2(capsys, tmp_path, monkeypatch):
    def busy(*_args, **_kwargs):
        raise FolderBusy("results/runs/x is being written by another process")

    monkeypatch.setattr("harness.commands.validate.load_scenario", busy)
    code, out, err = cli(capsys, "validate", tmp_path / "any.yaml")
    assert code == 2 and out == ""
    assert err == "error: results/runs/x is being written by another process\n"
