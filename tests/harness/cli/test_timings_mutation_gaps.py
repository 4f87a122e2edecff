"""Gaps in the tests of `harness.commands.timings` found by a mutation audit.

Closed here, with `check_drift` replaced by a stand-in report where the drift verdict is the point:
- ``--fail-above 0`` is allowed, a median exactly at the allowed percentage passes, and with no row timed again
  the set is not called checked (exit 1, one line);
- ``--ops`` names are stripped of blanks and empty entries dropped; ``--csv`` writes each row's shape as JSON;
- ``timings import`` prints the rank counts of each imported collective table;
- ``timings list`` says "imported" for a set with provenance and "no tables" for an empty folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from harness.cli import main
from tests.harness.timing.test_import import NCCL_TEXT

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "timings"


def _fake_drift(monkeypatch, median_ratio: float, rows: list[dict] | None = None) -> list:
    calls = []

    def check_drift(folder, rows_per_op, ops):
        calls.append(ops)
        frame = pd.DataFrame(rows if rows is not None else [{"op": "copy", "shape": {"numel": 4}, "ratio": 1.0}])
        return SimpleNamespace(skipped=[], summary=lambda: "now / table median 1.00", rows=frame,
                               median_ratio=median_ratio)

    monkeypatch.setattr("harness.timing.drift.check_drift", check_drift)
    return calls


@pytest.mark.parametrize("ratio, allowed, code", [(1.0, "0", 0), (1.25, "25", 0), (1.5, "25", 1), (0.5, "25", 1)])
def test_fail_above_is_a_strict_bound_and_zero_is_allowed(monkeypatch, capsys, ratio, allowed, code):
    _fake_drift(monkeypatch, ratio)
    assert main(["timings", "drift", "cpu-f4", "--out", str(FIXTURES), "--fail-above", allowed]) == code
    assert ("beyond the allowed" in capsys.readouterr().err) is bool(code)


def test_a_set_with_no_row_timed_again_is_not_checked(monkeypatch, capsys):
    _fake_drift(monkeypatch, float("nan"), rows=[])
    assert main(["timings", "drift", "cpu-f4", "--out", str(FIXTURES), "--fail-above", "50"]) == 1
    assert capsys.readouterr().err == "error: cpu-f4: no row could be timed again, so the set is not checked\n"


def test_ops_are_stripped_and_the_csv_holds_each_shape_as_json(monkeypatch, tmp_path):
    calls = _fake_drift(monkeypatch, 1.0, rows=[{"op": "copy", "shape": {"numel": 4, "a": 1}, "ratio": 1.0}])
    out = tmp_path / "rows.csv"
    assert main(["timings", "drift", "cpu-f4", "--out", str(FIXTURES), "--ops", " copy , ,matmul", "--csv",
                 str(out)]) == 0
    assert calls == [["copy", "matmul"]]
    assert json.loads(pd.read_csv(out)["shape"].iloc[0]) == {"a": 1, "numel": 4}


def test_import_prints_the_rank_counts_of_a_collective_table(tmp_path, capsys):
    path = tmp_path / "nccl.txt"
    path.write_text(NCCL_TEXT)
    assert main(["timings", "import", "nccl-tests", str(path), "--device", "imported", "--out",
                 str(tmp_path / "t")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "all_reduce: 3 rows (n_ranks 4)"


def test_list_says_imported_and_no_tables(tmp_path, capsys):
    root = tmp_path / "timings"
    shutil.copytree(FIXTURES / "cpu-f4", root / "mine")
    meta = json.loads((root / "mine" / "meta.json").read_text())
    (root / "mine" / "meta.json").write_text(json.dumps({**meta, "provenance": {"source": "a paper"}}))
    (root / "empty").mkdir()
    assert main(["timings", "list", "--out", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "empty: no tables"
    assert lines[1].startswith("mine: kernels (imported): copy ")
