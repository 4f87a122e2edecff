"""Gaps in the tests of `harness.commands.list` found by a mutation audit.

Closed:
- an invalid scenario file is listed with a pointer to `harness validate`, the valid ones with kind and points;
- a scenario folder without scenario files says "(none)";
- `first_line` of a blank docstring is empty (no IndexError).
"""

from __future__ import annotations

from harness.commands.list import first_line
from tests.harness.cli_run import cli


def test_an_invalid_file_is_listed_with_a_pointer_to_validate(capsys, tmp_path):
    (tmp_path / "bad.yaml").write_text("name: bad\nkind: no-such-kind\n")
    code, out, _ = cli(capsys, "list", "--scenarios", tmp_path)
    assert code == 0
    assert f"  {tmp_path / 'bad.yaml'}  (invalid: run 'harness validate {tmp_path / 'bad.yaml'}')" in out.splitlines()


def test_a_folder_without_scenario_files_says_none(capsys, tmp_path):
    code, out, _ = cli(capsys, "list", "--scenarios", tmp_path)
    lines = out.splitlines()
    assert code == 0
    start = lines.index(f"Scenario files ({tmp_path}):")
    assert lines[start + 1] == "  (none)"


def test_first_line_of_a_blank_or_missing_docstring_is_empty():
    assert first_line("   \n  ") == ""
    assert first_line(None) == ""
    assert first_line("\n    One line.\n    More.\n") == "One line."
