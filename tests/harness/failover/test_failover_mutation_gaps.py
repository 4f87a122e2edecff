"""Gaps in the tests of `harness.commands.failover` found by a mutation audit.

Closed here (`run_study` replaced by hand-built tables, so no process is started):

- ``--quick`` runs the quick plan into ``results/failover/quick`` and the full plan into ``results/failover``
  (default folder under the project root), creating a folder that does not exist yet; exit code 0;
- the README: the command as run, each mode's row with its units (ms, s, signed pp and nats) in column order,
  the samples per worker; stdout shows only the `SHOWN` columns; progress lines go to stderr.
"""

from __future__ import annotations

import pandas as pd
import pytest

import harness.failover.study as study
import harness.provenance
from harness.commands.failover import SHOWN
from tests.harness.cli_run import cli

ROW = {"mode": "mecefo", "steps": 320, "detect_s_max": 2.104, "normal_step_s": 0.1234, "before_step_s": 0.12,
       "degraded_step_s": 0.2561, "after_step_s": 0.13, "tokens_per_s_before": 1000.0,
       "tokens_per_s_degraded": 600.0, "tokens_per_s_after": 990.0, "lost_s": 12.34, "measured_drop_pct": 40.0,
       "predicted_drop_pct": 37.5, "error_pp": -2.5, "loss_jump_max": 0.0123}


@pytest.fixture
def study_run(monkeypatch, tmp_path):
    seen: list = []

    def run_study(plan, out, progress):
        seen.append((plan, out))
        progress("mecefo run done")
        runs = pd.DataFrame([{**ROW, "hidden_col": 7.0},
                             {**ROW, "mode": "ckpt", "error_pp": 3.25, "loss_jump_max": -0.5, "hidden_col": 8.0}])
        ranks = pd.DataFrame({"mode": ["ckpt", "ckpt", "mecefo", "mecefo"], "worker": [0, 1, 0, 1],
                              "samples": [50, 50, 130, 70]})
        return {"runs": runs, "steps": pd.DataFrame(), "ranks": ranks}

    monkeypatch.setattr(study, "run_study", run_study)
    monkeypatch.setattr(harness.provenance, "project_root", lambda: tmp_path / "root")
    return seen


def test_quick_run_writes_the_readme_and_shows_the_chosen_columns(capsys, tmp_path, study_run):
    out = tmp_path / "new" / "out"  # does not exist yet
    code, stdout, stderr = cli(capsys, "failover", "--quick", "--out", out)
    assert code == 0
    assert study_run == [(study.QUICK_PLAN, out)]
    readme = (out / "README.md").read_text()
    assert "Written by `harness failover --quick`" in readme
    assert "Machine load (`uptime`): load average " in readme and " at the start, load average " in readme
    assert " at the end." in readme
    assert "| mecefo | 2.10 | 123.4 | 120.0 | 256.1 | 130.0 | 12.3 | 40.0 | 37.5 | -2.5 | +0.012 |" in readme
    assert "| ckpt | 2.10 | 123.4 | 120.0 | 256.1 | 130.0 | 12.3 | 40.0 | 37.5 | +3.2 | -0.500 |" in readme
    assert "- ckpt: worker 0: 50, worker 1: 50" in readme and "- mecefo: worker 0: 130, worker 1: 70" in readme
    header = stdout.splitlines()[0].split()
    assert header == SHOWN and "hidden_col" not in stdout
    assert f"wrote results under {out}/" in stdout
    assert "[failover] mecefo run done" in stderr


@pytest.mark.parametrize(("flags", "plan", "folder"), [
    ([], "FULL_PLAN", ("results", "failover")), (["--quick"], "QUICK_PLAN", ("results", "failover", "quick")),
])
def test_default_folder_and_plan(capsys, tmp_path, study_run, flags, plan, folder):
    code, _, _ = cli(capsys, "failover", *flags)
    out = tmp_path.joinpath("root", *folder)
    assert code == 0 and study_run == [(getattr(study, plan), out)]
    readme = (out / "README.md").read_text()
    assert ("`harness failover --quick`" in readme) == bool(flags)
