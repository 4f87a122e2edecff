"""Figures of `misa` drawn from run sets that lack an arm: each now fails with one line naming the figure's need and
the methods its runs have, or draws what it has while its verdict is not checkable for that reason:

- fig1 without full fine-tuning runs, fig2 without LoRA, fig3 without BAdam;
- the ablations without the default variant or without layer granularity: drawn, verdict not checkable;
- tab_memory without MISA: drawn, verdict not checkable; tab_commonsense without full fine-tuning, tab_math and
  tab_pretrain without MISA.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from plots.papers import misa
from tests.plots.test_misa_builders_mutation_gaps import (
    _ablation_sweep,
    _accuracy_sweep,
    _curve,
    _fig2_metrics,
    _memory_metrics,
    ctx_of,
    fake_run,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _message(draw, context) -> str:
    with pytest.raises(ValueError) as err:
        draw(context)
    return str(err.value)


def _runs_without(sweep: NS, method: str) -> NS:
    keep = [run for run in sweep.runs
            if f'"name": "{method}"' not in (Path(run.run_dir) / "run.json").read_text()]
    return NS(runs=keep)


def test_fig1_without_full_fine_tuning_says_so(tmp_path):
    runs = [fake_run(tmp_path, f"{m}", _curve(1.0), method=m, seed=0) for m in ("misa", "lora")]
    assert _message(misa.draw_fig1, ctx_of(NS(runs=runs))) == (
        "misa.fig1 needs runs of adamw; the runs have misa, lora")


def test_fig1_verdict_without_gradient_norms_is_not_checkable():
    data = pd.DataFrame(columns=["seed", "layer", "module", "numel", "grad_norm"])
    assert misa.verdict_fig1(data).status == "not_checkable"


def test_fig2_without_lora_says_so():
    metrics = _fig2_metrics()
    metrics = metrics[metrics["method"] != "lora"]
    assert _message(misa.draw_fig2, ctx_of(NS(metrics=metrics))) == (
        "misa.fig2 needs runs of LoRA; the runs have full FT (AdamW), LISA, BAdam, MISA δ=1%, MISA δ=3%, MISA δ=10%")


def test_fig3_without_badam_says_so(tmp_path):
    runs = [fake_run(tmp_path, f"{m}{s}", _curve(1.0), method=m, seed=s, lr=0.003)
            for m in ("adamw", "misa", "lisa") for s in (0, 1)]
    assert _message(misa.draw_fig3, ctx_of(NS(runs=runs))) == (
        "misa.fig3 needs runs of badam; the runs have adamw, misa, lisa")


def _ablation_without(root: Path, variant: str) -> NS:
    sweep = _ablation_sweep(root)
    keep = [misa._variant(pd.Series(run.values)) != variant for run in sweep.runs]
    return ctx_of(NS(runs=[run for run, k in zip(sweep.runs, keep, strict=True) if k]))


def test_ablation_without_the_default_is_drawn_and_not_checkable(tmp_path):
    out = misa.draw_tab_ablation(_ablation_without(tmp_path, "default (η=1, δ=3%, T=50)"))
    assert list(out.table["variant"]) == ["uniform sampling", "layer granularity"]
    assert (out.verdict.status, out.verdict.explanation) == (
        "not_checkable", "misa's ablation verdict needs one default run, found none; the runs have layer "
        "granularity, uniform sampling")


def test_ablation_without_layer_granularity_is_drawn_and_not_checkable(tmp_path):
    out = misa.draw_fig_ablation(_ablation_without(tmp_path, "layer granularity"))
    assert out.verdict.explanation == ("misa's ablation verdict needs runs of layer granularity; the runs have "
                                       "default (η=1, δ=3%, T=50), uniform sampling")


def test_tab_memory_without_misa_is_drawn_and_not_checkable():
    metrics = _memory_metrics()
    out = misa.draw_tab_memory(ctx_of(NS(metrics=metrics[metrics["method"] != "misa"])))
    assert list(out.data["method"]) == ["adamw", "lora", "lisa", "badam"]
    assert (out.verdict.status, out.verdict.explanation) == (
        "not_checkable", "misa.tab_memory's verdict needs runs of misa; the runs have adamw, lora, lisa, badam")


def test_tab_commonsense_without_full_fine_tuning_says_so(tmp_path):
    sweep = _accuracy_sweep(tmp_path)
    for run in sweep.runs:
        frame = run.read_metrics().assign(acc_category=0.5, acc_larger=0.5, acc_even=0.5, acc_next=0.5)
        run.read_metrics = frame.copy
    assert _message(misa.draw_tab_commonsense, ctx_of(_runs_without(sweep, "adamw"))) == (
        "misa.tab_commonsense needs runs of adamw; the runs have dora, misa, badam")


def test_tab_math_without_misa_says_so(tmp_path):
    assert _message(misa.draw_tab_math, ctx_of(_runs_without(_accuracy_sweep(tmp_path), "misa"))) == (
        "misa.tab_math needs runs of misa; the runs have dora, adamw, badam")


def test_tab_pretrain_without_galore_says_so(tmp_path):
    frame = pd.DataFrame({"step": [100], "eval_loss": [1.0], "perplexity": [2.7]})
    runs = [fake_run(tmp_path, m, frame, method=m, seed=0, info={"peak_optimizer_state_bytes": 1024})
            for m in ("adamw", "misa")]
    assert _message(misa.draw_tab_pretrain, ctx_of(NS(runs=runs))) == (
        "misa.tab_pretrain needs runs of galore; the runs have adamw, misa")
