"""Gaps in the tests of `harness.commands.fidelity_compute` found by a mutation audit.

Closed here (nothing is measured: the study's `run_study` and `write_study` are replaced by recorders):
- the plan and folders the command hands on: ``--quick`` the quick plan and ``results/fidelity_compute/quick``,
  else the full plan and ``results/fidelity_compute``, the project's timing tables unless ``--timings``.
- ``--threads`` sorted without repeats, ``--allocators`` in the given order without repeats, ``--max-wait-s``
  (0 included) set on the plan; a negative wait refused before anything.
- ``--recompute`` reads the saved measurements (and the op profile beside them) and writes no run history;
  a measuring run does.
- what is printed: the per-point table (3 decimals), the summary (1 decimal) and the count of files written.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from harness.commands.fidelity_compute import SHOWN
from harness.fidelity.compute import FULL_PLAN, QUICK_PLAN
from tests.harness.cli_run import cli

COMMITTED = Path(__file__).resolve().parents[3] / "results" / "fidelity_compute"


@pytest.fixture
def study(monkeypatch, tmp_path):
    """Record what `run_study` and `write_study` are given; project root moved to ``tmp_path/project``."""
    seen: dict = {}
    root = tmp_path / "project"
    monkeypatch.setattr("harness.provenance.project_root", lambda: root)

    def run_study(plan, timings, *, measured, op_times, progress):
        seen.update(plan=plan, timings=timings, measured=measured, op_times=op_times)
        table = pd.DataFrame([{c: 1.23456 for c in SHOWN} | {"allocator": "default", "size": "d64"}])
        return SimpleNamespace(table=table, summary=pd.DataFrame([{"statistic": "median", "value": 12.345}]))

    def write_study(result, out_dir, *, measured_now):
        seen.update(out=out_dir, measured_now=measured_now)
        return [Path(out_dir) / "a.csv", Path(out_dir) / "b.csv"]

    monkeypatch.setattr("harness.fidelity.compute.run_study", run_study)
    monkeypatch.setattr("harness.fidelity.compute.write_study", write_study)
    seen["root"] = root
    return seen


def test_quick_hands_on_the_quick_plan_and_folder(capsys, study):
    code, out, _ = cli(capsys, "fidelity-compute", "--quick")
    root = study["root"]
    assert code == 0
    assert study["plan"] == QUICK_PLAN and study["timings"] == root / "results" / "timings"
    assert study["out"] == root / "results" / "fidelity_compute" / "quick"
    assert study["measured"] is None and study["op_times"] is None and study["measured_now"] is True
    assert out.splitlines()[-1] == f"wrote 2 files under {root / 'results' / 'fidelity_compute' / 'quick'}/"


def test_without_quick_the_full_plan_and_folder(capsys, study, tmp_path):
    assert cli(capsys, "fidelity-compute", "--timings", tmp_path / "tables")[0] == 0
    assert study["plan"] == FULL_PLAN and study["timings"] == tmp_path / "tables"
    assert study["out"] == study["root"] / "results" / "fidelity_compute"


def test_threads_allocators_and_wait_are_set_on_the_plan(capsys, study, tmp_path):
    code, _, _ = cli(capsys, "fidelity-compute", "--threads", "2", "1", "2", "--allocators", "keep", "default", "keep",
                     "--max-wait-s", "0", "--out", tmp_path)
    assert code == 0
    assert study["plan"] == replace(FULL_PLAN, threads=(1, 2), allocators=("keep", "default"), quiet_max_wait_s=0.0)
    assert FULL_PLAN.quiet_max_wait_s == 30.0  # so 0 was set, not kept
    assert study["out"] == tmp_path


def test_a_wait_on_the_quick_plan(capsys, study, tmp_path):
    assert cli(capsys, "fidelity-compute", "--quick", "--max-wait-s", "2.5", "--out", tmp_path)[0] == 0
    assert study["plan"] == replace(QUICK_PLAN, quiet_max_wait_s=2.5)


def test_one_thread_count_named_twice_is_measured_once(capsys, study, tmp_path):
    assert cli(capsys, "fidelity-compute", "--threads", "2", "2", "--out", tmp_path)[0] == 0
    assert study["plan"].threads == (2,) and study["plan"].allocators == ("default", "keep")


def test_a_negative_wait_is_refused_before_anything(capsys, study, tmp_path):
    code, out, err = cli(capsys, "fidelity-compute", "--max-wait-s", "-0.5", "--out", tmp_path)
    assert code == 2 and out == ""
    assert err == "error: --max-wait-s: expected a finite number >= 0, got -0.5\n"
    assert "plan" not in study and "out" not in study


def test_recompute_reads_the_saved_measurements_and_keeps_no_run_history(capsys, study, tmp_path):
    for name in ("steps.csv", "op_times.csv"):
        shutil.copy(COMMITTED / name, tmp_path / name)
    assert cli(capsys, "fidelity-compute", "--recompute", "--out", tmp_path)[0] == 0
    steps = pd.read_csv(COMMITTED / "steps.csv")
    assert len(study["measured"]) == len(steps) > 0
    assert list(study["measured"]["measured_ms"]) == pytest.approx(list(steps["measured_ms"]))
    assert study["op_times"] is not None and len(study["op_times"]) == len(pd.read_csv(COMMITTED / "op_times.csv"))
    assert study["measured_now"] is False


def test_the_tables_are_printed_with_their_precisions(capsys, study, tmp_path):
    code, out, _ = cli(capsys, "fidelity-compute", "--quick", "--out", tmp_path)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["allocator", "threads", "size", "micro_batch", "seq_len", "touched_mib", "measured_ms",
                                "predicted_ms", "error_pct", "error_fixed_flush_pct", "error_op_profile_pct",
                                "roofline_fraction", "cpu_busy_before"]
    assert lines[1].split() == ["default", "1.235", "d64", *["1.235"] * (len(SHOWN) - 3)]
    assert lines[2] == ""
    assert lines[3].split() == ["statistic", "value"] and lines[4].split() == ["median", "12.3"]
    assert lines[5] == f"wrote 2 files under {tmp_path}/"
