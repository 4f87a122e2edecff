"""Gaps in the tests of `plots.runner` found by a mutation audit, closed here with test-only figures and runs.

Closed: a draw whose output is not a FigureOutput, has no DataFrame, a blank "ours" or a table figure without a
table is recorded as failed with the reason (not a later AttributeError, and no PNG); the record keeps the scale
note, "ours" stripped and provenance numpy scalars as JSON numbers (paths as text, tuples as lists); cached figures
are not failures (the CLI's exit code); an unknown profile is refused and a profile change redraws even without
profile overrides. In `summarize_sweeps`: devices from the sweep's points, the run count, ``time_by_source_ms`` at
the top level of a run's info and its rounding, a table set listed as missing only when its tables are missing,
which per-op timing summary wins, and the host load over runs (the most CPUs, the highest 1-minute load before or
after, NaN / empty / bool entries skipped, CPUs without any load recorded).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from harness.errors import HarnessError
from plots.registry import FigureOutput, FigureRegistry, register_figure
from plots.runner import RunSettings, render_figures, summarize_sweeps
from plots.verdict import not_checkable
from tests.plots.test_figure_runner import FakeScenarioRunner, _line_figure


def _settings(tmp_path, **changes):
    return RunSettings(**{"out_dir": tmp_path / "figures", "progress": False, **changes})


def _figure_output(kind):
    def make(**fields):
        from plots.style import new_figure

        fields.setdefault("data", pd.DataFrame({"x": [1]}))
        fields.setdefault("ours", "1")
        fields.setdefault("verdict", not_checkable("test figure: nothing to compare"))
        if kind == "figure":
            fields.setdefault("figure", new_figure()[0])
        return FigureOutput(**fields)
    return make


@pytest.mark.parametrize("kind, output, error", [
    ("figure", lambda make: {"data": pd.DataFrame()}, "TypeError: draw must return a FigureOutput, got dict"),
    ("figure", lambda make: make(data=[1, 2]),
     "TypeError: FigureOutput.data must be a pandas DataFrame (the data behind the figure)"),
    ("figure", lambda make: make(ours=" \n"),
     "ValueError: FigureOutput.ours must be a non-empty string (our measured value)"),
    ("table", lambda make: make(), "TypeError: a 'table' must return FigureOutput.table, a pandas DataFrame"),
])
def test_a_malformed_output_is_recorded_as_failed_with_its_reason(tmp_path, kind, output, error):
    registry = FigureRegistry()

    @register_figure(id="harness.test_bad", paper="harness", kind=kind, title="t", caption="c", claim="—",
                     scale_note="s", registry=registry)
    def draw(ctx):
        return output(_figure_output(kind))

    report = render_figures(list(registry), _settings(tmp_path), registry=registry, run_scenario=FakeScenarioRunner())
    (result,) = report.results
    assert (result.status, result.error, result.verdict) == ("failed", error, None)
    record = json.loads((tmp_path / "figures" / "harness" / "harness.test_bad.json").read_text())
    assert (record["status"], record["error"], record["verdict"]) == ("failed", error, None)
    assert not (tmp_path / "figures" / "harness" / "harness.test_bad.png").exists()


def test_the_record_keeps_the_scale_note_ours_stripped_and_provenance_as_json(tmp_path):
    registry = FigureRegistry()

    @register_figure(id="harness.test_ours", paper="harness", kind="table", title="t", caption="c", claim="—",
                     scale_note="two rows, one seed", registry=registry)
    def draw(ctx):
        table = pd.DataFrame({"x": [1, 2]})
        return FigureOutput(data=table, table=table, ours="  2 rows \n", verdict=not_checkable("nothing to check"),
                            provenance={"n": np.int64(3), "r": np.float64(0.5), "p": Path("a/b"), "t": (1, 2)})

    render_figures(list(registry), _settings(tmp_path), registry=registry, run_scenario=FakeScenarioRunner())
    record = json.loads((tmp_path / "figures" / "harness" / "harness.test_ours.json").read_text())
    assert record["ours"] == "2 rows" and record["provenance"]["scale"] == "two rows, one seed"
    assert record["provenance"]["extra"] == {"n": 3, "r": 0.5, "p": "a/b", "t": [1, 2]}


def test_cached_figures_are_not_failures(tmp_path):
    registry = FigureRegistry()
    _line_figure(registry)
    render_figures(list(registry), _settings(tmp_path), registry=registry, run_scenario=FakeScenarioRunner())
    again = render_figures(list(registry), _settings(tmp_path), registry=registry, run_scenario=FakeScenarioRunner())
    assert [r.status for r in again.results] == ["cached"] and again.failed == []


def test_unknown_profile_is_refused_and_a_profile_change_redraws(tmp_path):
    registry, profiles = FigureRegistry(), []

    @register_figure(id="harness.test_profile", paper="harness", kind="table", title="t", caption="c", claim="—",
                     scale_note="s", registry=registry)
    def draw(ctx):
        profiles.append(ctx.profile)
        table = pd.DataFrame({"profile": [ctx.profile]})
        return FigureOutput(data=table, table=table, ours=ctx.profile, verdict=not_checkable("nothing to check"))

    with pytest.raises(HarnessError, match="unknown profile 'fast'; expected one of quick, full"):
        render_figures(list(registry), _settings(tmp_path, profile="fast"), registry=registry,
                       run_scenario=FakeScenarioRunner())
    statuses = [render_figures(list(registry), _settings(tmp_path, profile=profile), registry=registry,
                               run_scenario=FakeScenarioRunner()).results[0].status
                for profile in ("quick", "full", "full")]
    assert statuses == ["ok", "ok", "cached"] and profiles == ["quick", "full"]


def _run(reused=False, info=None, host_load=None):
    return SimpleNamespace(reused=reused, info=info or {}, host_load=host_load or {})


def _point(device):
    return SimpleNamespace(scenario=SimpleNamespace(cluster=SimpleNamespace(device=device)))


def test_devices_from_points_and_the_run_counts():
    sweep = SimpleNamespace(points=[_point("h100"), _point("a100"), _point(None)],
                            runs=[_run(), _run(reused=True), _run()])
    summary = summarize_sweeps([sweep])
    assert summary["devices"] == ["a100", "h100"]
    assert (summary["runs_total"], summary["runs_reused"]) == (3, 1)


def test_time_by_source_at_the_top_level_rounded_to_microseconds():
    info = {"time_by_source_ms": {"matmul": {"roofline": 1.23456789, "exact": 2.0}}}
    summary = summarize_sweeps([SimpleNamespace(runs=[_run(info=info)], points=[])])
    assert summary["time_by_source_ms"] == {"matmul": {"exact": 2.0, "roofline": 1.234568}}


def test_a_table_set_is_missing_only_when_its_tables_are():
    timings = {"table_set": "h100", "tables_missing": None, "timing_sources": {"matmul": {"roofline": 3}}}
    summary = summarize_sweeps([SimpleNamespace(runs=[_run(info={"timings": timings})], points=[])])
    assert summary["missing_table_sets"] == {}
    assert summary["timing_sources_by_op"] == {"matmul": {"roofline": 3}}


def test_the_replays_own_per_op_summary_wins():
    info = {"timings": {"timing_sources": {"matmul": {"exact": 1}}},
            "timing_sources_by_op": {"matmul": {"roofline": 5}},
            "timing_sources": {"copy": {"exact": 2}}}
    assert summarize_sweeps([SimpleNamespace(runs=[_run(info=info)], points=[])])["timing_sources_by_op"] == {
        "matmul": {"exact": 1}}
    del info["timings"]
    assert summarize_sweeps([SimpleNamespace(runs=[_run(info=info)], points=[])])["timing_sources_by_op"] == {
        "matmul": {"roofline": 5}}


def test_host_load_over_runs():
    runs = [
        _run(host_load={"cpus": 4, "load_average_before": [], "load_average_after": [math.nan, 0.5, 0.5]}),
        _run(host_load={"cpus": 2, "load_average_before": [3.5, 1.0, 1.0], "load_average_after": [1.25, 1.0, 1.0]}),
        _run(host_load={"cpus": True, "load_average_before": [9.0, 9.0, 9.0]}),  # not a CPU count
        _run(),  # stored before runs recorded it
    ]
    summary = summarize_sweeps([SimpleNamespace(runs=runs, points=[])])
    assert summary["host_load"] == {"cpus": 4, "load_average_1m_max": 3.5, "runs": 2}
    no_load = _run(host_load={"cpus": 2, "load_average_before": None, "load_average_after": None})
    assert summarize_sweeps([SimpleNamespace(runs=[no_load], points=[])])["host_load"] == {}
