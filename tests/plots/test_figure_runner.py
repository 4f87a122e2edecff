"""`harness figures` end to end on test-only figures, with an injected scenario runner.

The injected runner stands in for `harness.api.run_scenario_file` (same signature, returns an object with
``.metrics`` and ``.runs``), so these tests check the figure layer alone: files written, failures isolated,
caching, profiles, provenance, verdicts and the gallery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main as cli_main
from harness.errors import HarnessError
from plots.registry import FigureOutput, FigureRegistry, register_figure
from plots.runner import RunSettings, render_figures, select_figures
from plots.verdict import Verdict, judge, not_checkable, within

_UNSET = object()


def _ok_verdict(ctx=None):
    return not_checkable("test figure: nothing to compare")


@dataclass
class FakeRecord:
    run_dir: Path
    run_id: str
    reused: bool
    info: dict


@dataclass
class FakeSweep:
    metrics: pd.DataFrame
    runs: list


@dataclass
class FakeScenarioRunner:
    """Returns y = 2 x for the scenario; ``run_id`` changes when the test says the inputs changed."""

    run_id: str = "run-a"
    calls: list = field(default_factory=list)

    def __call__(self, path, overrides=(), *, workers=1, executor="local", results_root=None, progress=True):
        self.calls.append((Path(path).name, tuple(overrides), workers, executor))
        record = FakeRecord(
            Path("/nowhere"), self.run_id, reused=len(self.calls) > 1,
            info={"scenario": {"cluster": {"device": "cpu"}}, "timing_sources": {"exact": 3, "roofline": 1}},
        )
        return FakeSweep(pd.DataFrame({"x": [1, 2, 3], "y": [2, 4, 6]}), [record])


def _line_figure(registry, figure_id="harness.test_tiny", *, claim="y = 2 x", counter=None, verdict=_UNSET,
                 **extra):
    @register_figure(
        id=figure_id, paper="harness", kind="figure", title="Tiny line", caption="y against x.", claim=claim,
        scale_note="three points", scenarios=("scenarios/test_tiny.yaml",),
        quick_overrides=("workload.steps=2",), full_overrides=("workload.steps=20",), registry=registry, **extra,
    )
    def draw(ctx):
        from plots.style import new_figure

        if counter is not None:
            counter.append(ctx.profile)
        data = ctx.run("scenarios/test_tiny.yaml").metrics
        fig, (ax,) = new_figure()
        ax.plot(data["x"], data["y"], marker="o")
        slope = float((data["y"] / data["x"]).mean())
        judged = (judge([within("slope", ours=slope, low=1.9, high=2.1, paper="2")], explanation="slope of y on x")
                  if verdict is _UNSET else verdict)
        return FigureOutput(data=data, figure=fig, ours=f"slope {slope:.2f}", provenance={"note": "fake runs"},
                            verdict=judged)

    return draw


def _settings(tmp_path, **changes):
    return RunSettings(**{"out_dir": tmp_path / "figures", "progress": False, **changes})


def test_one_figure_writes_png_csv_record_and_gallery(tmp_path):
    registry, runner = FigureRegistry(), FakeScenarioRunner()
    _line_figure(registry)
    report = render_figures(list(registry), _settings(tmp_path), registry=registry, run_scenario=runner)

    assert [(r.id, r.status) for r in report.results] == [("harness.test_tiny", "ok")]
    paper_dir = tmp_path / "figures" / "harness"
    assert (paper_dir / "harness.test_tiny.png").read_bytes().startswith(b"\x89PNG")
    assert pd.read_csv(paper_dir / "harness.test_tiny.csv").equals(pd.DataFrame({"x": [1, 2, 3], "y": [2, 4, 6]}))
    record = json.loads((paper_dir / "harness.test_tiny.json").read_text())
    assert record["status"] == "ok" and record["ours"] == "slope 2.00" and record["profile"] == "quick"
    assert record["verdict"]["status"] == "reproduced" and record["verdict"]["label"] == "reproduced"
    assert record["verdict"]["checks"][0]["ours"] == 2.0 and record["verdict"]["checks"][0]["holds"] is True
    assert report.results[0].verdict == "reproduced"
    assert record["provenance"]["devices"] == ["cpu"]
    assert record["provenance"]["timing_sources"] == {"exact": 3, "roofline": 1}
    assert record["provenance"]["extra"] == {"note": "fake runs"}
    assert runner.calls == [("test_tiny.yaml", ("workload.steps=2",), 1, "local")]

    page = report.gallery_path.read_text()
    assert report.gallery_path == tmp_path / "figures" / "index.html"
    assert 'src="harness/harness.test_tiny.png"' in page and 'href="harness/harness.test_tiny.csv"' in page
    assert "y = 2 x" in page and "slope 2.00" in page  # claim beside ours
    assert "3 table, 1 roofline" in page  # a flat count, as the fake runs record it
    assert "slope: ours 2, band 1.9 to 2.1 (paper: 2): holds" in page and "slope of y on x" in page


def test_full_profile_passes_full_overrides(tmp_path):
    registry, runner, profiles = FigureRegistry(), FakeScenarioRunner(), []
    _line_figure(registry, counter=profiles)
    render_figures(list(registry), _settings(tmp_path, profile="full", workers=3), registry=registry,
                   run_scenario=runner)
    assert runner.calls == [("test_tiny.yaml", ("workload.steps=20",), 3, "local")]
    assert profiles == ["full"]


def test_parallel_runs_figures_get_every_cpu_unless_workers_is_given(tmp_path, monkeypatch):
    monkeypatch.setattr("harness.executors.default_workers", lambda: 2)
    registry, runner = FigureRegistry(), FakeScenarioRunner()
    _line_figure(registry, "harness.test_serial")
    _line_figure(registry, "harness.test_parallel", parallel_runs=True)
    render_figures(list(registry), _settings(tmp_path), registry=registry, run_scenario=runner)
    assert [call[2] for call in runner.calls] == [2, 1]  # id order: parallel first; a timing figure gets 1

    runner.calls.clear()
    render_figures(list(registry), _settings(tmp_path, workers=1, force=True), registry=registry,
                   run_scenario=runner)
    assert [call[2] for call in runner.calls] == [1, 1]


def test_a_figure_that_measures_time_runs_one_point_at_a_time_whatever_workers_says(tmp_path, monkeypatch):
    monkeypatch.setattr("harness.executors.default_workers", lambda: 2)
    registry, runner = FigureRegistry(), FakeScenarioRunner()
    _line_figure(registry, "harness.test_other")
    _line_figure(registry, "harness.test_timed", measures_time=True)
    render_figures(list(registry), _settings(tmp_path, workers=3), registry=registry, run_scenario=runner)
    assert [call[2] for call in runner.calls] == [3, 1]  # id order: other, timed
    with pytest.raises(ValueError, match="measures time cannot have parallel_runs"):
        _line_figure(registry, "harness.test_both", measures_time=True, parallel_runs=True)


def test_failing_figure_is_reported_and_others_still_render(tmp_path):
    registry, runner = FigureRegistry(), FakeScenarioRunner()
    _line_figure(registry, "harness.test_good")

    @register_figure(id="harness.test_broken", paper="harness", kind="figure", title="Broken", caption="c",
                     claim="—", scale_note="s", registry=registry)
    def broken(ctx):
        raise RuntimeError("the model diverged")

    @register_figure(id="harness.test_undeclared", paper="harness", kind="figure", title="Undeclared",
                     caption="c", claim="—", scale_note="s", registry=registry)
    def undeclared(ctx):
        ctx.run("scenarios/other.yaml")

    report = render_figures(list(registry), _settings(tmp_path), registry=registry, run_scenario=runner)
    status = {r.id: r.status for r in report.results}
    assert status == {"harness.test_good": "ok", "harness.test_broken": "failed", "harness.test_undeclared": "failed"}
    errors = {r.id: r.error for r in report.failed}
    assert errors["harness.test_broken"] == "RuntimeError: the model diverged"
    assert "does not declare" in errors["harness.test_undeclared"]
    assert (tmp_path / "figures" / "harness" / "harness.test_good.png").is_file()
    assert not (tmp_path / "figures" / "harness" / "harness.test_broken.png").exists()
    page = report.gallery_path.read_text()
    assert "Drawing failed: RuntimeError: the model diverged" in page and 'class="d-failed"' in page


def test_unchanged_figure_is_not_redrawn(tmp_path):
    registry, runner, draws = FigureRegistry(), FakeScenarioRunner(), []
    _line_figure(registry, counter=draws)
    settings = _settings(tmp_path)
    png = tmp_path / "figures" / "harness" / "harness.test_tiny.png"

    assert render_figures(list(registry), settings, registry=registry, run_scenario=runner).results[0].status == "ok"
    first_mtime = png.stat().st_mtime_ns
    again = render_figures(list(registry), settings, registry=registry, run_scenario=runner)
    assert again.results[0].status == "cached" and len(draws) == 1 and png.stat().st_mtime_ns == first_mtime
    assert len(runner.calls) == 2  # the scenario is still asked for (its runs are reused by the run store)

    forced = render_figures(list(registry), _settings(tmp_path, force=True), registry=registry, run_scenario=runner)
    assert forced.results[0].status == "ok" and len(draws) == 2

    runner.run_id = "run-b"  # new inputs -> new run id -> redraw
    assert render_figures(list(registry), settings, registry=registry, run_scenario=runner).results[0].status == "ok"
    assert len(draws) == 3

    full = render_figures(list(registry), _settings(tmp_path, profile="full"), registry=registry, run_scenario=runner)
    assert full.results[0].status == "ok" and len(draws) == 4

    png.unlink()  # a missing output is redrawn even when the key matches
    assert render_figures(list(registry), _settings(tmp_path, profile="full"), registry=registry,
                          run_scenario=runner).results[0].status == "ok"


def test_changed_input_file_redraws(tmp_path):
    registry, runner = FigureRegistry(), FakeScenarioRunner()
    measured = tmp_path / "measured.csv"
    measured.write_text("size_bytes,time_us\n1024,5.0\n")

    @register_figure(id="harness.test_measured", paper="harness", kind="figure", title="Measured", caption="c",
                     claim="—", scale_note="s", inputs=(str(measured),), registry=registry)
    def draw(ctx):
        from plots.style import new_figure

        data = ctx.read_csv(str(measured))
        fig, (ax,) = new_figure()
        ax.plot(data["size_bytes"], data["time_us"])
        return FigureOutput(data=data, figure=fig, ours=f"{data['time_us'].iloc[0]:.1f} us",
                            verdict=_ok_verdict())

    settings = _settings(tmp_path)
    assert render_figures(list(registry), settings, registry=registry, run_scenario=runner).results[0].status == "ok"
    assert render_figures(list(registry), settings, registry=registry,
                          run_scenario=runner).results[0].status == "cached"
    measured.write_text("size_bytes,time_us\n1024,7.0\n")
    assert render_figures(list(registry), settings, registry=registry, run_scenario=runner).results[0].status == "ok"
    record = json.loads((tmp_path / "figures" / "harness" / "harness.test_measured.json").read_text())
    assert record["ours"] == "7.0 us"
    assert runner.calls == []  # no scenarios declared, none run


def test_gallery_escapes_html_and_shows_claim_vs_ours(tmp_path):
    registry, runner = FigureRegistry(), FakeScenarioRunner()

    @register_figure(id="harness.test_escape", paper="harness", kind="table", title="<b>bold</b> title",
                     caption="caption <script>alert(1)</script>", claim="x < 5 & y > 2", scale_note="s",
                     registry=registry)
    def draw(ctx):
        table = pd.DataFrame({"method": ["<i>ours</i>"], "value_ms": [1.5]})
        return FigureOutput(data=table, table=table, ours="<img src=x onerror=alert(1)>",
                            verdict=not_checkable("reason <b>escaped</b>"))

    report = render_figures(list(registry), _settings(tmp_path), registry=registry, run_scenario=runner)
    assert report.results[0].status == "ok"
    paper_dir = tmp_path / "figures" / "harness"
    assert (paper_dir / "harness.test_escape.png").read_bytes().startswith(b"\x89PNG")
    page = report.gallery_path.read_text()
    for raw in ("<script>", "<b>bold", "<i>ours", "<img src=x"):
        assert raw not in page
    assert "caption &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "x &lt; 5 &amp; y &gt; 2" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;i&gt;ours&lt;/i&gt;" in page  # the table cell, embedded in the page
    assert "reason &lt;b&gt;escaped&lt;/b&gt;" in page
    assert page.count("<img") == 0 and 'href="harness/harness.test_escape.png" download' in page  # shown once


def test_unrendered_and_unregistered_entries_are_listed(tmp_path):
    registry = FigureRegistry()
    _line_figure(registry)
    report = render_figures([], _settings(tmp_path), registry=registry, run_scenario=FakeScenarioRunner())
    page = report.gallery_path.read_text()
    assert 'class="d-not-run"' in page and "harness figures --only harness.test_tiny" in page
    assert "<b>0 of the 118 figures and tables</b>" in page and "118 are not drawn yet" in page
    assert "10 checklist entries not drawn yet" in page  # ARC-Top-K's ten, under its own section
    assert 'id="arctopk.fig2"' in page  # every missing entry is listed (and linkable) under its paper


def test_select_figures_filters_and_rejects_unknown_names():
    registry = FigureRegistry()
    _line_figure(registry, "harness.test_a")
    _line_figure(registry, "harness.test_b")
    assert [s.id for s in select_figures(registry, only=["harness.test_b"])] == ["harness.test_b"]
    assert len(select_figures(registry, paper="harness")) == 2
    with pytest.raises(HarnessError, match="unknown figure id"):
        select_figures(registry, only=["harness.nope"])
    with pytest.raises(HarnessError, match=r"did you mean harness\.test_b, harness\.test_a\?"):
        select_figures(registry, only=["harness.test_c"])  # close ids of the same paper, not the whole registry
    with pytest.raises(HarnessError, match=r"known: harness\.\* \(`harness list` shows all 2\)"):
        select_figures(registry, only=["nosuch.fig"])
    with pytest.raises(HarnessError, match="no figures registered"):
        select_figures(registry, paper="moc")


def test_cli_only_writes_outputs_and_exit_codes(tmp_path, monkeypatch, capsys):
    registry, runner = FigureRegistry(), FakeScenarioRunner()
    _line_figure(registry)

    @register_figure(id="harness.test_broken", paper="harness", kind="figure", title="Broken", caption="c",
                     claim="—", scale_note="s", registry=registry)
    def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr("plots.papers.load_all", lambda keep_going=False: (registry, {}))
    monkeypatch.setattr("plots.runner.default_scenario_runner", lambda: runner)
    out = tmp_path / "figs"

    assert cli_main(["figures", "--only", "harness.test_tiny", "--out", str(out), "--no-progress"]) == 0
    assert (out / "harness" / "harness.test_tiny.png").is_file()
    assert (out / "harness" / "harness.test_tiny.csv").is_file()
    assert (out / "index.html").is_file()
    assert "1 drawn" in capsys.readouterr().out

    assert cli_main(["figures", "--out", str(out), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "1 unchanged" in captured.out and "FAILED harness.test_broken: RuntimeError: boom" in captured.err

    assert cli_main(["figures", "--only", "harness.nope", "--out", str(out)]) == 2
    assert "unknown figure id" in capsys.readouterr().err


def test_cli_warns_when_a_timed_verdict_ran_beside_other_work(tmp_path, monkeypatch, capsys):
    registry, load = FigureRegistry(), {"cpus": 2, "load_average_before": [3.1, 2.0, 1.0], "load_average_after": None}

    def loaded_runner(*args, **kw):
        sweep = FakeScenarioRunner()(*args, **kw)
        sweep.runs[0].host_load = load
        return sweep

    _line_figure(registry, "harness.test_timed", measures_time=True)
    _line_figure(registry, "harness.test_untimed")
    monkeypatch.setattr("plots.papers.load_all", lambda keep_going=False: (registry, {}))
    monkeypatch.setattr("plots.runner.default_scenario_runner", lambda: loaded_runner)
    out = tmp_path / "figs"
    warning = "warning: the verdicts of harness.test_timed rest on times measured while other work shared the CPUs"
    for drawn in ("2 drawn", "2 unchanged"):  # the record keeps the load: a cached figure still warns
        assert cli_main(["figures", "--out", str(out), "--no-progress"]) == 0
        captured = capsys.readouterr()
        assert drawn in captured.out and warning in captured.err
    load["load_average_before"] = [2.0, 2.0, 2.0]  # exactly as busy as its CPUs
    assert cli_main(["figures", "--out", str(out), "--no-progress", "--force"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_summarize_sweeps_sums_per_op_timing_sources():
    """The replay's per-op summary ``{op: {source: n}}`` is summed over ops, like a flat mapping."""
    from types import SimpleNamespace

    from plots.runner import summarize_sweeps

    run = SimpleNamespace(
        reused=False,
        info={"timing_sources": {"matmul": {"exact": 2, "roofline": 1}, "copy": {"interpolated": 4}}},
    )
    summary = summarize_sweeps([SimpleNamespace(runs=[run], points=[])])
    assert summary["timing_sources"] == {"exact": 2, "interpolated": 4, "roofline": 1}
    assert summary["timing_sources_recorded"] == 1


@pytest.mark.parametrize(
    "verdict, message",
    [
        (None, "VerdictError: no verdict logic"),
        (Verdict(status="reproduced", explanation="claims more than its check shows",
                 checks=(within("slope", ours=2.0, low=3.0, high=4.0, paper="3 to 4"),)),
         "VerdictError: verdict contradicted by its own checks: status 'reproduced' but its checks give "
         "'not_reproduced'"),
        (Verdict(status="partly", explanation="no checks at all"), "a checkable verdict has no checks"),
        ("reproduced", "must be a plots.verdict.Verdict, got str"),
    ],
)
def test_figure_without_a_consistent_verdict_fails(tmp_path, verdict, message):
    registry = FigureRegistry()
    _line_figure(registry, verdict=verdict)
    report = render_figures(list(registry), _settings(tmp_path), registry=registry, run_scenario=FakeScenarioRunner())
    (result,) = report.results
    assert result.status == "failed" and message in result.error and result.verdict is None
    record = json.loads((tmp_path / "figures" / "harness" / "harness.test_tiny.json").read_text())
    assert record["status"] == "failed" and record["verdict"] is None and message in record["error"]
    assert not (tmp_path / "figures" / "harness" / "harness.test_tiny.png").exists()


def test_verdicts_are_recorded_and_kept_when_cached(tmp_path):
    registry = FigureRegistry()
    _line_figure(registry, "harness.test_off", verdict=judge(
        [within("slope", ours=2.0, low=3.0, high=4.0, paper="3 to 4"),
         within("offset", ours=0.0, low=-0.1, high=0.1, paper="0")], explanation="steeper in the paper"))
    settings = _settings(tmp_path)
    first = render_figures(list(registry), settings, registry=registry, run_scenario=FakeScenarioRunner())
    again = render_figures(list(registry), settings, registry=registry, run_scenario=FakeScenarioRunner())
    assert [r.verdict for r in (*first.results, *again.results)] == ["partly", "partly"]
    assert again.results[0].status == "cached"
    page = again.gallery_path.read_text()
    assert "partly reproduced" in page and "steeper in the paper" in page
    assert "slope: ours 2, band 3 to 4 (paper: 3 to 4): does not hold" in page


def test_stale_record_version_is_redrawn(tmp_path):
    registry, draws = FigureRegistry(), []
    _line_figure(registry, counter=draws)
    settings = _settings(tmp_path)
    render_figures(list(registry), settings, registry=registry, run_scenario=FakeScenarioRunner())
    path = tmp_path / "figures" / "harness" / "harness.test_tiny.json"
    old = json.loads(path.read_text())
    path.write_text(json.dumps({**old, "record_version": 1}))  # a record of the layout without verdicts
    assert render_figures(list(registry), settings, registry=registry,
                          run_scenario=FakeScenarioRunner()).results[0].status == "ok"
    assert len(draws) == 2


def test_cli_out_and_results_root(tmp_path, monkeypatch, capsys):
    registry, runner = FigureRegistry(), FakeScenarioRunner()
    _line_figure(registry)
    seen = []
    monkeypatch.setattr("plots.papers.load_all", lambda keep_going=False: (registry, {}))

    def recording_runner(path, overrides=(), **kwargs):
        seen.append(kwargs["results_root"])
        return runner(path, overrides, **kwargs)

    monkeypatch.setattr("plots.runner.default_scenario_runner", lambda: recording_runner)
    out, store = tmp_path / "elsewhere" / "figs", tmp_path / "store"
    args = ["figures", "--out", str(out), "--results-root", str(store), "--no-progress"]
    assert cli_main(args) == 0
    assert seen == [store] and (out / "index.html").is_file() and (out / "harness" / "harness.test_tiny.png").is_file()
    assert "(1 reproduced)" in capsys.readouterr().out

    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for bad, message in ((a_file, "a file is in the way; expected"), (a_file / "sub", "a file is in the way ("),
                         (Path("/proc/no_figures_here"), "cannot write there")):
        assert cli_main(["figures", "--out", str(bad), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert cli_main(["figures", "--out", str(out), "--results-root", str(a_file), "--no-progress"]) == 2
    assert "--results-root" in capsys.readouterr().err


@pytest.mark.parametrize("argv, make, line", [
    # a file where the paper's folder goes, a folder where the gallery goes: a traceback after the figures ran
    (["--only", "harness.test_tiny"], lambda out: (out / "harness").write_text("x"),
     "error: --out {out}: {out}/harness is a file; expected a folder there (or nothing)"),
    (["--only", "harness.test_tiny"], lambda out: (out / "index.html").mkdir(),
     "error: --out {out}/index.html: is a folder, expected a file"),
    # an unknown id: refused before the --out folder is made (it was created empty first)
    (["--only", "harness.nope"], None, "error: --only: unknown figure id(s) harness.nope; "),
    (["--only", ""], None, "error: --only: unknown figure id(s) ''; "),
])
def test_cli_refuses_before_any_figure_runs(tmp_path, monkeypatch, capsys, argv, make, line):
    registry = FigureRegistry()
    _line_figure(registry)
    monkeypatch.setattr("plots.papers.load_all", lambda keep_going=False: (registry, {}))

    def no_runs():
        raise AssertionError("a figure ran before the flags were checked")

    monkeypatch.setattr("plots.runner.default_scenario_runner", no_runs)
    out = tmp_path / "figs"
    if make is not None:
        out.mkdir()
        make(out)
    before = sorted(tmp_path.rglob("*"))
    assert cli_main(["figures", *argv, "--out", str(out), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    (printed,) = captured.err.strip().splitlines()
    assert printed.startswith(line.format(out=out)), printed
    assert sorted(tmp_path.rglob("*")) == before  # nothing made, nothing removed


def test_summarize_sweeps_keeps_per_op_sources_time_and_missing_table_sets():
    from types import SimpleNamespace

    from plots.runner import summarize_sweeps

    timings = {"table_set": "h100", "tables_missing": "folder /somewhere/results/timings/h100 does not exist",
               "timing_sources": {"matmul": {"roofline": 219}, "copy": {"exact": 3, "roofline": 1}},
               "time_by_source_ms": {"matmul": {"roofline": 30.0}, "copy": {"exact": 9.0, "roofline": 1.0}}}
    runs = [
        SimpleNamespace(reused=False, info={"timing_sources": {"roofline": 220, "exact": 3}, "timings": timings}),
        SimpleNamespace(reused=True, info={"timing_sources": {"matmul": {"exact": 1}}}),  # per op at the top level
    ]
    summary = summarize_sweeps([SimpleNamespace(runs=runs, points=[])])
    assert summary["timing_sources_by_op"] == {"copy": {"exact": 3, "roofline": 1},
                                               "matmul": {"exact": 1, "roofline": 219}}
    assert summary["time_by_source_ms"] == {"copy": {"exact": 9.0, "roofline": 1.0}, "matmul": {"roofline": 30.0}}
    assert summary["missing_table_sets"] == {"h100": ["copy", "matmul"]}
    assert summary["timing_sources"] == {"exact": 4, "roofline": 220} and summary["runs_reused"] == 1
    assert "/somewhere" not in json.dumps(summary)


def test_collective_sources_from_measured_tables_are_summed_and_shown():
    from types import SimpleNamespace

    from plots.gallery import _timing_items
    from plots.runner import summarize_sweeps

    runs = [
        SimpleNamespace(reused=False, info={"collective_sources": {"all_reduce": {"exact": 2, "interpolated": 1}}}),
        SimpleNamespace(reused=False, info={"collective_sources": {"all_reduce": {"exact": 1},
                                                                   "all_gather": {"closed_form": 4}}}),
        SimpleNamespace(reused=False, info={}),  # no measured collective tables
    ]
    summary = summarize_sweeps([SimpleNamespace(runs=runs, points=[])])
    assert summary["collective_sources"] == {"all_gather": {"closed_form": 4},
                                             "all_reduce": {"exact": 3, "interpolated": 1}}
    shown = dict(_timing_items(summary))["collective times (measured tables)"]
    assert shown == "all_gather: 4 closed form (not in the table); all_reduce: 3 measured, 1 interpolated"
    assert "collective times (measured tables)" not in dict(_timing_items(summarize_sweeps([])))


def test_code_version_covers_the_helpers_a_figure_module_imports(tmp_path, monkeypatch):
    import plots.runner as runner_module

    (tmp_path / "plots" / "papers").mkdir(parents=True)
    for package in ("plots", "plots/papers"):
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "plots" / "papers" / "paper_x.py").write_text("from plots.helpers import threshold\n")
    (tmp_path / "plots" / "helpers.py").write_text("threshold = 0.1\n")
    (tmp_path / "plots" / "unrelated.py").write_text("x = 1\n")
    monkeypatch.setattr(runner_module, "PROJECT_ROOT", tmp_path)
    registry = FigureRegistry()

    @register_figure(id="harness.test_helper", paper="harness", kind="figure", title="t", caption="c", claim="—",
                     scale_note="s", registry=registry)
    def draw(ctx):
        raise AssertionError("not drawn here")

    draw.__module__ = "plots.papers.paper_x"
    spec = registry.get("harness.test_helper")

    def version() -> str:
        runner_module._figure_module_version.cache_clear()
        return runner_module.code_version(spec)

    before = version()
    (tmp_path / "plots" / "unrelated.py").write_text("x = 2\n")
    assert version() == before
    (tmp_path / "plots" / "helpers.py").write_text("threshold = 0.2\n")  # a verdict threshold in a helper module
    assert version() != before
    runner_module._figure_module_version.cache_clear()


def test_machine_load_is_the_highest_around_any_run_and_is_shown_with_the_cpus(tmp_path):
    from types import SimpleNamespace

    from plots.gallery import _machine_load
    from plots.runner import summarize_sweeps

    runs = [
        SimpleNamespace(reused=False, info={}, host_load={"cpus": 2, "load_average_before": [0.4, 0.3, 0.2],
                                                           "load_average_after": [2.6, 1.0, 0.5]}),
        SimpleNamespace(reused=True, info={}, host_load={"cpus": 2, "load_average_before": [1.9, 1.0, 0.5],
                                                          "load_average_after": None}),
        SimpleNamespace(reused=True, info={}, host_load={}),  # stored before runs recorded it
    ]
    summary = summarize_sweeps([SimpleNamespace(runs=runs, points=[])])
    assert summary["host_load"] == {"cpus": 2, "load_average_1m_max": 2.6, "runs": 2}
    assert _machine_load(summary["host_load"]) == (
        "1-minute load average up to 2.60 on 2 CPUs around its runs (busier than its CPUs)")
    assert _machine_load({"cpus": 1, "load_average_1m_max": 0.5, "runs": 1}) == (
        "1-minute load average up to 0.50 on 1 CPU around its runs")
    assert summarize_sweeps([SimpleNamespace(runs=runs[2:], points=[])])["host_load"] == {}
