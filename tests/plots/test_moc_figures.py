"""MoC memory figures (plots/papers/moc.py): registered ids with honest captions, each rendered end to end with its
verdict recomputed from its CSV, and verdicts that follow their data."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from plots.papers import load_all
from plots.papers import moc
from plots.runner import RunSettings, render_figure
from tests.plots.test_figure_verdicts import assert_recomputes

PAPER = "moc"


@pytest.fixture(scope="module")
def registry():
    registry, errors = load_all(keep_going=True)
    assert PAPER not in errors
    return registry


def test_registered_ids_have_verdicts_and_honest_captions(registry):
    registered = {spec.id for spec in registry if spec.paper == PAPER}
    assert {"moc.fig1", "moc.fig_memory", "moc.tab_hparams"} <= registered
    assert registered == set(moc.VERDICTS)
    for figure_id in registered:
        spec = registry.get(figure_id)
        assert "reconstruction" in spec.caption
        assert "/work" not in spec.caption and "issue" not in spec.caption.lower()


def _render(registry, tmp_path, figure_id):
    from harness.api import run_scenario_file

    spec = registry.get(figure_id)
    settings = RunSettings(out_dir=tmp_path / "figures", results_root=tmp_path / "runs", progress=False)
    result = render_figure(spec, settings, run_scenario_file)
    record = json.loads((tmp_path / "figures" / PAPER / f"{figure_id}.json").read_text())
    assert result.status == "ok", record.get("traceback")
    assert (tmp_path / "figures" / PAPER / f"{figure_id}.png").stat().st_size > 1000
    return pd.read_csv(tmp_path / "figures" / PAPER / f"{figure_id}.csv"), assert_recomputes(spec, tmp_path / "figures")


def test_fig1_renders_and_ffn_dominates(registry, tmp_path):
    data, verdict = _render(registry, tmp_path, "moc.fig1")
    assert verdict.status == "reproduced"
    assert list(data["model"]) == ["llama-60m", "llama-130m", "llama-350m", "llama-1b", "llama-7b"]
    flipped = data.assign(activation_attention_bytes=data["activation_ffn_bytes"] * 2)
    assert moc.verdict_fig1(flipped).status != "reproduced"


def test_fig_memory_renders_with_measured_equal_to_analytic(registry, tmp_path):
    data, verdict = _render(registry, tmp_path, "moc.fig_memory")
    assert verdict.status == "reproduced"
    bars = data[data["panel"] == "measured block"]
    assert set(bars["model"]) == {"llama-1b", "llama-7b"}
    broken = data.copy()
    broken.loc[broken["panel"] == "measured block", "measured_block_bytes_per_token"] += 2
    assert moc.verdict_fig_memory(broken).status != "reproduced"


def test_tab_hparams_is_not_checkable(registry, tmp_path):
    data, verdict = _render(registry, tmp_path, "moc.tab_hparams")
    assert verdict.status == "not_checkable"
    assert "llama-7b" in set(data["model"])
