"""MoC figures (plots/papers/moc.py): registered ids with honest captions, each rendered end to end (the training,
decode and throughput figures on tiny settings) with its verdict recomputed from its CSV, and verdicts that follow
their data."""

from __future__ import annotations

import dataclasses
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
    assert {"moc.fig1", "moc.fig_memory", "moc.tab_hparams", "moc.fig_loss", "moc.tab_ppl", "moc.tab_ablation_k",
            "moc.tab_throughput", "moc.fig_decode", "moc.fig2", "moc.fig_kernel"} <= registered
    assert registered == set(moc.VERDICTS)
    assert "moc.tab_beyond" in {entry.id for entry in registry.missing("moc")}
    for figure_id in registered:
        spec = registry.get(figure_id)
        assert "could not be read" in spec.full_caption and "could not be read" not in spec.caption
        assert "/work" not in spec.caption and "issue" not in spec.caption.lower()


def _render(registry, tmp_path, figure_id, extra=(), runs=None):
    from harness.api import run_scenario_file

    spec = registry.get(figure_id)
    spec = dataclasses.replace(spec, quick_overrides=(*spec.quick_overrides, *extra))
    settings = RunSettings(out_dir=tmp_path / "figures", results_root=runs or tmp_path / "runs", progress=False)
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


# tiny settings appended to the quick profile (seconds of CPU): the checks below are about plumbing and verdict
# logic, not about the results
TINY_TRAINING = ("workload.steps=6", "workload.warmup_steps=1", "workload.eval_every=3", "workload.record_every=3",
                 "workload.corpus.n_sentences=150", "workload.corpus.eval_sentences=40",
                 "workload.corpus.eval_batches=1", "workload.batch_size=2", "workload.model.seq_len=16")
TINY_DECODE = ("workload.d_model=64", "workload.d_ff=160", "workload.n_heads=4", "workload.context=16",
               "workload.repeats=3")
TINY_THROUGHPUT = ("workload.rounds=2", "workload.warmup=0", "workload.batch_size=2", "workload.model.n_heads=2",
                   "sweep.zip.workload.model.d_model=[16]", "sweep.zip.workload.model.n_layers=[1]",
                   "sweep.zip.workload.model.d_ff=[24]", "sweep.zip.workload.model.seq_len=[16]")


@pytest.fixture(scope="module")
def training_runs(tmp_path_factory):
    return tmp_path_factory.mktemp("moc_runs")


def test_fig_loss_renders_and_competitive_follows_the_gap(registry, tmp_path, training_runs):
    data, verdict = _render(registry, tmp_path, "moc.fig_loss", TINY_TRAINING, training_runs)
    assert verdict.status in ("reproduced", "partly", "not_reproduced")
    finals = data[data["panel"] == "final"]
    assert finals.groupby("arm")["seed"].nunique().min() == 3
    assert {"dense", "MoC K=d_ff/16", "MoC K=d_ff"} <= set(finals["arm"])
    worse = data.copy()
    rows = (worse["panel"] == "final") & worse["arm"].isin(["MoC K=d_ff/8", "MoC K=d_ff/4"])
    worse.loc[rows, "final_eval_loss"] += 10.0
    assert moc.verdict_fig_loss(worse).status == "not_reproduced"
    same = data.copy()
    dense = same.loc[(same["panel"] == "final") & (same["arm"] == "dense")].set_index("seed")["final_eval_loss"]
    for arm in ("MoC K=d_ff/8", "MoC K=d_ff/4"):
        rows = (same["panel"] == "final") & (same["arm"] == arm)
        same.loc[rows, "final_eval_loss"] = same.loc[rows, "seed"].map(dense).to_numpy()
    assert moc.verdict_fig_loss(same).status == "reproduced"


def test_tab_ppl_renders_two_sizes_and_checks_each(registry, tmp_path, training_runs):
    data, verdict = _render(registry, tmp_path, "moc.tab_ppl", TINY_TRAINING, training_runs)
    assert set(data["d_model"]) == {32, 64} and set(data["arm"]) == {"dense", "MoC K=d_ff/8"}
    assert len(verdict.checks) == 2
    worse = data.copy()
    worse.loc[(worse["arm"] != "dense") & (worse["d_model"] == 32), "final_eval_loss"] += 10.0
    assert not moc.verdict_tab_ppl(worse).checks[0].holds


def test_tab_ablation_k_memory_is_exact_and_grows_with_k(registry, tmp_path, training_runs):
    data, verdict = _render(registry, tmp_path, "moc.tab_ablation_k", TINY_TRAINING, training_runs)
    checks = {c.name: c for c in verdict.checks}
    assert checks["largest |measured - analytic| activation bytes per token (dense and MoC runs)"].holds
    assert checks["measured activation bytes per token vs K"].holds
    assert set(data["selection"]) == {"none", "gate", "abs_up", "random"}
    broken = data.copy()
    broken.loc[broken["arm"] == "MoC K=d_ff/16", "saved_bytes_per_token"] += 1e6
    assert moc.verdict_tab_ablation_k(broken).status != "reproduced"


def test_tab_throughput_is_not_checkable_with_cpu_numbers(registry, tmp_path):
    data, verdict = _render(registry, tmp_path, "moc.tab_throughput", TINY_THROUGHPUT)
    assert verdict.status == "not_checkable"
    assert list(data["variant"].unique()) == ["dense", "moc", "dense+ckpt", "moc+ckpt"]
    assert "of dense's tokens/s" in verdict.explanation and "x at d_model 16" in verdict.explanation


def test_fig_decode_renders_and_its_checks_follow_the_speedups(registry, tmp_path):
    data, verdict = _render(registry, tmp_path, "moc.fig_decode", TINY_DECODE)
    assert len(data[data["impl"] == "moc"]) == 5
    slow = data.copy()
    slow.loc[slow["impl"] == "moc", "ffn_speedup"] = [0.5, 0.6, 0.7, 0.8, 0.9]
    slow.loc[slow["impl"] == "moc", ["time_ms_p10", "time_ms_p90"]] = slow.loc[slow["impl"] == "moc",
                                                                             ["time_ms_median"] * 2].to_numpy()
    assert moc.verdict_fig_decode(slow).status == "not_reproduced"


@pytest.mark.parametrize("figure_id", ["moc.fig2", "moc.fig_kernel"])
def test_static_diagrams_render(registry, tmp_path, figure_id):
    _, verdict = _render(registry, tmp_path, figure_id)
    assert verdict.status == "not_checkable"
