"""Every ARC-Top-K and compression-time figure draws on a tiny profile (quick overrides plus smaller runs).

The runs go through the real harness (`harness.api.run_scenario_file`) into a temporary run store; the extra
overrides only shrink step counts, so each figure's code path is the real one. Full regeneration is not a test.
"""

from __future__ import annotations

import json

import pytest
import yaml

import plots.papers
from harness.api import run_scenario_file
from plots.registry import FIGURES
from plots.runner import RunSettings, render_figure
from tests.plots.test_figure_verdicts import assert_recomputes

TINY_TRAINING = ("workload.steps=6", "workload.eval_every=3", "workload.record_every=2", "workload.warmup_steps=2")
TINY_SWEEPS = {  # fewer sweep points where a figure does not need them all
    "tab5_paper_setting.yaml": ("sweep.product.workload.model=[llama-60m, llama-1b]",
                                "sweep.product.network.intra_node.bandwidth_gbps=[100]"),
    "bytes_vs_nodes.yaml": ("sweep.product.cluster.nodes=[4, 5, 6, 8]",),
}
IDS = ["arctopk.fig1", "arctopk.fig2", "arctopk.fig3", "arctopk.fig_scaling", "arctopk.fig4", "arctopk.tab1",
       "arctopk.tab2", "arctopk.tab3", "arctopk.tab4", "arctopk.tab5", "harness.compression_time_to_accuracy",
       "harness.compression_bytes_vs_nodes"]


def _tiny_runner(path, overrides=(), **kwargs):
    scenario = yaml.safe_load(path.read_text())
    extra = TINY_TRAINING if scenario.get("kind") == "compressed_training" else ()
    if "seed" in (scenario.get("sweep") or {}).get("product", {}):
        extra = (*extra, "sweep.product.seed=[0, 1]")  # two seeds: the spread code runs, at a third of the cost
    if "tune" in scenario:  # two candidates, tuned for 3 steps
        values = scenario["tune"]["values"][:2]
        extra = (*extra, f"tune.values={values}", "tune.overrides.workload.steps=3")
    return run_scenario_file(path, (*overrides, *extra, *TINY_SWEEPS.get(path.name, ())), **kwargs)


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    plots.papers.load_all()
    root = tmp_path_factory.mktemp("figs")
    return RunSettings(profile="quick", out_dir=root / "figures", results_root=root / "runs", progress=False)


def test_every_arctopk_checklist_id_is_registered():
    plots.papers.load_all()
    registered = {spec.id for spec in FIGURES if spec.paper == "arctopk"}
    assert registered == {i for i in IDS if i.startswith("arctopk.")}


@pytest.mark.parametrize("figure_id", IDS)
def test_figure_draws_on_a_tiny_profile(figure_id, settings):
    spec = FIGURES.get(figure_id)
    result = render_figure(spec, settings, _tiny_runner)
    record = json.loads((settings.out_dir / spec.paper / f"{figure_id}.json").read_text())
    assert result.status == "ok", record.get("traceback")
    assert (settings.out_dir / spec.paper / f"{figure_id}.png").stat().st_size > 1000
    assert (settings.out_dir / spec.paper / f"{figure_id}.csv").stat().st_size > 10
    assert record["ours"]
    assert_recomputes(spec, settings.out_dir)  # the recorded verdict is the one its CSV gives
    if spec.paper == "arctopk":
        assert "could not be read" in spec.full_caption


def test_topk_crossover_is_computed_at_six_workers(settings):
    spec = FIGURES.get("harness.compression_bytes_vs_nodes")
    render_figure(spec, settings, _tiny_runner)
    record = json.loads((settings.out_dir / "harness" / "harness.compression_bytes_vs_nodes.json").read_text())
    assert "from N = 6 on" in record["ours"]
