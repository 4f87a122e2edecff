"""The grid-interactive training cluster figure (plots/papers/harness_grid_cluster.py): it renders end to end on a
tiny profile with its verdict recomputed from the CSV, and its computed sanity notes follow the data."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from plots.papers import harness_grid_cluster as gc
from plots.papers import load_all
from plots.runner import RunSettings, render_figure
from tests.plots.test_figure_verdicts import assert_recomputes

FIGURE = "harness.grid_cluster"
TINY = ("workload.signal.duration_s=60", "sweep.product.workload.battery_kw=[0, 20]")


def _table(scores: list[float], rmse: list[float]) -> pd.DataFrame:
    rows = []
    for follows in (True, False):
        for kw, score, error in zip((0.0, 10.0, 20.0), scores, rmse, strict=True):
            rows.append({"battery_kw": kw, "cluster_follows": follows, "score_composite": score,
                         "tracking_rmse_kw": error, "battery_aging_usd_per_h": 0.01 * (1.5 - follows) * kw,
                         "throughput_loss_vs_nominal_pct": 2.0 if follows else 0.0})
    return pd.DataFrame(rows)


def test_verdict_is_not_checkable_and_its_notes_follow_the_data():
    better = gc.verdict_grid_cluster(_table([0.3, 0.9, 1.0], [9.0, 2.0, 0.0]))
    assert better.status == "not_checkable"
    assert "tracks at least as well at every step of the sweep: yes" in better.explanation
    assert "costs 2.00% of training steps" in better.explanation
    worse = gc.verdict_grid_cluster(_table([0.3, 0.9, 0.5], [9.0, 2.0, 4.0]))
    assert "every step of the sweep: no" in worse.explanation
    assert not better.contradictions() and not worse.contradictions()


@pytest.mark.slow
def test_figure_renders_on_a_tiny_profile(tmp_path):
    registry, errors = load_all(keep_going=True)
    assert "harness" not in errors
    spec = dataclasses.replace(registry.get(FIGURE), quick_overrides=TINY)
    from harness.api import run_scenario_file

    settings = RunSettings(out_dir=tmp_path / "figures", results_root=tmp_path / "runs", progress=False)
    result = render_figure(spec, settings, run_scenario_file)
    record = json.loads((tmp_path / "figures" / "harness" / f"{FIGURE}.json").read_text())
    assert result.status == "ok", record.get("traceback")
    data = pd.read_csv(tmp_path / "figures" / "harness" / f"{FIGURE}.csv")
    assert sorted(set(data["battery_kw"])) == [0.0, 20.0] and set(data["cluster_follows"]) == {True, False}
    assert (data.loc[data["battery_kw"] == 0, "battery_aging_usd_per_h"] == 0).all()
    assert data["score_composite"].between(0, 1).all()
    verdict = assert_recomputes(spec, tmp_path / "figures")
    assert verdict.status == "not_checkable"
