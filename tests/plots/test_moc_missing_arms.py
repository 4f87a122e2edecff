"""Figures of `moc` drawn from run sets that lack an arm: each now fails with one line naming the figure's need and
the arms its runs have, and its verdict is not checkable for that reason:

- fig_memory without MoC in a measured block; fig_decode without its attention half;
- fig_loss without MoC K=d_ff/4, tab_ppl without dense at one size, tab_ablation_k without random channels;
- tab_throughput without a MoC variant draws its table, its verdict saying what it lacks;
- the training figures without any run.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import pandas as pd
import pytest

from plots.papers import moc
from tests.plots.test_moc_builders_mutation_gaps import _draw, _sweep


def _without(arm: str, d_model: int = 64) -> NS:
    sweep = _sweep()
    keep = [not (r.info["d_model"] == d_model and moc.arm_label(r.info["ffn"], r.info["selection"],
                                                                r.info["k_fraction"]) == arm) for r in sweep.runs]
    return NS(runs=[r for r, k in zip(sweep.runs, keep, strict=True) if k], metrics=sweep.metrics)


def _message(draw, **ctx) -> str:
    with pytest.raises(ValueError) as err:
        _draw(draw, **ctx)
    return str(err.value)


def test_fig_memory_without_moc_in_a_measured_block_says_so():
    curves = pd.DataFrame([{"ffn": ffn, "checkpointing": "none", "micro_batch": 1, "activation_bytes": 1.0,
                            "peak_gib": 1.0, "max_micro_batch": 8, "capacity_gib": 80.0} for ffn in ("dense", "moc")])
    measured = pd.DataFrame([("llama-1b", "dense", "none", 1000.0), ("llama-1b", "moc", "none", 600.0),
                             ("llama-7b", "dense", "none", 2000.0)],
                            columns=["model", "ffn", "checkpointing", "measured_block_bytes_per_token"])
    measured["analytic_block_bytes_per_token"] = measured["measured_block_bytes_per_token"]
    assert _message(moc.draw_fig_memory, run=lambda path: NS(metrics=curves), read_csv=lambda path: measured) == (
        "moc.fig_memory's measured llama-7b block without checkpointing needs runs of moc; the runs have dense")


def test_fig_memory_verdict_without_dense_curves_is_not_checkable():
    data = pd.DataFrame({"panel": "modelled LLaMA-1B", "ffn": ["moc"], "checkpointing": "none", "model": None})
    verdict = moc.verdict_fig_memory(data)
    assert (verdict.status, verdict.explanation) == (
        "not_checkable", "moc.fig_memory's modelled curves without checkpointing needs runs of dense; the runs have "
        "moc")


def test_fig_loss_without_the_quarter_arm_says_so():
    assert _message(moc.draw_fig_loss, run=lambda path: _without("MoC K=d_ff/4")) == (
        "moc.fig_loss at d_model 64 needs runs of MoC K=d_ff/4; the runs have dense, MoC K=d_ff/8")


def test_tab_ppl_without_dense_at_one_size_says_so():
    assert _message(moc.draw_tab_ppl, run=lambda path: _without("dense", d_model=32)) == (
        "moc.tab_ppl at d_model 32, 2 blocks needs runs of dense; the runs have MoC K=d_ff/8")


def test_tab_ppl_verdict_without_runs_is_not_checkable():
    data = pd.DataFrame(columns=["size", "d_model", "arm", "seed", "final_eval_loss"])
    assert moc.verdict_tab_ppl(data).explanation == (
        "moc.tab_ppl needs runs of dense, MoC K=d_ff/8; the runs have none")


def test_tab_ablation_k_without_random_channels_says_so():
    assert _message(moc.draw_tab_ablation_k, run=lambda path: _without("random channels K=d_ff/8")) == (
        "moc.tab_ablation_k at d_model 64 needs runs of random channels K=d_ff/8; the runs have |up| score "
        "K=d_ff/8, MoC K=d_ff/8, MoC K=d_ff/4, dense")


def test_tab_ablation_k_without_dense_says_so():
    assert _message(moc.draw_tab_ablation_k, run=lambda path: _without("dense")) == (
        "moc.tab_ablation_k at d_model 64 needs runs of dense; the runs have |up| score K=d_ff/8, MoC K=d_ff/8, "
        "MoC K=d_ff/4, random channels K=d_ff/8")


def test_tab_throughput_without_moc_draws_the_table_and_its_verdict_says_what_it_lacks():
    metrics = pd.DataFrame([{"workload.model.d_model": 16, "workload.model.n_layers": 1, "seed": seed,
                             "variant": variant, "k": 3, "time_ms_median": 1.0, "tokens_per_s": 1000.0,
                             "relative_throughput": 1.0, "saved_bytes_per_token": 10.0, "peak_bytes_per_token": 20.0}
                            for variant in ("dense", "dense+ckpt") for seed in (0, 1)])
    output = _draw(moc.draw_tab_throughput, run=lambda path: NS(metrics=metrics))
    assert list(output.table["variant"]) == ["dense", "dense+ckpt"]
    assert (output.verdict.status, output.verdict.explanation) == (
        "not_checkable", "moc.tab_throughput's verdict at d_model 16 needs runs of moc; the runs have dense, "
        "dense+ckpt")


def _decode(parts: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"part": part, "impl": impl, "k": 8, "k_fraction": 0.125, "time_ms_median": 1.0,
                          "time_ms_p10": 0.9, "time_ms_p90": 1.1, "n_reps": 5, "bytes_ratio": 0.4,
                          "ffn_speedup": 1.5, "block_speedup": 1.2} for part, impl in parts])


def test_fig_decode_without_the_attention_half_says_so():
    metrics = _decode([("ffn", "dense"), ("ffn", "moc")])
    assert _message(moc.draw_fig_decode, run=lambda path: NS(metrics=metrics)) == (
        "moc.fig_decode needs runs of attention; the runs have dense FFN, moc FFN")


def test_fig_decode_verdict_without_moc_is_not_checkable():
    verdict = moc.verdict_fig_decode(_decode([("ffn", "dense"), ("attention", "dense")]))
    assert (verdict.status, verdict.explanation) == (
        "not_checkable", "moc.fig_decode needs runs of moc FFN; the runs have dense FFN, attention")


def test_training_figures_without_runs_say_so():
    assert _message(moc.draw_tab_ppl, run=lambda path: NS(runs=[], metrics=pd.DataFrame())) == (
        "moc's training figures need training runs; the sweep has none")
