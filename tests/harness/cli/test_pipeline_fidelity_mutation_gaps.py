"""Gaps in the tests of `harness.commands.pipeline_fidelity` found by a mutation audit.

Closed here (nothing is measured, no namespace is built, this process's niceness is never changed):
- the plan file, folders and wait handed on: ``--quick`` the quick plan and ``results/pipeline/quick``, else the
  full plan and ``results/pipeline``; the project's timing tables and fidelity study unless given; ``--max-wait-s``
  (0 included) passed as the quiet wait; the plan file recorded relative to the project, or by name outside it.
- ``--recompute`` predicts from the written study, never loads a plan and keeps no history; a measuring run keeps
  one; both write ``history.csv`` and ``README.md``.
- ``--nice``: -20 and 19 accepted, -21 and 20 refused before anything; 0 never touches the niceness; the
  autogroup is restored even when the study fails, and recorded only where there is one.
- `_without_netns`: the plan unchanged where namespaces work, else only its loopback runs on loopback (with the
  reason printed), and a plan without any loopback run refused with the reason.
- `_set_nice` / `_restore_autogroup`: the autogroup file written and restored from its "nice N" line, a refusal
  one line naming the value.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from harness.commands import pipeline_fidelity as pf
from harness.commands.pipeline_fidelity import SHOWN
from harness.errors import HarnessError
from harness.pipeline_study.plan import load_plan
from tests.harness.cli_run import cli

PLANS = Path(__file__).resolve().parents[3] / "harness" / "pipeline_study" / "plans"


@pytest.fixture
def study(monkeypatch, tmp_path):
    """Record the calls of the study functions; the project root is ``tmp_path/project``."""
    calls: dict = {"root": tmp_path / "project", "history_kept": 0, "nice": []}
    monkeypatch.setattr("harness.provenance.project_root", lambda: calls["root"])

    def result():
        runs = pd.DataFrame([{c: 1.5 for c in SHOWN} | {"network": "loopback", "schedule": "gpipe", "method": "none"}])
        return SimpleNamespace(runs=runs, summary=pd.DataFrame([{"network": "all", "n": 1}]), meta={})

    def load(path):
        calls["plan_path"] = path
        return "PLAN"

    def run_study(plan, *, timings_root, fidelity_dir, progress, quiet_wait_s):
        calls.update(plan=plan, timings=timings_root, fidelity=fidelity_dir, wait=quiet_wait_s)
        if calls.get("fail"):
            raise RuntimeError("stage died")
        calls["study"] = result()
        return calls["study"]

    def recompute(out, *, timings_root, fidelity_dir):
        calls.update(recomputed=out, timings=timings_root, fidelity=fidelity_dir)
        calls["study"] = result()
        return calls["study"]

    def keep(result_, out):
        calls["history_kept"] += 1

    def readme(result_, *, quick, history):
        calls["readme_quick"] = quick
        return "readme\n"

    monkeypatch.setattr("harness.pipeline_study.plan.load_plan", load)
    monkeypatch.setattr(pf, "_without_netns", lambda plan, progress: plan)
    monkeypatch.setattr("harness.pipeline_study.study.run_study", run_study)
    monkeypatch.setattr("harness.pipeline_study.study.recompute", recompute)
    monkeypatch.setattr("harness.pipeline_study.study.write_study", lambda result_, out: calls.update(out=out))
    monkeypatch.setattr("harness.pipeline_study.study.keep_in_history", keep)
    monkeypatch.setattr("harness.pipeline_study.study.history_table",
                        lambda out, timings, fidelity, current: pd.DataFrame([{"run": "now", "error_pct": 1.0}]))
    monkeypatch.setattr("harness.pipeline_study.readme.readme_text", readme)
    monkeypatch.setattr(pf, "_set_nice", lambda nice: calls["nice"].append(nice) or calls.get("autogroup"))
    monkeypatch.setattr(pf, "_restore_autogroup", lambda previous: calls.update(restored=previous))
    return calls


def test_quick_measures_the_quick_plan_into_the_quick_folder(capsys, study):
    code, out, _ = cli(capsys, "pipeline-fidelity", "--quick")
    root = study["root"]
    assert code == 0
    assert study["plan_path"] == root / "harness" / "pipeline_study" / "plans" / "pipeline_fidelity_quick.yaml"
    assert study["plan"] == "PLAN" and study["wait"] == 20.0
    assert study["timings"] == root / "results" / "timings" and study["fidelity"] == root / "results" / "fidelity"
    assert study["out"] == root / "results" / "pipeline" / "quick"
    assert study["history_kept"] == 1 and study["readme_quick"] is True and study["nice"] == []
    meta = study["study"].meta
    assert meta["plan_file"] == "harness/pipeline_study/plans/pipeline_fidelity_quick.yaml"
    assert meta["autogroup_nice"] is None and meta["niceness"] == os.getpriority(os.PRIO_PROCESS, 0)
    assert meta["load"].startswith("load average ") and " at the start, load average " in meta["load"]
    written = root / "results" / "pipeline" / "quick"
    assert (written / "README.md").read_text() == "readme\n"
    assert pd.read_csv(written / "history.csv").to_dict("records") == [{"run": "now", "error_pct": 1.0}]
    assert out.splitlines()[-1].startswith(f"wrote results under {written}/ in ")


def test_without_quick_the_full_plan_and_folder_and_the_given_folders(capsys, study, tmp_path):
    code, _, _ = cli(capsys, "pipeline-fidelity", "--timings", tmp_path / "t", "--fidelity", tmp_path / "f",
                     "--max-wait-s", "0")
    assert code == 0
    assert study["plan_path"] == study["root"] / "harness" / "pipeline_study" / "plans" / "pipeline_fidelity.yaml"
    assert study["out"] == study["root"] / "results" / "pipeline" and study["readme_quick"] is False
    assert study["timings"] == tmp_path / "t" and study["fidelity"] == tmp_path / "f" and study["wait"] == 0.0


def test_a_plan_outside_the_project_is_recorded_by_its_name(capsys, study, tmp_path):
    assert cli(capsys, "pipeline-fidelity", "--plan", tmp_path / "elsewhere" / "mine.yaml", "--out", tmp_path)[0] == 0
    assert study["plan_path"] == tmp_path / "elsewhere" / "mine.yaml"
    assert study["study"].meta["plan_file"] == "mine.yaml"


def test_recompute_predicts_from_the_written_study_and_keeps_no_history(capsys, study, tmp_path):
    code, out, _ = cli(capsys, "pipeline-fidelity", "--recompute", "--out", tmp_path)
    assert code == 0
    assert study["recomputed"] == tmp_path and study["out"] == tmp_path
    root = study["root"]
    assert study["timings"] == root / "results" / "timings" and study["fidelity"] == root / "results" / "fidelity"
    assert "plan_path" not in study and "plan" not in study and study["history_kept"] == 0
    assert study["study"].meta == {}  # nothing of a measuring run added
    assert (tmp_path / "history.csv").is_file() and (tmp_path / "README.md").is_file()
    assert out.splitlines()[0].split() == SHOWN


@pytest.mark.parametrize("nice", ["-20", "19"])
def test_the_extreme_niceness_values_are_accepted(capsys, study, tmp_path, nice):
    study["autogroup"] = "/autogroup-7 nice 0"
    assert cli(capsys, "pipeline-fidelity", "--nice", nice, "--out", tmp_path)[0] == 0
    assert study["nice"] == [int(nice)] and study["restored"] == "/autogroup-7 nice 0"
    assert study["study"].meta["autogroup_nice"] == int(nice)


@pytest.mark.parametrize("nice", ["-21", "20"])
def test_niceness_out_of_range_is_refused_before_anything(capsys, study, tmp_path, nice):
    code, out, err = cli(capsys, "pipeline-fidelity", "--nice", nice, "--out", tmp_path)
    assert code == 2 and out == ""
    assert err == f"error: --nice: expected -20..19, got {nice}\n"
    assert study["nice"] == [] and "plan_path" not in study


def test_a_zero_wait_and_no_nice_are_accepted_and_a_negative_wait_is_not(capsys, study, tmp_path):
    assert cli(capsys, "pipeline-fidelity", "--max-wait-s", "0", "--nice", "0", "--out", tmp_path)[0] == 0
    assert study["nice"] == [] and study["restored"] is None
    code, _, err = cli(capsys, "pipeline-fidelity", "--max-wait-s", "-0.1", "--out", tmp_path)
    assert code == 2 and err == "error: --max-wait-s: expected a finite number >= 0, got -0.1\n"


def test_the_autogroup_is_restored_when_the_study_fails(capsys, study, tmp_path):
    study.update(autogroup="/autogroup-7 nice 2", fail=True)
    with pytest.raises(RuntimeError, match="stage died"):
        cli(capsys, "pipeline-fidelity", "--nice", "5", "--out", tmp_path)
    assert study["restored"] == "/autogroup-7 nice 2"


# ----------------------------------------------------------------------------------------- _without_netns


def test_the_plan_is_kept_whole_where_namespaces_work(monkeypatch):
    plan = load_plan(PLANS / "pipeline_fidelity.yaml")
    monkeypatch.setattr("harness.fidelity.netns.netns_unavailable_reason", lambda: None)
    said = []
    assert pf._without_netns(plan, said.append) is plan and said == []


def test_without_namespaces_only_the_loopback_runs_remain(monkeypatch):
    plan = load_plan(PLANS / "pipeline_fidelity.yaml")
    monkeypatch.setattr("harness.fidelity.netns.netns_unavailable_reason", lambda: "not root")
    said = []
    kept = pf._without_netns(plan, said.append)
    assert said == ["namespace links skipped: not root"]
    expected = [run.stages for run in plan.runs if "loopback" in run.networks]
    assert 0 < len(expected) < len(plan.runs)  # the plan has runs without loopback: they are dropped
    assert [run.stages for run in kept.runs] == expected
    assert all(run.networks == ["loopback"] for run in kept.runs)


def test_a_plan_of_namespace_runs_only_is_refused_with_the_reason(monkeypatch):
    plan = load_plan(PLANS / "pipeline_fidelity.yaml")
    only_netns = plan.model_copy(update={"runs": [r for r in plan.runs if "loopback" not in r.networks]})
    monkeypatch.setattr("harness.fidelity.netns.netns_unavailable_reason", lambda: "not root")
    with pytest.raises(HarnessError, match="^every run of the plan needs network namespaces, which are "
                                           "unavailable: not root$"):
        pf._without_netns(only_netns, lambda message: None)


# ----------------------------------------------------------------------------------------- niceness


def test_set_nice_writes_the_autogroup_and_restore_puts_its_value_back(monkeypatch, tmp_path):
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-42 nice 3\n")
    set_to = []
    monkeypatch.setattr(pf, "AUTOGROUP", group)
    monkeypatch.setattr(pf.os, "setpriority", lambda which, who, nice: set_to.append((which, who, nice)))
    assert pf._set_nice(7) == "/autogroup-42 nice 3"
    assert set_to == [(os.PRIO_PROCESS, 0, 7)] and group.read_text() == "7"
    pf._restore_autogroup("/autogroup-42 nice 3")
    assert group.read_text() == "3"
    pf._restore_autogroup(None)
    assert group.read_text() == "3"


def test_set_nice_without_an_autogroup_only_sets_the_process(monkeypatch, tmp_path):
    monkeypatch.setattr(pf, "AUTOGROUP", tmp_path / "none")
    set_to = []
    monkeypatch.setattr(pf.os, "setpriority", lambda which, who, nice: set_to.append(nice))
    assert pf._set_nice(4) is None and set_to == [4]
    pf._restore_autogroup("/autogroup-1 nice 0")  # nothing to restore: no file made
    assert not (tmp_path / "none").exists()


def test_set_nice_not_permitted_is_one_line(monkeypatch):
    def refuse(which, who, nice):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(pf.os, "setpriority", refuse)
    with pytest.raises(HarnessError, match=r"^--nice -5: not permitted for this user$"):
        pf._set_nice(-5)
