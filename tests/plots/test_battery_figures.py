"""Battery FFR figures (plots/papers/battery.py): every checklist id registered with an honest caption; figures
render end to end on a tiny profile with their verdict recomputed from the CSV; verdicts follow their data."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from plots.papers import battery as bt
from plots.papers import load_all
from plots.registry import load_checklist
from plots.runner import RunSettings, render_figure
from tests.plots.test_figure_verdicts import assert_recomputes

PAPER = "battery"
TINY_CASE = ("workload.scheduler.mode=priority", "workload.signal.duration_s=60")


@pytest.fixture(scope="module")
def registry():
    registry, errors = load_all(keep_going=True)
    assert PAPER not in errors
    return registry


def test_every_checklist_id_is_registered_with_an_honest_caption(registry):
    ids = {i for i, e in load_checklist().items() if e.paper == PAPER}
    registered = {spec.id for spec in registry if spec.paper == PAPER}
    assert registered == ids == set(bt.VERDICTS)
    for figure_id in ids:
        spec = registry.get(figure_id)
        assert "could not be read" in spec.full_caption and "could not be read" not in spec.caption
        assert "/work" not in spec.caption and "issue" not in spec.caption.lower()


def _render(registry, tmp_path, figure_id, overrides=None):
    spec = registry.get(figure_id)
    if overrides is not None:
        spec = dataclasses.replace(spec, quick_overrides=tuple(overrides))
    from harness.api import run_scenario_file

    settings = RunSettings(out_dir=tmp_path / "figures", results_root=tmp_path / "runs", progress=False)
    result = render_figure(spec, settings, run_scenario_file)
    record = json.loads((tmp_path / "figures" / PAPER / f"{figure_id}.json").read_text())
    assert result.status == "ok", record.get("traceback")
    assert (tmp_path / "figures" / PAPER / f"{figure_id}.png").stat().st_size > 1000
    verdict = assert_recomputes(spec, tmp_path / "figures")
    return record, pd.read_csv(tmp_path / "figures" / PAPER / f"{figure_id}.csv"), verdict


@pytest.mark.parametrize("figure_id", ["battery.fig1", "battery.fig4", "battery.tab1", "battery.tab2"])
def test_static_items_render_and_say_why_not_checkable(registry, tmp_path, figure_id):
    _, _, verdict = _render(registry, tmp_path, figure_id)
    assert verdict.status == "not_checkable"


@pytest.mark.parametrize("figure_id", ["battery.fig2", "battery.fig3"])
def test_model_figures_render_and_hold(registry, tmp_path, figure_id):
    _, _, verdict = _render(registry, tmp_path, figure_id)
    assert verdict.status == "reproduced"


@pytest.mark.slow
def test_cost_table_renders_on_a_tiny_profile(registry, tmp_path):
    record, data, verdict = _render(registry, tmp_path, "battery.tab3", TINY_CASE)
    assert set(data["case"]) == {"Case I", "Case II"}
    assert set(data["method"]) == {"proposed", "loss_only", "capacity", "soc"}
    assert (data.loc[data["method"] == "proposed", "loss_reduction_pct"] == 0).all()
    assert "priority" in record["ours"]
    assert len(verdict.checks) == 8


@pytest.mark.slow
def test_solve_time_figure_renders_on_a_tiny_profile(registry, tmp_path):
    _, data, verdict = _render(registry, tmp_path, "battery.fig10", ["workload.signal.duration_s=6"])
    assert set(data["mode"]) == {"miqcp", "priority"}
    assert sorted(set(data["n_modules"])) == [4, 8, 12, 16, 20]
    assert len(verdict.checks) == 2


# ------------------------------------------------------------------------------------------------ verdicts
def _costs(loss, aging):
    rows = []
    for case in ("Case I", "Case II"):
        for method in ("proposed", "capacity", "soc"):
            cut = 0.0 if method == "proposed" else 1.0
            rows.append({"case": case, "method": method, "loss_reduction_pct": cut * loss,
                         "aging_reduction_pct": cut * aging})
    return pd.DataFrame(rows)


def test_cost_verdict_follows_the_bands():
    assert bt.verdict_fig8(_costs(40, 10)).status == "reproduced"
    assert bt.verdict_fig8(_costs(40, 1)).status == "partly"
    assert bt.verdict_fig8(_costs(10, -5)).status == "not_reproduced"
    assert bt.verdict_tab3(_costs(60, 10)).status == "partly"


def _socs(proposed_spread, other_spread):
    rows = []
    for case in ("Case I", "Case II"):
        for method, spread in (("proposed", proposed_spread), ("capacity", other_spread), ("soc", other_spread)):
            for t in (0, 2):
                rows += [{"case": case, "method": method, "time_s": t, "module": "M1", "soc": 0.5},
                         {"case": case, "method": method, "time_s": t, "module": "M2", "soc": 0.5 + spread}]
    return pd.DataFrame(rows)


def test_soc_balance_verdict_follows_the_spread():
    assert bt.verdict_fig7(_socs(0.05, 0.1)).status == "reproduced"
    assert bt.verdict_fig7(_socs(0.2, 0.1)).status == "not_reproduced"


def test_solve_time_verdict_uses_the_control_step():
    fast = pd.DataFrame({"n_modules": [20] * 10 + [20] * 10, "mode": ["miqcp"] * 10 + ["priority"] * 10,
                         "step": list(range(10)) * 2, "solve_ms": [100.0] * 10 + [3000.0] * 10, "fallback": False})
    verdict = bt.verdict_fig10(fast)
    assert verdict.status == "partly"
    assert [c.holds for c in verdict.checks] == [True, False]


def test_tracking_and_activation_verdicts_flip():
    t = np.arange(900) * 2.0
    r = np.sin(2 * np.pi * t / 450)  # two periods per 15-min block: energy-neutral
    good = pd.DataFrame({"time_s": t, "regulation": r, "request_kw": 60 * r, "delivered_kw": 60 * r,
                         "regulation_kw": 60.0})
    assert bt.verdict_fig5(good).status == "reproduced"
    assert bt.verdict_fig5(good.assign(delivered_kw=0.0)).status == "partly"
    load = pd.DataFrame({"request_kw": np.abs(r) * 60, "active_modules": np.ceil(np.abs(r) * 6), "n_modules": 6})
    assert bt.verdict_fig9(load).status == "reproduced"
    assert bt.verdict_fig9(load.assign(active_modules=6)).status != "reproduced"
    assert np.isnan(bt.load_correlation(load.assign(active_modules=6)))  # undefined, not a numpy warning
