"""Figures of `mecefo` drawn from run sets that lack an arm: each now fails with one line naming the figure's need
and what its runs have, and its verdict is not checkable for that reason:

- tab1 / tab2 / tab3 / tab4 with two failure intervals (labelled by rank, the shorter one was called "low" and
  compared with the paper's low-frequency numbers), tab1 without failure-free runs;
- tab2 without Oobleck at one model; tab7 without runs on any GPU; tab8 without MeCeFO at one scenario; tab6
  without runs;
- fig3 without no-skip training; fig5 without its width; tab3 and tab4 without failure-free training; tab6 without
  one ablation row; tab10 without failure-free training or with an interval Table 3 does not use.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from plots.papers import mecefo as m
from plots.registry import FIGURES
from tests.plots.test_mecefo_builders_mutation_gaps import (
    HORIZON_400,
    INTERVAL,
    MTBF,
    REPAIR,
    _error_metrics,
    _fig3_sweep,
    _moe_sweep,
    _probe_sweep,
    _robust_metrics,
    _tab1_metrics,
    _tab2_sweep,
    _tab3_sweep,
    _tab6_sweep,
    ctx_of,
    sim_sweep,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _message(draw, sweep) -> str:
    with pytest.raises(ValueError) as err:
        draw(ctx_of(sweep))
    return str(err.value)


def _points_where(sweep: NS, keep) -> NS:
    pairs = [(p, r) for p, r in zip(sweep.points, sweep.runs, strict=True) if keep(p)]
    return NS(metrics=getattr(sweep, "metrics", None), points=[p for p, _ in pairs], runs=[r for _, r in pairs])


# -------------------------------------------------------------------------------------------- failure intervals
def test_tab1_with_two_failure_intervals_says_so():
    metrics = _tab1_metrics()
    metrics = metrics[metrics[MTBF] != 2.0]
    assert _message(m.draw_tab1, sim_sweep(metrics, HORIZON_400)) == (
        "mecefo.tab1 needs 3 failure intervals (low, medium, high frequency); the runs have 2 (1, 0.5)")


def test_tab1_without_failure_free_runs_says_so():
    metrics = _tab1_metrics()
    metrics = metrics[metrics["policy"] != "failure_free"]
    assert _message(m.draw_tab1, sim_sweep(metrics, HORIZON_400)) == (
        "mecefo.tab1 needs runs of failure_free; the runs have mecefo")


def test_tab2_with_one_failure_interval_says_so():
    sweep = _tab2_sweep()
    sweep.metrics = sweep.metrics[sweep.metrics[MTBF] == 0.5]
    assert _message(m.draw_tab2, sweep) == (
        "mecefo.tab2 needs 3 failure intervals (low, medium, high frequency); the runs have 1 (0.5)")


def test_tab3_with_two_failure_intervals_says_so():
    sweep = _points_where(_tab3_sweep(), lambda p: p.scenario.workload.failures.interval_steps != 16.0)
    sweep.metrics = _tab3_sweep().metrics[_tab3_sweep().metrics[INTERVAL] != 16.0]
    assert _message(m.draw_tab3, sweep) == (
        "mecefo.tab3 needs 3 failure intervals (low, medium, high frequency); the runs have 2 (32, 8)")


def test_tab4_with_two_failure_intervals_says_so():
    sweep = _points_where(_probe_sweep(), lambda p: p.scenario.workload.failures.interval_steps != 32.0)
    assert _message(FIGURES.get("mecefo.tab4").draw, sweep) == (
        "mecefo.tab4 needs 3 failure intervals (low, medium, high frequency); the runs have 2 (16, 8)")


# ---------------------------------------------------------------------------------------------- simulated tables
def test_tab2_without_oobleck_at_one_model_says_so():
    sweep = _tab2_sweep()
    metrics = sweep.metrics
    sweep.metrics = metrics[~((metrics["workload.model"] == "llama-1b") & (metrics["policy"] == "oobleck"))]
    assert _message(m.draw_tab2, sweep) == (
        "mecefo.tab2 for llama-1b needs runs of oobleck; the runs have checkpoint_restart, bamboo, mecefo")


def test_tab2_verdict_without_a_model_is_not_checkable():
    data = pd.DataFrame({"model": ["llama-7b"], "policy": ["mecefo"], "frequency": ["high"], "drop_pct": [4.0]})
    verdict = m.verdict_tab2(data)
    assert (verdict.status, verdict.explanation) == (
        "not_checkable", "mecefo.tab2 needs runs of llama-350m, llama-1b; the runs have llama-7b")


def test_tab8_without_mecefo_at_one_scenario_says_so():
    metrics = _robust_metrics({MTBF: [0.5, 0.25], REPAIR: [2.0, 1.0]}, [4.0, 4.5])
    metrics = metrics[~((metrics[MTBF] == 0.25) & (metrics["policy"] == "mecefo"))]
    assert _message(m.draw_tab8, sim_sweep(metrics)) == (
        "mecefo.tab8 at a failure every 0.25 h needs runs of mecefo; the runs have failure_free, checkpoint_restart, "
        "bamboo, oobleck")


def test_tab7_without_failures_on_any_gpu_says_so():
    metrics = _robust_metrics({"failures.failing_fraction": [0.25, 0.5]}, [5.0, 4.5])
    assert _message(m.draw_tab7, sim_sweep(metrics)) == (
        "mecefo.tab7 needs runs at failures on any GPU; the runs have on a fixed 25% of GPUs, on a fixed 50% of GPUs")


def test_tab7_verdict_without_a_baseline_is_not_checkable():
    data = pd.DataFrame({"failing_fraction": [1.0, 0.25], "policy": ["mecefo", "mecefo"], "drop_pct": [4.0, 5.0]})
    assert m.verdict_tab7(data).explanation == (
        "mecefo.tab7 needs runs of checkpoint_restart, bamboo, oobleck; the runs have mecefo")


# ---------------------------------------------------------------------------------------------- training runs
def test_fig3_without_no_skip_training_says_so():
    sweep = _points_where(_fig3_sweep(), lambda p: not (
        p.scenario.workload.everywhere == "none" and not p.scenario.workload.failures.outages
        and p.scenario.workload.failures.interval_steps is None))
    assert _message(m.draw_fig3, sweep) == (
        "mecefo.fig3 needs runs of no skip; the runs have skip-MHA (every rank skips), skip-FFN (every rank skips), "
        "skip-MHA (only the neighbour skips), skip-FFN (only the neighbour skips)")


def test_fig5_without_its_width_says_so():
    metrics = _error_metrics()
    metrics = metrics[metrics["workload.model.d_model"] != 32]
    assert _message(FIGURES.get("mecefo.fig5").draw, NS(metrics=metrics)) == (
        "the stand-in for LLaMA-350M needs runs of d_model 32; the runs have d_model 48, d_model 64, d_model 99")


@pytest.mark.parametrize(("make_sweep", "draw", "message"), [
    (_tab3_sweep, m.draw_tab3, "mecefo.tab3 needs runs of no failure; the runs have high, low, medium"),
    (_moe_sweep, m.draw_tab10, "mecefo.tab10 needs runs of no failure; the runs have high"),
])
def test_training_tables_without_failure_free_training_say_so(make_sweep, draw, message):
    sweep = _points_where(make_sweep(), lambda p: p.scenario.workload.failures.interval_steps is not None)
    metrics = make_sweep().metrics
    sweep.metrics = metrics[metrics[INTERVAL].notna()]
    assert _message(draw, sweep) == message


def test_tab4_without_failure_free_training_says_so():
    sweep = _points_where(_probe_sweep(), lambda p: p.scenario.workload.failures.interval_steps is not None)
    assert _message(FIGURES.get("mecefo.tab4").draw, sweep) == (
        "mecefo.tab4 needs runs of no failure; the runs have high, low, medium")


def test_tab6_without_one_ablation_row_says_so():
    sweep = _points_where(_tab6_sweep(), lambda p: not (p.scenario.workload.techniques.recompute_ffn
                                                        and not p.scenario.workload.techniques.low_rank))
    assert _message(m.draw_tab6, sweep) == (
        "mecefo.tab6 needs runs of +I+II; the runs have failure-free rank, naive NDB, +I, +I+II+III")


def test_tab10_with_an_interval_table_3_does_not_use_says_so():
    sweep = _moe_sweep()
    sweep.metrics = sweep.metrics.assign(**{INTERVAL: sweep.metrics[INTERVAL].replace(8.0, 12.0)})
    assert _message(m.draw_tab10, sweep) == (
        "mecefo.tab10 knows failure intervals of 32, 16, 8 steps (Table 3's); the runs have 12")


def test_tab6_without_runs_says_so():
    assert _message(m.draw_tab6, NS(points=[], runs=[])) == (
        "mecefo.tab6 needs runs of naive NDB, +I, +I+II, +I+II+III; the runs have none")
