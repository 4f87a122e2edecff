"""Figures of `arctopk` drawn from run sets that lack an arm: each now fails with one line naming the figure's need
and the methods its runs have (or, for a verdict, is not checkable for that reason):

- fig2 without Local Top-K under one optimizer, fig3 without Rand-K under one error feedback;
- fig_scaling without Top-K at one worker count, fig4 without dense;
- tab2 without dense for one model or ARC-Top-K in one cell, tab3 without Top-K on one task, tab4 without dense at
  one width, tab5 without Top-K at one model and bandwidth or without any run.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from plots.papers import arctopk as arc
from tests.plots.test_arctopk_builders_mutation_gaps import (
    FIG2_TAILS,
    TAB2_BYTES,
    TAB2_FINALS,
    TAB3_FINALS,
    TAB5_MS,
    Sweep,
    _evaluated,
    ctx,
    curve,
    tail,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _raises(draw, context) -> str:
    with pytest.raises(ValueError) as err:
        draw(context)
    return str(err.value)


def test_fig2_without_local_top_k_under_one_optimizer_says_so(tmp_path):
    sweeps = {}
    for path in arc.FIG2:
        sweep = Sweep(tmp_path / Path(path).stem)
        for method, values in FIG2_TAILS.items():
            if method == "Local Top-K" and path == arc.FIG2[1]:
                continue
            for seed, value in enumerate(values):
                sweep.add(method, seed, curve(20, dist=tail(value), loss=7.0))
        sweeps[path] = sweep
    assert _raises(arc.draw_fig2, ctx(sweeps)) == (
        "arctopk.fig2 under EF21 double momentum needs runs of Local Top-K; the runs have dense, ARC-Top-K, "
        "ARC-Top-K (exact)")


def test_fig2_verdict_without_an_arm_is_not_checkable():
    data = pd.DataFrame({"optimizer": "EF21-MSGD", "method": ["dense", "ARC-Top-K"], "seed": 0, "step": 0,
                         "dist": 1.0})
    verdict = arc.verdict_fig2(data)
    assert verdict.status == "not_checkable"
    assert verdict.explanation == ("arctopk.fig2 under EF21-MSGD needs runs of Local Top-K, ARC-Top-K (exact); the "
                                   "runs have dense, ARC-Top-K")


def test_fig3_without_rand_k_under_one_error_feedback_says_so(tmp_path):
    sweep = Sweep(tmp_path)
    for ef in ("ef21m", "ef21_sgd2m"):
        for method in ("ARC-Top-K", "Rand-K", "Top-K", "dense"):
            if (ef, method) != ("ef21m", "Rand-K"):
                sweep.add(method, 0, curve(20, grad_norm=tail(0.01), loss=9.0), **{arc.EF_COLUMN: ef})
    assert _raises(arc.draw_fig3, ctx({arc.FIG3: sweep})) == (
        "arctopk.fig3 under ef21m needs runs of Rand-K; the runs have ARC-Top-K, Top-K, dense")


def test_fig_scaling_without_top_k_at_one_worker_count_says_so(tmp_path):
    sweep = Sweep(tmp_path)
    for n in (8, 16):
        for method in ("dense", "Top-K", "ARC-Top-K"):
            if (n, method) != (16, "Top-K"):
                sweep.add(method, 0, curve(20, grad_norm=tail(0.1), payload_bytes_per_worker=1.0),
                          **{"workload.n_workers": n})
    assert _raises(arc.draw_fig_scaling, ctx({arc.SCALING: sweep})) == (
        "arctopk.fig_scaling at N = 16 needs runs of Top-K; the runs have dense, ARC-Top-K")


def test_fig4_without_dense_says_so(tmp_path):
    sweep = Sweep(tmp_path)
    for method in ("Top-K", "Rand-K", "ARC-Top-K"):
        sweep.add(method, 0, curve(10, eval_loss=1.0, cum_ring_sent_bytes_per_worker=1.0))
    assert _raises(arc.draw_fig4, ctx({arc.GPT_METHODS: sweep})) == (
        "arctopk.fig4 needs runs of dense; the runs have Top-K, Rand-K, ARC-Top-K")


def _tab2(tmp_path: Path, skip: tuple[str, str, str]):
    sweeps = {path: Sweep(tmp_path / model) for path, model in zip(arc.TAB2, ("MLP", "CNN"))}
    for (model, method, ef), finals in TAB2_FINALS.items():
        if (model, method, ef) != skip:
            sweeps[arc.TAB2[0] if model == "MLP" else arc.TAB2[1]].add(
                method, 0, _evaluated(finals[0], TAB2_BYTES[model][method]), **{arc.EF_COLUMN: ef})
    return ctx(sweeps)


def test_tab2_without_dense_for_one_model_says_so(tmp_path):
    context = _tab2(tmp_path, ("CNN", "dense", "ef14"))
    context.run(arc.TAB2[1]).runs.pop()  # the CNN's dense EF21 run, the last one added
    assert _raises(arc.draw_tab2, context) == "arctopk.tab2 for CNN needs runs of dense; the runs have Top-K, ARC-Top-K"


def test_tab2_without_arc_top_k_in_one_cell_says_so(tmp_path):
    assert _raises(arc.draw_tab2, _tab2(tmp_path, ("MLP", "ARC-Top-K", "ef21"))) == (
        "arctopk.tab2 for MLP, EF21 needs runs of ARC-Top-K; the runs have Top-K, dense")


def test_tab2_verdict_without_arc_top_k_in_one_cell_is_not_checkable():
    data = pd.DataFrame({"model": "MLP", "error feedback": "EF14", "method": ["dense", "Top-K"], "seed": 0,
                         "accuracy": 0.9, "dense_fallback_calls": 0.0})
    verdict = arc.verdict_tab2(data)
    assert (verdict.status, verdict.explanation) == (
        "not_checkable", "arctopk.tab2 for MLP, EF14 needs runs of ARC-Top-K; the runs have dense, Top-K")


def test_tab3_without_top_k_on_one_task_says_so(tmp_path):
    sweep = Sweep(tmp_path)
    for (method, task), finals in TAB3_FINALS.items():
        if (method, task) != ("Top-K", "order"):
            sweep.add(method, 0, curve(10, accuracy=finals[0], f1=0.5, mcc=0.0), **{"workload.task": {"rule": task}})
    assert _raises(arc.draw_tab3, ctx({arc.TAB3: sweep})) == (
        "arctopk.tab3 on task order needs runs of Top-K; the runs have ARC-Top-K, dense")


def test_tab4_without_dense_at_one_width_says_so(tmp_path):
    sweeps = {}
    for path, width in ((arc.TAB4_SMALL, 32), (arc.GPT_METHODS, 64)):
        sweep = Sweep(tmp_path / str(width), d_model=width)
        for method in ("dense", "Top-K", "ARC-Top-K"):
            if (width, method) != (64, "dense"):
                sweep.add(method, 0, curve(10, eval_loss=1.0))
        sweeps[path] = sweep
    assert _raises(arc.draw_tab4, ctx(sweeps)) == (
        "arctopk.tab4 at d_model 64 needs runs of dense; the runs have Top-K, ARC-Top-K")


def test_tab5_without_top_k_at_one_model_and_bandwidth_says_so():
    rows = [{"technique.name": name, "technique.params": {}, "workload.model": model,
             "network.intra_node.bandwidth_gbps": bandwidth, "step_time_ms": ms, "compute_ms": 1.0,
             "compression_ms": 2.0, "comm_ms": 3.0, "bytes_sent_per_worker": 4.0}
            for (model, bandwidth), times in TAB5_MS.items()
            for name, ms in zip(("none", "topk", "arc_topk"), times)
            if (model, bandwidth, name) != ("llama-60m", 48.0, "topk")]
    assert _raises(arc.draw_tab5, ctx({arc.TAB5: NS(metrics=pd.DataFrame(rows))})) == (
        "arctopk.tab5 for llama-60m, 48.0 needs runs of Top-K; the runs have dense, ARC-Top-K")


def test_tab5_without_runs_says_so():
    columns = ["technique.name", "technique.params", "workload.model", "network.intra_node.bandwidth_gbps",
               "step_time_ms", "compute_ms", "compression_ms", "comm_ms", "bytes_sent_per_worker"]
    assert _raises(arc.draw_tab5, ctx({arc.TAB5: NS(metrics=pd.DataFrame(columns=columns))})) == (
        "arctopk.tab5 needs runs of dense, Top-K, ARC-Top-K; the runs have none")
