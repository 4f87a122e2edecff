"""Gaps in the tests of `harness.commands.validate` found by a mutation audit.

Closed:
- a ``timings.table_set`` with no folder under results/timings is one problem line on stderr, exit 2, and the file
  is not listed as ok.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness.cli_run import cli

RING = Path(__file__).resolve().parents[3] / "scenarios" / "collective_ring.yaml"


def test_an_unknown_table_set_is_a_problem_line_and_exit_2(capsys):
    code, out, err = cli(capsys, "validate", RING, "--set", "timings.table_set=no-such-set")
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"{RING}: timings.table_set: unknown table set 'no-such-set' "
                           "(no folder results/timings/no-such-set/); known: ")
