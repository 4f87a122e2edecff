"""Gaps in the tests of `harness.commands.figures` found by a mutation audit.

Closed here (no figure is drawn: `plots.runner.render_figures` and `select_figures` are replaced by recorders):
- every flag reaches the run settings (profile, workers, executor, force, progress, out, results root), and the
  defaults are the documented ones (quick profile, local executor, ``results/figures`` and ``results/runs`` of the
  checkout, progress on, no force).
- ``--paper`` and ``--only`` reach the figure selection.
- ``--workers`` above the local cap is accepted with ``--executor ray``; ``--out ~/x`` is expanded.
- a results root that cannot be written is accepted (finished runs are only read from it).
- a figure module that fails to import is one line on stderr and exit 1, the others still drawn.
- the summary line counts drawn / unchanged / failed and names only the verdicts that occur.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.commands import figures as figures_cmd
from tests.harness.cli_run import cli


def _result(id_: str, status: str, verdict: str | None) -> SimpleNamespace:
    return SimpleNamespace(id=id_, status=status, verdict=verdict, timed_under_load=False, error="boom")


@pytest.fixture
def figures(monkeypatch, tmp_path):
    """Record the selection and settings; the figures' outcome is ``seen["results"]``."""
    seen: dict = {"results": [], "import_errors": {}}
    root = tmp_path / "project"
    monkeypatch.setattr(figures_cmd, "project_root", lambda: root)  # bound at import of the command module
    monkeypatch.setattr("plots.papers.load_all", lambda keep_going=False: ("REGISTRY", seen["import_errors"]))

    def select_figures(registry, *, paper, only):
        seen.update(paper=paper, only=only)
        return [SimpleNamespace(paper="harness")]

    def render_figures(specs, settings, *, registry):
        seen["settings"] = settings
        results = seen["results"]
        return SimpleNamespace(results=results, failed=[r for r in results if r.status == "failed"],
                               gallery_path=settings.out_dir / "index.html")

    monkeypatch.setattr("plots.runner.select_figures", select_figures)
    monkeypatch.setattr("plots.runner.render_figures", render_figures)
    seen["root"] = root
    return seen


def test_the_defaults_reach_the_settings(capsys, figures):
    code, out, err = cli(capsys, "figures")
    root = figures["root"]
    assert code == 0 and err == ""
    s = figures["settings"]
    assert (s.profile, s.workers, s.executor, s.force, s.progress) == ("quick", None, "local", False, True)
    assert s.out_dir == root / "results" / "figures" and s.results_root == root / "results" / "runs"
    assert figures["paper"] is None and figures["only"] == []
    assert (root / "results" / "figures").is_dir()


def test_every_flag_reaches_the_settings_and_the_selection(capsys, figures, tmp_path):
    code, _, _ = cli(capsys, "figures", "--paper", "arctopk", "--only", "a.b", "--only", "c.d", "--full",
                     "--workers", "2", "--executor", "ray", "--force", "--no-progress", "--out", tmp_path / "o",
                     "--results-root", tmp_path / "runs")
    assert code == 0
    s = figures["settings"]
    assert (s.profile, s.workers, s.executor, s.force, s.progress) == ("full", 2, "ray", True, False)
    assert s.out_dir == tmp_path / "o" and s.results_root == tmp_path / "runs"
    assert figures["paper"] == "arctopk" and figures["only"] == ["a.b", "c.d"]


def test_quick_is_the_quick_profile(capsys, figures, tmp_path):
    assert cli(capsys, "figures", "--quick", "--out", tmp_path)[0] == 0
    assert figures["settings"].profile == "quick"


def test_many_workers_are_accepted_with_ray(capsys, figures, tmp_path, monkeypatch):
    monkeypatch.setattr("harness.executors.default_workers", lambda: 2)
    assert cli(capsys, "figures", "--workers", "100", "--executor", "ray", "--out", tmp_path)[0] == 0
    assert figures["settings"].workers == 100


def test_a_home_relative_out_is_expanded(capsys, figures, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cli(capsys, "figures", "--out", "~/figs")[0] == 0
    assert figures["settings"].out_dir == tmp_path / "home" / "figs"
    assert (tmp_path / "home" / "figs").is_dir()


def test_a_results_root_that_cannot_be_written_is_accepted(capsys, figures, tmp_path):
    code, _, err = cli(capsys, "figures", "--out", tmp_path, "--results-root", "/proc/no_runs_here")
    assert code == 0 and err == ""
    assert figures["settings"].results_root == Path("/proc/no_runs_here")


def test_a_figure_module_that_fails_to_import_is_one_line_and_exit_1(capsys, figures, tmp_path):
    figures["import_errors"] = {"brokenpaper": "SyntaxError: invalid syntax (line 3)"}
    figures["results"] = [_result("harness.a", "ok", "reproduced")]
    code, out, err = cli(capsys, "figures", "--out", tmp_path)
    assert code == 1
    assert err == "error: figure module plots/papers/brokenpaper.py failed to import: SyntaxError: invalid syntax " \
                  "(line 3)\n"
    assert out.startswith("1 figure(s): 1 drawn, 0 unchanged, 0 failed (1 reproduced)")


def test_the_summary_line_counts_each_status_and_names_the_verdicts_that_occur(capsys, figures, tmp_path):
    figures["results"] = [_result("a", "ok", "reproduced"), _result("b", "ok", "partly"),
                          _result("c", "cached", "partly"), _result("d", "cached", None),
                          _result("e", "cached", "not_checkable"), _result("f", "failed", None)]
    code, out, err = cli(capsys, "figures", "--out", tmp_path)
    assert code == 1
    assert out == (f"6 figure(s): 2 drawn, 3 unchanged, 1 failed (1 reproduced, 2 partly reproduced, 1 not checkable)"
                   f"; gallery: {tmp_path / 'index.html'}\n")
    assert err == "FAILED f: boom\n"


def test_a_summary_without_verdicts_has_no_brackets(capsys, figures, tmp_path):
    figures["results"] = [_result("a", "cached", None)]
    code, out, _ = cli(capsys, "figures", "--out", tmp_path)
    assert code == 0 and out == f"1 figure(s): 0 drawn, 1 unchanged, 0 failed; gallery: {tmp_path / 'index.html'}\n"
