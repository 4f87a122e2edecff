"""FRB pair-cascade figures (plots/papers/frb.py): every checklist id registered with a caption naming its
truncation criterion; figures render end to end on a tiny profile with the recorded verdict recomputed from the
CSV; each verdict follows its data (it flips when synthetic data contradicts the claim)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from plots.papers import frb
from plots.papers import load_all
from plots.registry import load_checklist
from plots.runner import RunSettings, render_figure
from tests.plots.test_figure_verdicts import assert_recomputes

PAPER = "frb"


@pytest.fixture(scope="module")
def registry():
    registry, errors = load_all(keep_going=True)
    assert PAPER not in errors
    return registry


def test_every_checklist_id_is_registered(registry):
    wanted = {entry.id for entry in load_checklist().values() if entry.paper == PAPER}
    registered = {spec.id for spec in registry if spec.paper == PAPER}
    assert wanted == registered == set(frb.VERDICTS) == {"frb.fig1", "frb.fig2", "frb.fig3"}
    for figure_id in ("frb.fig2", "frb.fig3"):
        assert "plasma cut-off" in registry.get(figure_id).caption  # the criterion shown is named


def _render(registry, tmp_path, figure_id, overrides):
    spec = dataclasses.replace(registry.get(figure_id), quick_overrides=tuple(overrides))
    from harness.api import run_scenario_file

    settings_ = RunSettings(out_dir=tmp_path / "figures", results_root=tmp_path / "runs", progress=False)
    result = render_figure(spec, settings_, run_scenario_file)
    record = json.loads((tmp_path / "figures" / PAPER / f"{figure_id}.json").read_text())
    assert result.status == "ok", record.get("traceback")
    assert (tmp_path / "figures" / PAPER / f"{figure_id}.png").stat().st_size > 1000
    assert_recomputes(spec, tmp_path / "figures")
    return record, pd.read_csv(tmp_path / "figures" / PAPER / f"{figure_id}.csv")


def test_fig1_renders_and_is_not_checkable(registry, tmp_path):
    record, data = _render(registry, tmp_path, "frb.fig1", [])
    assert record["verdict"]["status"] == "not_checkable"
    assert set(data["fit"]) == {"hxmt", "konus", "integral"}
    konus = data[data["fit"] == "konus"]
    assert (konus["band_high"] > konus["band_low"]).any()  # a band from sampling the published errors


def test_fig2_renders_on_a_tiny_profile(registry, tmp_path):
    record, data = _render(registry, tmp_path, "frb.fig2", [
        "workload.mc_replicas=8", "workload.mc_seeds=100", "workload.mc_max_per_generation=3000",
        "workload.time_points=10", "workload.bins=24"])
    assert "plasma cut-off at" in record["ours"]
    assert set(data["solver"]) == {"rate", "monte_carlo"}


def test_fig3_renders_on_a_tiny_profile(registry, tmp_path):
    record, data = _render(registry, tmp_path, "frb.fig3", [
        "workload.samples=3", "workload.bins=24", "workload.radii_cm=[1.0e+8, 1.0e+9]"])
    assert set(data["series"]) == {"frb200428", "fixed_luminosity"}
    assert record["verdict"]["status"] in {"reproduced", "partly", "not_reproduced"}


def _fig2_data(times_ms, deviation):
    rows = []
    for index, t_ms in enumerate(times_ms):
        rows.append({"config": f"c{index}", "t_trunc_plasma_cutoff_s": t_ms / 1e3, "truncated_plasma_cutoff": True,
                     "mc_deviation_sigma": deviation})
    return pd.DataFrame(rows)


def test_fig2_verdict_follows_its_data():
    assert frb.verdict_fig2(_fig2_data([0.1, 1.0, 5.0, 9.0], 1.0)).status == "reproduced"
    assert frb.verdict_fig2(_fig2_data([0.1, 1.0, 5.0, 30.0], 1.0)).status == "partly"
    assert frb.verdict_fig2(_fig2_data([20.0, 30.0, 50.0, 90.0], 6.0)).status == "not_reproduced"


def _fig3_data(median_ms, lx_times_ms):
    rows = [{"series": "frb200428", "criterion": "plasma_cutoff", "fit": fit, "radius_cm": r, "median_ms": t}
            for fit in ("hxmt", "konus", "integral") for r, t in zip((1e8, 1e9), median_ms, strict=True)]
    rows += [{"series": "fixed_luminosity", "criterion": "plasma_cutoff", "frequency_hz": 1.4e9, "radius_cm": 1e9,
              "luminosity_x_erg_s": lx, "t_trunc_ms": t} for lx, t in zip((1e39, 1e40, 1e41), lx_times_ms,
                                                                        strict=True)]
    return pd.DataFrame(rows)


def test_fig3_verdict_follows_its_data():
    assert frb.verdict_fig3(_fig3_data([0.01, 1.0], [100.0, 10.0, 1.0])).status == "reproduced"
    assert frb.verdict_fig3(_fig3_data([0.01, 1.0], [1.0, 10.0, 100.0])).status == "partly"
    assert frb.verdict_fig3(_fig3_data([0.001, 50.0], [1.0, 10.0, 100.0])).status == "not_reproduced"


def test_fig1_verdict_is_not_checkable_with_a_reason():
    verdict = frb.verdict_fig1(pd.DataFrame({"energy_kev": np.ones(2)}))
    assert verdict.status == "not_checkable" and "schematic" in verdict.explanation
